# Inserts phase timers into a copy of include/amxmm/gemm/moe.hpp (timing probe only, never committed).
import sys
p = sys.argv[1] + '/amxmm/gemm/moe.hpp'
s = open(p).read()
hdr = '''#include <chrono>
inline double amxmm_ph_acc[8];
inline long amxmm_ph_calls;
inline std::chrono::steady_clock::time_point amxmm_ph_last;
#include <atomic>
inline std::atomic<long long> amxmm_busy_ns[8], amxmm_first_ns[8], amxmm_last_ns[8];
inline long long amxmm_now_ns() { return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
inline long long amxmm_phase_start_ns[8];
inline std::atomic<long long> amxmm_phase_id{0};
inline std::atomic<long long> amxmm_thr_first_sum[8], amxmm_thr_first_max[8], amxmm_thr_count[8];
inline std::atomic<long long> amxmm_cur_start_ns{0};
struct amxmm_busy_timer {
    int i; long long t0;
    explicit amxmm_busy_timer(int i_) : i(i_), t0(amxmm_now_ns()) {
        thread_local long long seen = -1;
        if (seen != amxmm_phase_id.load()) {
            seen = amxmm_phase_id.load();
            long long off = t0 - amxmm_cur_start_ns.load();
            amxmm_thr_first_sum[i] += off; amxmm_thr_count[i] += 1;
            long long mx = amxmm_thr_first_max[i].load();
            while (off > mx && !amxmm_thr_first_max[i].compare_exchange_weak(mx, off)) {}
        }
        long long f = amxmm_first_ns[i].load();
        while (t0 < f && !amxmm_first_ns[i].compare_exchange_weak(f, t0)) {}
    }
    ~amxmm_busy_timer() {
        long long t1 = amxmm_now_ns(); amxmm_busy_ns[i] += t1 - t0;
        long long l = amxmm_last_ns[i].load();
        while (t1 > l && !amxmm_last_ns[i].compare_exchange_weak(l, t1)) {}
    }
};
inline double amxmm_fork_acc[8], amxmm_join_acc[8];
inline void amxmm_ph_mark(int i) {
    auto n = std::chrono::steady_clock::now();
    if (i >= 0) {
        amxmm_ph_acc[i] += std::chrono::duration<double>(n - amxmm_ph_last).count();
        long long st = std::chrono::duration_cast<std::chrono::nanoseconds>(amxmm_ph_last.time_since_epoch()).count();
        long long en = std::chrono::duration_cast<std::chrono::nanoseconds>(n.time_since_epoch()).count();
        if (amxmm_last_ns[i].load() > 0) { amxmm_fork_acc[i] += (amxmm_first_ns[i].load() - st) * 1e-9; amxmm_join_acc[i] += (en - amxmm_last_ns[i].load()) * 1e-9; }
        amxmm_first_ns[i] = (1LL << 62); amxmm_last_ns[i] = 0;
    }
    else ++amxmm_ph_calls;
    ++amxmm_phase_id;
    amxmm_cur_start_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(n.time_since_epoch()).count();
    amxmm_ph_last = n;
}
'''
def rep(old, new):
    global s
    assert old in s, old
    s = s.replace(old, new, 1)
rep('#include "dense_gemm.hpp"', '#include "dense_gemm.hpp"\n' + hdr)
rep('''    constexpr const char* fn = "moe_ffn";
    const std::int64_t k = down.layout.n, f = down.layout.k;''', '''    constexpr const char* fn = "moe_ffn";
    amxmm_ph_mark(-1);
    const std::int64_t k = down.layout.n, f = down.layout.k;''')
rep('''    moe_groups g;
    group_by_expert(routing, e_count, true, g, ex);''', '''    moe_groups g;
    amxmm_ph_mark(0);
    group_by_expert(routing, e_count, true, g, ex);
    amxmm_ph_mark(1);''')
idx = s.index('    // 2. gate and up')
kcidx = s.rindex('    const std::int64_t kc = choose_amx_blocking(1, 1, opt).kc;', 0, idx)
s = s[:kcidx] + '    amxmm_ph_mark(2);\n' + s[kcidx:]
if 'auto gate_up_task = [&](const moe_task& tk) {' in s:
    rep('auto gate_up_task = [&](const moe_task& tk) {', 'auto gate_up_task = [&](const moe_task& tk) {\n        amxmm_busy_timer bt_(3);')
    rep('auto down_task = [&](const moe_task& tk) {', 'auto down_task = [&](const moe_task& tk) {\n        amxmm_busy_timer bt_(4);')
else:
  rep('''        const moe_task& tk = tasks[std::size_t(i)];
        const std::int64_t e = tk.expert, count = g.rows(e), gb = g.group_begin[std::size_t(e)];''', '''        amxmm_busy_timer bt_(3);
        const moe_task& tk = tasks[std::size_t(i)];
        const std::int64_t e = tk.expert, count = g.rows(e), gb = g.group_begin[std::size_t(e)];''')
  rep('''        const moe_task& tk = tasks[std::size_t(i)];
        const std::int64_t e = tk.expert, count = g.rows(e);
        const Prepared a = prepared_slice(ha''', '''        amxmm_busy_timer bt_(4);
        const moe_task& tk = tasks[std::size_t(i)];
        const std::int64_t e = tk.expert, count = g.rows(e);
        const Prepared a = prepared_slice(ha''')
rep('    // 3. down:', '    amxmm_ph_mark(3);\n    // 3. down:')
rep('    // 4. y[t]', '    amxmm_ph_mark(4);\n    // 4. y[t]')
rep('''                                  weights ? weights[t * ld_weights + s] : 1.0f, s == 0, cols);
    });
''', '''                                  weights ? weights[t * ld_weights + s] : 1.0f, s == 0, cols);
    });
    amxmm_ph_mark(5);
''')
open(p, 'w').write(s)
