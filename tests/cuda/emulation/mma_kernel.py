# Emulates q4_0_mma_kernel's index math (loaders, swizzles, ldmatrix, fragment building, mma, epilogue)
# per PTX semantics, in float64, and compares with a plain matmul. Catches layout/indexing bugs.
import numpy as np, itertools, sys
rng = np.random.default_rng(1)

def make_weight(rows, k):
    nb = k // 32; rb = (nb + 1) // 2 * 2
    qs = np.zeros((rows, rb, 16), np.uint8); d = np.zeros((rows, rb), np.float64)
    qs[:, :nb] = rng.integers(0, 256, (rows, nb, 16), dtype=np.uint8)
    d[:, :nb] = rng.uniform(-1, 1, (rows, nb))
    W = np.zeros((rows, k))
    for b in range(nb):
        lo = (qs[:, b, :] & 15).astype(np.int64) - 8; hi = (qs[:, b, :] >> 4).astype(np.int64) - 8
        W[:, b*32:b*32+16] = lo * d[:, b:b+1]; W[:, b*32+16:b*32+32] = hi * d[:, b:b+1]
    return qs, d, W, rb

def run(MT, WM, n, k, m, experts=1, dual=False, tiles=None, a_map=None, out_map=None):
    warps_n = 8 // WM; NT = 16 // warps_n; bm = 16 * WM * MT; a_chunks = bm // 32
    qs, d, W, rb = make_weight(experts * n, k)
    qs2, d2, W2, _ = make_weight(experts * n, k)
    A = rng.standard_normal((m if a_map is None else max(a_map) + 1, k))
    nrows_total = m if tiles is None else max(t[2] for t in tiles)
    ksteps = rb // 2
    bn_cols = 64 if dual else 128
    Y = np.full((nrows_total, n), np.nan); H = np.full((nrows_total, n), np.nan)
    tile_list = tiles if tiles is not None else [(0, by * bm, min(m, by * bm + bm)) for by in range((m + bm - 1) // bm)]
    for (expert, row_begin, row_end) in tile_list:
        for bx in range((n + bn_cols - 1) // bn_cols):
            n0 = bx * bn_cols
            for ks in range(ksteps):
                k0 = ks * 64
                sA = np.zeros(bm * 64)  # logical values at swizzled element positions
                sW = np.zeros(128 * 32, np.uint8); sD = np.zeros(128 * 2)
                for tid in range(256):
                    for i in range(a_chunks):
                        c = tid + 256 * i; ar, ch = c >> 3, c & 7
                        r = row_begin + ar; ok = r < row_end and k0 + ch * 8 < k
                        dst = ar * 128 + ((ch ^ (ar & 7)) * 16)
                        src_row = (r if a_map is None else a_map[r]) if r < row_end else 0
                        for e in range(8):
                            sA[dst // 2 + e] = A[src_row, k0 + ch * 8 + e] if ok else 0.0
                    wr, wh = tid >> 1, tid & 1
                    wrow = n0 + (wr & 63) if dual else n0 + wr
                    w_ok = wrow < n
                    src_qs = qs2 if (dual and wr >= 64) else qs
                    dst = wr * 32 + ((wh ^ ((wr >> 2) & 1)) * 16)
                    sW[dst:dst+16] = src_qs[expert * n + wrow, 2 * ks + wh] if w_ok else 0
                    if tid < 128:
                        dr = tid; drow = n0 + (dr & 63) if dual else n0 + dr
                        d_ok = drow < n
                        src_d = d2 if (dual and dr >= 64) else d
                        sD[dr*2:dr*2+2] = src_d[expert * n + drow, 2*ks:2*ks+2] if d_ok else 0
                for warp in range(8):
                    wm, wn = warp // warps_n, warp % warps_n
                    half_nt = NT // 2
                    wt_row = [(8*half_nt*wn + 8*j if j < half_nt else 64 + 8*half_nt*wn + 8*(j-half_nt)) if dual else 8*NT*wn + 8*j for j in range(NT)]
                    for blk in range(2):
                        # B fragments per lane
                        bf = np.zeros((32, NT, 2, 2, 2))  # lane, j, half, reg, elem
                        for lane in range(32):
                            g, tq = lane >> 2, lane & 3
                            for j in range(NT):
                                r = wt_row[j] + g
                                qoff = r * 32 + ((blk ^ ((r >> 2) & 1)) * 16)
                                b_lo = [sW[qoff + 2*tq], sW[qoff + 2*tq + 1]]
                                b_hi = [sW[qoff + 2*tq + 8], sW[qoff + 2*tq + 9]]
                                dv = sD[r * 2 + blk]
                                for half in range(2):
                                    sh = 4 * half
                                    bf[lane, j, half, 0] = [dv * (((b_lo[0] >> sh) & 15) - 8), dv * (((b_lo[1] >> sh) & 15) - 8)]
                                    bf[lane, j, half, 1] = [dv * (((b_hi[0] >> sh) & 15) - 8), dv * (((b_hi[1] >> sh) & 15) - 8)]
                        for half in range(2):
                            kk = blk * 2 + half
                            for i in range(MT):
                                # ldmatrix x4: lane supplies row address
                                mats = np.zeros((4, 8, 8))
                                for lane in range(32):
                                    ar = wm * (16 * MT) + i * 16 + (lane & 15)
                                    ch = kk * 2 + (lane >> 4)
                                    addr = ar * 128 + ((ch ^ (ar & 7)) * 16)
                                    mats[lane // 8, lane % 8, :] = sA[addr // 2: addr // 2 + 8]
                                # fragments: reg q of lane l = mats[q][l//4][2(l%4) .. +1]
                                # A element (row, kcol) for mma: a0 rows g k 2tq; a1 rows g+8; a2 k+8; a3
                                Afull = np.zeros((16, 16)); Bfull = np.zeros((16, 8))
                                for lane in range(32):
                                    g, tq = lane >> 2, lane & 3
                                    regs = [mats[q, g, 2*tq:2*tq+2] for q in range(4)]
                                    Afull[g, 2*tq:2*tq+2] = regs[0]; Afull[g+8, 2*tq:2*tq+2] = regs[1]
                                    Afull[g, 2*tq+8:2*tq+10] = regs[2]; Afull[g+8, 2*tq+8:2*tq+10] = regs[3]
                                for j in range(NT):
                                    for lane in range(32):
                                        g, tq = lane >> 2, lane & 3
                                        Bfull[2*tq:2*tq+2, g] = bf[lane, j, half, 0]
                                        Bfull[2*tq+8:2*tq+10, g] = bf[lane, j, half, 1]
                                    D = Afull @ Bfull
                                    # D accumulates per (warp, i, j) as a full 16 x 8 matrix; the epilogue reads
                                    # c0..c3 of lane (g, tq) at (g, 2tq..2tq+1) and (g + 8, 2tq..2tq+1)
                                    accD = acc_full.setdefault((warp, i, j), np.zeros((16, 8)))
                                    accD += D
            # epilogue
            for warp in range(8):
                wm, wn = warp // warps_n, warp % warps_n
                half_nt = NT // 2
                for i in range(MT):
                    for lane in range(32):
                        g, tq = lane >> 2, lane & 3
                        for hrow in range(2):
                            r = row_begin + wm * (16 * MT) + i * 16 + g + 8 * hrow
                            if r >= row_end: continue
                            if dual:
                                for j in range(half_nt):
                                    for c in range(2):
                                        col = n0 + 8*half_nt*wn + 8*j + 2*tq + c
                                        if col < n:
                                            gv = acc_full[(warp, i, j)][g + 8*hrow, 2*tq + c]
                                            uv = acc_full[(warp, i, j + half_nt)][g + 8*hrow, 2*tq + c]
                                            H[r, col] = gv / (1 + np.exp(-gv)) * uv
                            else:
                                for j in range(NT):
                                    for c in range(2):
                                        col = n0 + 8*NT*wn + 8*j + 2*tq + c
                                        if col < n:
                                            Y[r, col] = acc_full[(warp, i, j)][g + 8*hrow, 2*tq + c]
            acc_full.clear()
    # reference
    err = 0
    for (expert, row_begin, row_end) in tile_list:
        for r in range(row_begin, row_end):
            src = r if a_map is None else a_map[r]
            gref = A[src] @ W[expert*n:(expert+1)*n].T
            if dual:
                uref = A[src] @ W2[expert*n:(expert+1)*n].T
                ref = gref / (1 + np.exp(-gref)) * uref
                err = max(err, np.nanmax(np.abs(H[r] - ref)) if not np.isnan(H[r]).any() else np.inf)
            else:
                err = max(err, np.max(np.abs(Y[r] - gref)) if not np.isnan(Y[r]).any() else np.inf)
    return err

acc_full = {}
for (MT, WM, n, k, m) in [(2, 1, 40, 96, 5), (2, 1, 200, 64, 33), (2, 2, 130, 160, 70), (4, 2, 136, 64, 130)]:
    e = run(MT, WM, n, k, m)
    print(f"dense MT={MT} WM={WM} n={n} k={k} m={m}: max err {e:.3g}")
for (MT, WM) in [(2, 1), (2, 2)]:
    e = run(MT, WM, 96, 64, 0, experts=3, dual=True, tiles=[(2, 0, 5), (0, 5, 9), (1, 9, 9 + 16 * WM * MT)],
            a_map=[(r * 7) % 11 for r in range(9 + 16 * WM * MT)])
    print(f"dual grouped MT={MT} WM={WM}: max err {e:.3g}")
