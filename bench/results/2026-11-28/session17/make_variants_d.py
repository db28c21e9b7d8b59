# Session 17, run d: two correct variants of prepare_fast_tiles_avx512 (same bytes): ntall = non-temporal stores
# (and an sfence before returning), pfx = the rows' next-but-one block prefetched before each tile.
import shutil
root = '/work/main'
F = 'kernel/prepare_activations.hpp'
STORE = "            _mm512_storeu_si512(tile + j * block_k, reinterpret_cast<const __m512i&>(v));\n        }\n    }\n}"
edits = {
 'ntall': [(STORE, "            _mm512_stream_si512(reinterpret_cast<__m512i*>(tile + j * block_k), reinterpret_cast<const __m512i&>(v));\n        }\n    }\n    _mm_sfence();\n}")],
 'pfx': [("        bf16* tile = p.x + (g * p.blocks() + b) * (kernel_rows * block_k);\n        for (int j = 0; j < valid; ++j) {\n            const float* x = rows[j] + (b - b0) * block_k;",
          "        bf16* tile = p.x + (g * p.blocks() + b) * (kernel_rows * block_k);\n"
          "        if (b + 2 < b1)\n            for (int j = 0; j < valid; ++j) {\n                _mm_prefetch(reinterpret_cast<const char*>(rows[j] + (b + 2 - b0) * block_k), _MM_HINT_T0);\n"
          "                _mm_prefetch(reinterpret_cast<const char*>(rows[j] + (b + 2 - b0) * block_k + 16), _MM_HINT_T0);\n            }\n"
          "        for (int j = 0; j < valid; ++j) {\n            const float* x = rows[j] + (b - b0) * block_k;")],
}
for name, reps in edits.items():
    d = f'{root}/.probe/s17/v_{name}'
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(f'{root}/include', f'{d}/include')
    p = f'{d}/include/amxmm/{F}'
    s = open(p).read()
    for a, b in reps:
        assert s.count(a) == 1, (name, a)
        s = s.replace(a, b)
    open(p, 'w').write(s)
    print('made', d)
