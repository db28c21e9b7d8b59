# Session 17, run h: correct variants of exact_columns (same bits): storezero = each C tile stored and zeroed
# in the products' order (c01, c00, c11, c10) at the end of a block, instead of zeroing all four at the start
# of the next; eighths = the rescale in 8 parts of 4 rows, after each product and after each operand load.
import shutil
root = '/work/main'
F = 'kernel/amx_tile_kernel.inl'
SZ = [("        load_block_operands(operands(g, kb0));\n        for (std::int64_t b = kb0; b < kb1; ++b) {\n            zero_c_tiles();\n            const block_operands next = operands(g, b + 1);\n            // Block b-1's",
       "        load_block_operands(operands(g, kb0));\n        zero_c_tiles();\n        for (std::int64_t b = kb0; b < kb1; ++b) {\n            const block_operands next = operands(g, b + 1);\n            // Block b-1's"),
      ("            block_products<true>(b + 1 < kb1 ? &next : nullptr, previous);\n            store_c_tiles(s.ci_stage[b & 1]);\n",
       "            block_products<true>(b + 1 < kb1 ? &next : nullptr, previous);\n"
       "            std::int32_t* st = s.ci_stage[b & 1];\n"
       "            tiles::template store<c01>(st + 16, 128); tiles::template zero<c01>();\n"
       "            tiles::template store<c00>(st, 128); tiles::template zero<c00>();\n"
       "            tiles::template store<c11>(st + 16 * kernel_rows + 16, 128); tiles::template zero<c11>();\n"
       "            tiles::template store<c10>(st + 16 * kernel_rows, 128); tiles::template zero<c10>();\n")]
edits = {'storezero': SZ}
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
