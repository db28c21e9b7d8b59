# Session 17, run b: timing-only variants on the tree with block-major preparation, and a correct row-major
# ordering of the same tight loop (rowprep).
import shutil
root = '/work/main'
edits = {
 'noprep2': [("    prepare_sorted_rows(backend, xa, g, xg, [&](std::int64_t pair) { return x + (pair / top_k) * ldx; }, where, ex);",
              "    // (timing variant) no x preparation", 'gemm/moe.hpp')],
 'nopost2': [("                prepare_fast_tiles(backend, ha, gb + gl, rows, valid, tk.cb0, tk.cb1);",
              "                (void)rows;  // (timing variant) h not prepared", 'gemm/moe.hpp')],
 'rowprep': [("""    for (std::int64_t b = b0; b < b1; ++b) {
        bf16* tile = p.x + (g * p.blocks() + b) * (kernel_rows * block_k);
        for (int j = 0; j < valid; ++j) {
            const float* x = rows[j] + (b - b0) * block_k;""", """    for (int j = 0; j < valid; ++j) {
        for (std::int64_t b = b0; b < b1; ++b) {
            bf16* tile = p.x + (g * p.blocks() + b) * (kernel_rows * block_k);
            const float* x = rows[j] + (b - b0) * block_k;""", 'kernel/prepare_activations.hpp')],
}
for name, reps in edits.items():
    d = f'{root}/.probe/s17/v_{name}'
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(f'{root}/include', f'{d}/include')
    for a, b, f in reps:
        p = f'{d}/include/amxmm/{f}'
        s = open(p).read()
        assert s.count(a) == 1, (name, a)
        open(p, 'w').write(s.replace(a, b))
    print('made', d)
