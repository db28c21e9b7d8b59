// bench/ab (README.md there): one copy of amxmm (include path chosen at compile time) behind plain
// extern "C" functions; compiled twice into one program, the base headers with a renamed ABI namespace.
#include <amxmm/amxmm.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>
#ifndef AB_NAME
#error AB_NAME
#endif
#define AB_CAT2(a, b) a##b
#define AB_CAT(a, b) AB_CAT2(a, b)
using namespace amxmm;
namespace {
tbb_executor& ex() { static tbb_executor e; return e; }
std::vector<block_q4_0> random_blocks(long n, long k, unsigned seed) {
    std::vector<block_q4_0> b(n * k / 32);
    std::mt19937_64 g(seed);
    std::uniform_real_distribution<float> s(0.001f, 0.01f);
    for (auto& x : b) { x.d = fp32_to_fp16(s(g)); for (auto& q : x.qs) q = std::uint8_t(g()); }
    return b;
}
struct moe_data {
    long m, E = 128, top = 8, K = 2048, F = 768;
    packed_q4_0_vnni_gate_up gu; packed_q4_0_vnni_experts dn, gate;
    std::vector<float> x, y, w, yg; std::vector<std::int32_t> ids;
    explicit moe_data(long m_) : m(m_) {
        auto g = random_blocks(E * F, K, 1), u = random_blocks(E * F, K, 2), d = random_blocks(E * K, F, 3);
        gu = pack_q4_0_vnni_gate_up(g.data(), u.data(), E, F, K, ex());
        gate = pack_q4_0_vnni_experts(g.data(), E, F, K, ex());
        dn = pack_q4_0_vnni_experts(d.data(), E, K, F, ex());
        std::mt19937_64 r(9);
        x.resize(m * K); for (auto& v : x) v = std::uniform_real_distribution<float>(-1, 1)(r);
        y.resize(m * K); yg.resize(m * top * F); w.resize(m * top, 0.125f);
        ids.resize(m * top);
        for (long t = 0; t < m; ++t) {  // distinct experts per token, uniform
            std::vector<int> p(E); for (int i = 0; i < E; ++i) p[i] = i;
            for (long s = 0; s < top; ++s) { std::swap(p[s], p[s + r() % (E - s)]); ids[t * top + s] = p[s]; }
        }
    }
};
struct dense_data {
    packed_q4_0_vnni p; std::vector<float> x, y; long m, k, n;
    dense_data(long m_, long k_, long n_) : m(m_), k(k_), n(n_) {
        auto b = random_blocks(n, k, 5);
        p = pack_q4_0_vnni({b.data(), n, k}, ex());
        x.resize(m * k); std::mt19937_64 r(3); for (auto& v : x) v = std::uniform_real_distribution<float>(-1, 1)(r);
        y.resize(m * n);
    }
};
/// `copies` packed copies of one weight: cycling through them makes each call's weights cold when
/// their total is several times the last-level cache (one copy: hot).
struct decode_data {
    std::vector<packed_q4_0_vnni> ring; std::vector<float> x, y;
    decode_data(long m, long k, long n, long copies) {
        auto b = random_blocks(n, k, 7);
        for (long i = 0; i < copies; ++i) ring.push_back(pack_q4_0_vnni({b.data(), n, k}, ex()));
        x.resize(m * k); std::mt19937_64 r(4); for (auto& v : x) v = std::uniform_real_distribution<float>(-1, 1)(r);
        y.resize(m * n);
    }
};
/// Three packed copies of the Qwen3 gate/up and down experts (1 GB): cold moe_ffn calls walk through them.
struct moe_cold_data {
    static constexpr long E = 128, top = 8, K = 2048, F = 768, copies = 3;
    std::vector<packed_q4_0_vnni_gate_up> gu; std::vector<packed_q4_0_vnni_experts> dn;
    std::vector<float> x, y, w; std::vector<std::int32_t> ids;
    explicit moe_cold_data(long m) {
        auto g = random_blocks(E * F, K, 1), u = random_blocks(E * F, K, 2), d = random_blocks(E * K, F, 3);
        for (long c = 0; c < copies; ++c) {
            gu.push_back(pack_q4_0_vnni_gate_up(g.data(), u.data(), E, F, K, ex()));
            dn.push_back(pack_q4_0_vnni_experts(d.data(), E, K, F, ex()));
        }
        std::mt19937_64 r(9);
        x.resize(m * K); for (auto& v : x) v = std::uniform_real_distribution<float>(-1, 1)(r);
        y.resize(m * K); w.resize(m * top, 0.125f); ids.resize(m * top);
    }
};
#define AB_STR2(x) #x
#define AB_STR(x) AB_STR2(x)
/// K chunk override for this copy: AB_KC_base / AB_KC_new (0: the library's default).
long kc_override() {
    static long kc = [] { const char* v = std::getenv("AB_KC_" AB_STR(AB_NAME)); return v ? std::atol(v) : 0L; }();
    return kc;
}
/// Compute mode override of this copy's moe_ffn / moe_gemm calls: AB_MODE_base / AB_MODE_new = fast or exact
/// (unset: automatic).
compute_mode mode_override() {
    static compute_mode m = [] {
        const char* v = std::getenv("AB_MODE_" AB_STR(AB_NAME));
        const std::string s = v ? v : "";
        return s == "fast" ? compute_mode::fast : s == "exact" ? compute_mode::exact : compute_mode::automatic;
    }();
    return m;
}
double secs(std::chrono::steady_clock::time_point t0) { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
}  // namespace

extern "C" double AB_CAT(AB_NAME, _moe_ffn)(long m, double* checksum) {
    static std::map<long, std::unique_ptr<moe_data>> cache;
    auto& d = cache[m]; if (!d) d = std::make_unique<moe_data>(m);
    moe_routing r{m, d->top, d->ids.data(), d->top};
    auto t0 = std::chrono::steady_clock::now();
    moe_ffn(d->gu.view(), d->dn.view(), r, d->w.data(), d->top, d->x.data(), d->K, d->y.data(), d->K, [] { moe_ffn_options o; o.kc_blocks = kc_override(); o.mode = mode_override(); return o; }(), ex());
    double t = secs(t0); double s = 0; for (float v : d->y) s += v; *checksum = s; return t;
}
/// moe_ffn with cold experts: call c's (token, slot) pairs take the next m·top_k experts of the three
/// copies in turn. The new copy starts half a cycle (192 experts) later than the base, so neither reads
/// what the other has just brought into the LLC; their checksums differ (other experts).
extern "C" double AB_CAT(AB_NAME, _moe_ffn_cold)(long m, double* checksum) {
    static std::map<long, std::unique_ptr<moe_cold_data>> cache;
    static long next = AB_STR(AB_NAME)[0] == 'n' ? moe_cold_data::copies * moe_cold_data::E / 2 : 0;  // in experts
    auto& d = cache[m]; if (!d) d = std::make_unique<moe_cold_data>(m);
    const long first = next;
    next += m * d->top;
    for (long i = 0; i < m * d->top; ++i) d->ids[i] = std::int32_t((first + i) % d->E);
    const long copy = (first / d->E) % d->copies;
    moe_routing r{m, d->top, d->ids.data(), d->top};
    auto t0 = std::chrono::steady_clock::now();
    moe_ffn(d->gu[copy].view(), d->dn[copy].view(), r, d->w.data(), d->top, d->x.data(), d->K, d->y.data(), d->K, moe_ffn_options{}, ex());
    double t = secs(t0); double s = 0; for (float v : d->y) s += v; *checksum = s; return t;
}
extern "C" double AB_CAT(AB_NAME, _moe_gemm)(long m, double* checksum) {
    static std::map<long, std::unique_ptr<moe_data>> cache;
    auto& d = cache[m]; if (!d) d = std::make_unique<moe_data>(m);
    moe_routing r{m, d->top, d->ids.data(), d->top};
    auto t0 = std::chrono::steady_clock::now();
    moe_gemm(d->gate.view(), r, d->x.data(), moe_input_rows::per_token, d->K, 0, d->yg.data(), d->top * d->F, d->F, [] { gemm_options o; o.kc_blocks = kc_override(); o.mode = mode_override(); return o; }(), ex());
    double t = secs(t0); double s = 0; for (float v : d->yg) s += v; *checksum = s; return t;
}
extern "C" double AB_CAT(AB_NAME, _gemm)(long m, long k, long n, double* checksum) {
    static std::map<long, std::unique_ptr<dense_data>> cache;
    auto& d = cache[(m << 40) | (k << 20) | n]; if (!d) d = std::make_unique<dense_data>(m, k, n);
    gemm_options o; o.mode = compute_mode::fast; o.kc_blocks = kc_override();
    auto t0 = std::chrono::steady_clock::now();
    gemm_q4_0(d->p.view(), m, d->x.data(), k, d->y.data(), n, o, ex());
    double t = secs(t0); double s = 0; for (float v : d->y) s += v; *checksum = s; return t;
}
/// Mean time of one exact gemm_q4_0 call with m rows over the copies (isa_code 0: the library's choice,
/// 1: avx512_vnni, 2: avx2).
extern "C" double AB_CAT(AB_NAME, _decode)(long m, long k, long n, long copies, int isa_code, double* checksum) {
    static std::map<std::string, std::unique_ptr<decode_data>> cache;
    auto& d = cache[std::to_string(m) + "/" + std::to_string(k) + "/" + std::to_string(n) + "/" + std::to_string(copies)];
    if (!d) d = std::make_unique<decode_data>(m, k, n, copies);
    gemm_options o; o.mode = compute_mode::exact;
    if (isa_code == 1) o.force_isa = isa::avx512_vnni;
    if (isa_code == 2) o.force_isa = isa::avx2;
    auto t0 = std::chrono::steady_clock::now();
    for (auto& w : d->ring) gemm_q4_0(w.view(), m, d->x.data(), k, d->y.data(), n, o, ex());
    double t = secs(t0) / double(copies); double s = 0; for (float v : d->y) s += v; *checksum = s; return t;
}
