# Session 17, run c: timing-only variants that prepare only on a call's first occurrence of its m (the same
# routing and x every round, so the prepared operand stays right and checksums must equal the base's). The
# variants of runs a/b skipped the preparation outright, so the kernels read never-written workspace (the
# kernel's shared zero page: every A tile load a cache hit) and overstated the preparation's share.
import shutil
root = '/work/main'
X = ("    prepare_sorted_rows(backend, xa, g, xg, [&](std::int64_t pair) { return x + (pair / top_k) * ldx; }, where, ex);",
     "    static std::int64_t x_done = -1;  // (timing variant) x prepared on the first call of each m only\n"
     "    if (x_done != r.m) prepare_sorted_rows(backend, xa, g, xg, [&](std::int64_t pair) { return x + (pair / top_k) * ldx; }, where, ex);\n"
     "    x_done = r.m;")
H1 = ("    const std::int64_t kc = choose_amx_blocking(1, 1, opt).kc;\n\n    // 2. gate and up",
      "    const std::int64_t kc = choose_amx_blocking(1, 1, opt).kc;\n    static std::int64_t h_done = -1;  // (timing variant)\n    const bool h_skip = h_done == r.m;\n    h_done = r.m;\n\n    // 2. gate and up")
H2 = ("                prepare_fast_tiles(backend, ha, gb + gl, rows, valid, tk.cb0, tk.cb1);",
      "                if (!h_skip) prepare_fast_tiles(backend, ha, gb + gl, rows, valid, tk.cb0, tk.cb1);")
G1 = ("        const sorted_rows_tasks prep = plan_sorted_rows(xg, all.blocks());\n        const std::int64_t n_prep = prep.count();",
      "        const sorted_rows_tasks prep = plan_sorted_rows(xg, all.blocks());\n        const std::int64_t n_prep = prep.count();\n"
      "        static std::int64_t mg_done = -1;  // (timing variant)\n        const bool mg_skip = mg_done == r.m;\n        mg_done = r.m;")
G2 = ("            if (i < n_prep) {\n                prepare_sorted_task(backend, all, g, xg, prep, x_row, where, i);",
      "            if (i < n_prep) {\n                if (!mg_skip) prepare_sorted_task(backend, all, g, xg, prep, x_row, where, i);")
edits = {'xonce': [X, G1, G2], 'honce': [H1, H2]}
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
