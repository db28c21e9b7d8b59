# Emulates q4_0_gemv_kernel<M, G>'s work split (gemv_split, row sets dealt to persistent CTAs in rounds,
# lane groups, K split over warps, the two-buffer step order) in plain Python: every (row, block) of the weight must be read by
# exactly one lane, each row stored exactly once, every warp of a CTA must reach the same number of
# split-K barriers, and the loads must run one step ahead of the arithmetic.
def warps(m): return 12 if m == 1 else 8
def rows_per_warp(m): return 1 if m == 1 else 2
def unroll(m): return 4 if m == 1 else 2
TARGET = 4096

def split(m, n, k, pairs):
    U, RW, W = unroll(m), rows_per_warp(m), warps(m)
    nb = k // 32
    G = 1
    if m == 1: G = 4 if nb <= 8 * U else 2 if nb <= 16 * U else 1
    L = 32 // G
    nchunks = (nb + L * U - 1) // (L * U)
    sets = (n + G * RW - 1) // (G * RW) * pairs
    S = 1
    while W % (S * 2) == 0 and S * 2 <= nchunks and sets * S * 2 <= TARGET: S *= 2
    sets = (n + G * RW - 1) // (G * RW)
    slots = W // S
    return G, S, sets, (sets + slots - 1) // slots

def run(m, n, k, grid_x):
    G, S, sets, rounds = split(m, n, k, 1)
    assert 1 <= grid_x <= rounds <= sets
    U, RW, W = unroll(m), rows_per_warp(m), warps(m)
    L, nb = 32 // G, k // 32
    CB = L * U
    nchunks = (nb + CB - 1) // CB
    slots = W // S
    read, stored = {}, {}
    for cta in range(grid_x):
        barriers = set()
        my_sets = (sets - 1 - cta) // grid_x + 1
        my_rounds = (my_sets + slots - 1) // slots
        for warp in range(W):
            slot, kp = warp // S, warp % S
            my_chunks = (nchunks - kp + S - 1) // S
            assert my_chunks >= 1
            items = my_rounds * my_chunks
            def group_row(j, grp):
                i = j * slots + slot
                return (cta + grid_x * i) * (G * RW) + grp * RW if i < my_sets else -1
            # the step order of the kernel: load cursor one ahead of the run cursor
            lt, lc, rt, rc = 0, 0, 0, 0
            def adv(t, c):
                c += 1
                if c == my_chunks: return t + 1, 0
                return t, c
            loaded = [(lt, kp + lc * S)]; lt, lc = adv(lt, lc)
            nbar = 0
            for it in range(items):
                if it + 1 < items:
                    loaded.append((lt, kp + lc * S)); lt, lc = adv(lt, lc)
                t, c = loaded[it]
                assert (t, c) == (rt, kp + rc * S)
                for lane in range(32):
                    lg, grp = lane % L, lane // L
                    row0 = group_row(t, grp)
                    for r in range(RW):
                        row = row0 + r
                        for u in range(U):
                            b = c * CB + lg + L * u
                            if row0 >= 0 and row < n and b < nb:
                                key = (row, b)
                                assert key not in read, key
                                read[key] = (cta, warp, lane)
                if rc == my_chunks - 1:
                    nbar += 1
                    if kp == 0:
                        for grp in range(G):
                            row0 = group_row(t, grp)
                            for r in range(RW):
                                row = row0 + r
                                if row0 >= 0 and row < n:
                                    assert row not in stored
                                    stored[row] = cta
                rt, rc = adv(rt, rc)
            barriers.add(nbar)
        assert len(barriers) == 1, barriers  # every warp of the CTA reaches the same barriers
    assert len(read) == n * nb, (len(read), n * nb)
    assert sorted(stored) == list(range(n))
    return G, S

seen = set()
for (n, k) in [(130, 64), (100, 2048), (50, 4096), (72, 4096), (40, 8192), (24, 14336), (1, 32), (13, 96), (4096, 4096)]:
    for m in (1, 2, 3, 8):
        if m * k * 4 > 96 * 1024: continue
        G, S, sets, rounds = split(m, n, k, 1)
        for gx in sorted({1, min(3, rounds), rounds, min(rounds, 264), min(rounds, 17)}):
            if n * (k // 32) > 300000 and gx < min(rounds, 264): continue  # keep the run short
            seen.add(run(m, n, k, gx))
print("gemv split: every (row, block) read once, every row stored once; (G, S) seen:", sorted(seen))
