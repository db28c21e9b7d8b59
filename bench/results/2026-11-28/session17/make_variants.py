# Session 17: timing-only variants of moe_ffn (wrong results on purpose), each a copy of include/ with moe.hpp edited.
import os, shutil, sys
root = '/work/main'
edits = {
 'noprep': [("    prepare_sorted_rows(backend, xa, g, xg, [&](std::int64_t pair) { return x + (pair / top_k) * ldx; }, where, ex);",
             "    // (timing variant) no x preparation")],
 'nopost': [("                for (std::int64_t cb = tk.cb0; cb < tk.cb1; ++cb)\n                    prepare_block(backend, ha, gb + gl, cb, j, h + (cb - tk.cb0) * 32);",
             "                // (timing variant) h not prepared")],
 'nosum': [("    if (summed) return;", "    if (summed || true) return;  // (timing variant) no slot sum")],
 'nogu': [("        const float* hv = gate_up_act_tile(backend, src, e, a, blocked, kc, tk, opt.activation == ffn_activation::gelu_tanh);",
           "        const float* hv = reinterpret_cast<float*>(moe_scratch(2, std::size_t((tk.g1 - tk.g0) * kernel_rows * ldo) * sizeof(float)));  // (timing variant)")],
 'nodown': [("        moe_expert_tile(backend, down.expert(e), a, moe_blocked_path(backend, count), kc, tk.g0, tk.g1, tk.cb0, tk.cb1,\n                        strided_rows{out, k});",
             "        (void)out; (void)a;  // (timing variant) no down products")],
}
for name, reps in edits.items():
    d = f'{root}/.probe/s17/v_{name}'
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(f'{root}/include', f'{d}/include')
    p = f'{d}/include/amxmm/gemm/moe.hpp'
    s = open(p).read()
    for a, b in reps:
        assert s.count(a) == 1, (name, a)
        s = s.replace(a, b)
    open(p, 'w').write(s)
    print('made', d)
