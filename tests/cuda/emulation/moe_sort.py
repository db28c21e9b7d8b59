# Emulates moe_sort_kernel (rounds of 1024 pairs, per-warp match ranks, per-bucket scan over warps) and
# checks: stable grouping by expert, row_of inverse, tiles cover each expert's rows in bm chunks.
import random
def emulate(ids, m, top_k, E, bm):
    R = m * top_k; e1 = E + 1
    total = [0] * e1; rank = [None] * R
    bucket = lambda p: ids[p] if 0 <= ids[p] < E else E
    for r0 in range(0, R, 1024):
        wc = [[0] * e1 for _ in range(32)]
        lanes = {}
        for tid in range(1024):
            p = r0 + tid; valid = p < R
            lanes[tid] = (valid, bucket(p) if valid else -1)
        inw = {}
        for warp in range(32):
            for lane in range(32):
                tid = warp * 32 + lane; valid, e = lanes[tid]
                same = [l for l in range(32) if lanes[warp * 32 + l][1] == e]
                inw[tid] = sum(1 for l in same if l < lane)
                if valid and inw[tid] == 0: wc[warp][e] = len(same)
        for b in range(e1):
            run = total[b]
            for w in range(32):
                c = wc[w][b]; wc[w][b] = run; run += c
            total[b] = run
        for tid in range(1024):
            valid, e = lanes[tid]
            if valid: rank[r0 + tid] = wc[tid // 32][e] + inw[tid]
    # warp 0: lane l takes buckets [l·per, l·per + per), exclusive scans of rows and tiles over the lanes
    per = (e1 + 31) // 32
    runs = [(min(e1, l * per), min(e1, l * per + per)) for l in range(32)]
    rows_in = [sum(total[b] for b in range(b0, b1)) for (b0, b1) in runs]
    tiles_in = [sum((total[b] + bm - 1) // bm for b in range(b0, b1) if b < E) for (b0, b1) in runs]
    off = [None] * e1; tiles = [None] * (sum(tiles_in) + 1)
    for l, (b0, b1) in enumerate(runs):
        row_run = sum(rows_in[:l]); tile_run = sum(tiles_in[:l])
        for b in range(b0, b1):
            off[b] = row_run
            if b < E:
                for r in range(0, total[b], bm):
                    assert tiles[tile_run] is None
                    tiles[tile_run] = (b, row_run + r, row_run + min(r + bm, total[b])); tile_run += 1
            row_run += total[b]
        if l == 31: tile_count = tile_run
    tiles = tiles[:tile_count]
    assert None not in tiles
    sorted_pair = [None] * R; row_of = [None] * R
    for p in range(R):
        row = off[bucket(p)] + rank[p]; sorted_pair[row] = p; row_of[p] = row
    return sorted_pair, row_of, tiles
random.seed(3)
for (m, top_k, E, bm) in [(1, 8, 128, 32), (300, 4, 16, 32), (2048, 8, 128, 128), (700, 3, 5, 64), (16, 8, 128, 4), (9, 2, 300, 4)]:
    ids = [random.choice([0, 1, 1, 1, 2, random.randrange(E)]) if random.random() < 0.5 else random.randrange(E) for _ in range(m * top_k)]
    if m == 700: ids[5] = E; ids[77] = -1
    sp, ro, tiles = emulate(ids, m, top_k, E, bm)
    want = sorted(range(m * top_k), key=lambda p: (ids[p] if 0 <= ids[p] < E else E, p))
    assert sp == want, "not a stable sort"
    assert all(sp[ro[p]] == p for p in range(m * top_k))
    covered = [r for (e, a, b) in tiles for r in range(a, b)]
    nvalid = sum(1 for v in ids if 0 <= v < E)
    assert covered == list(range(nvalid)), "tiles do not cover the valid rows in order"
    assert all(all(ids[sp[r]] == e for r in range(a, b)) and b - a <= bm for (e, a, b) in tiles)
    max_tiles = max(1, (m * top_k + min(E, m * top_k) * (bm - 1)) // bm)  # detail::moe_max_tiles
    assert len(tiles) <= max_tiles
    print(f"m={m} top_k={top_k} E={E} bm={bm}: stable, {len(tiles)} tiles (bound {max_tiles})")
