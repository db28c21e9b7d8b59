# Emulates dequant_q4_0_bf16_kernel's unit mapping (half blocks of 8 quant bytes, two 16-byte stores per
# unit, deq_pair's nibble selection) in plain Python (no numpy): every output element of a row is written
# exactly once with q - 8 of the right nibble (the scale is left out: index math only).
import random, struct
random.seed(3)
def deq_pair(u, sh_lo, sh_hi): return (((u >> sh_lo) & 15) - 8, ((u >> sh_hi) & 15) - 8)
for nb in (1, 2, 3, 64, 65, 448):
    k = 32 * nb
    qs = bytes(random.randrange(256) for _ in range(16 * nb))
    want = []
    for b in range(nb):
        blk = qs[16 * b:16 * b + 16]
        want += [(blk[j] & 15) - 8 for j in range(16)] + [(blk[j] >> 4) - 8 for j in range(16)]
    out = [None] * k
    units, U = 2 * nb, 4
    for bx in range((units + 32 * U - 1) // (32 * U)):
        for lane in range(32):
            for u in range(U):
                v = bx * 32 * U + lane + 32 * u
                if v >= units: continue
                w0, w1 = struct.unpack('<2I', qs[8 * v:8 * v + 8])
                lo = deq_pair(w0, 0, 8) + deq_pair(w0, 16, 24) + deq_pair(w1, 0, 8) + deq_pair(w1, 16, 24)
                hi = deq_pair(w0, 4, 12) + deq_pair(w0, 20, 28) + deq_pair(w1, 4, 12) + deq_pair(w1, 20, 28)
                c = 4 * (v >> 1) + (v & 1)
                for chunk, vals in ((c, lo), (c + 2, hi)):
                    for e in range(8):
                        assert out[8 * chunk + e] is None
                        out[8 * chunk + e] = vals[e]
    assert out == want, nb
print("dequant bf16: every element written once from the right nibble")
