# Emulates q4_0_gemv_kernel's staging (pre-scaled, transposed float4 groups) and gemv_block_dot's
# nibble/element mapping with the magic-number dequantization, in float32, against a plain dot.
import numpy as np, struct
rng = np.random.default_rng(2)
def f32(bits): return struct.unpack('<f', struct.pack('<I', bits))[0]
C = [8388616.0, 8388736.0, 8390656.0, 8421376.0]
def nib(u, mask, c): return np.float32(f32(0x4B000000 | (u & mask))) - np.float32(c)
worst = 0
for trial in range(200):
    qs = rng.integers(0, 256, 16, dtype=np.uint8); d = np.float32(rng.uniform(-1, 1))
    x = rng.standard_normal(32).astype(np.float32)
    w = np.array([(qs[j] & 15) - 8 for j in range(16)] + [(qs[j] >> 4) - 8 for j in range(16)], np.float64) * float(d)
    # staging: float4 group f holds elements 4f..4f+3, even j scaled by 1 (f<4) or 1/16, odd by 1/256 or 1/4096
    xs = np.zeros((8, 4), np.float32)
    for f in range(8):
        se = np.float32(0.0625 if f >= 4 else 1.0); so = np.float32(1/4096 if f >= 4 else 1/256)
        xs[f] = [x[4*f]*se, x[4*f+1]*so, x[4*f+2]*se, x[4*f+3]*so]
    words = struct.unpack('<4I', qs.tobytes())
    acc = np.float32(0)
    for wi in range(4):
        xl, xh = xs[wi], xs[4 + wi]
        u0, u1 = words[wi], words[wi] >> 16
        terms = [(xl[0], nib(u0, 0x000F, C[0])), (xh[0], nib(u0, 0x00F0, C[1])), (xl[1], nib(u0, 0x0F00, C[2])),
                 (xh[1], nib(u0, 0xF000, C[3])), (xl[2], nib(u1, 0x000F, C[0])), (xh[2], nib(u1, 0x00F0, C[1])),
                 (xl[3], nib(u1, 0x0F00, C[2])), (xh[3], nib(u1, 0xF000, C[3]))]
        for a, b in terms: acc = np.float32(acc + np.float32(a * b))
    got = float(np.float32(d * acc)); want = float(x.astype(np.float64) @ w)
    worst = max(worst, abs(got - want) / (np.abs(x) @ np.abs(w) + 1e-30))
print("gemv block dot: worst relative error vs sum|x w|:", worst)
