import sys
p=sys.argv[1]
s=open(p).read()
def rep(a,b):
    global s
    assert a in s, a[:60]
    s=s.replace(a,b,1)
rep("/// MoE gemv grids: the (token t, slot s)", """__device__ unsigned long long g_tl_gu[4096][6];
__device__ unsigned long long g_tl_dn[4096][3];
__device__ __forceinline__ unsigned long long tl_now() { unsigned long long t; asm volatile("mov.u64 %0, %globaltimer;" : "=l"(t)); return t; }
__device__ __forceinline__ int tl_block() { return int(blockIdx.y * gridDim.x + blockIdx.x); }
/// MoE gemv grids: the (token t, slot s)""")
rep("""    extern __shared__ uint4 smem[];  // the CTA's 32 h values (8 uint4), then x quantized: lo (nb), hi (nb), meta (nb int2)
    pdl_launch_dependents();""","""    extern __shared__ uint4 smem[];  // the CTA's 32 h values (8 uint4), then x quantized: lo (nb), hi (nb), meta (nb int2)
    if (GateUp && threadIdx.x == 0) { unsigned sm; asm volatile("mov.u32 %0, %smid;" : "=r"(sm)); g_tl_gu[tl_block()][0] = tl_now(); g_tl_gu[tl_block()][5] = sm; }
    pdl_launch_dependents();""")
rep("""    __syncthreads();
    float acc[W][R] = {};""","""    __syncthreads();
    if (GateUp && threadIdx.x == 0) g_tl_gu[tl_block()][2] = tl_now();
    float acc[W][R] = {};""")
if "if (b != lane) load(b);" in s:
    rep("if (b != lane) load(b);","if (b != lane) { if (GateUp && threadIdx.x == 0) g_tl_gu[tl_block()][3] = tl_now(); load(b); }")
rep("""            if (lane == 0) hs[warp * R + j] = __fmul_rn(ffn_act(p.act, g), u);
        }""","""            if (lane == 0) hs[warp * R + j] = __fmul_rn(ffn_act(p.act, g), u);
        }
        if (threadIdx.x == 0) g_tl_gu[tl_block()][4] = tl_now();""")
rep("""                           reinterpret_cast<int2*>(hq + 2 * rows * hnb) + pair * hnb);
        }""","""                           reinterpret_cast<int2*>(hq + 2 * rows * hnb) + pair * hnb);
            if (lane == 0) g_tl_gu[tl_block()][1] = tl_now();
        }""")
rep("""    extern __shared__ uint4 staged[];  // p.stage_h: the chunk's h rows, lo (rows × nb), hi (rows × nb), meta (rows × nb int2)
    pdl_launch_dependents();""","""    extern __shared__ uint4 staged[];  // p.stage_h: the chunk's h rows, lo (rows × nb), hi (rows × nb), meta (rows × nb int2)
    if (threadIdx.x == 0) g_tl_dn[tl_block()][0] = tl_now();
    pdl_launch_dependents();""")
rep("""        if (s0 == 0) pdl_wait();  // h's quantized rows are complete past this point""","""        if (s0 == 0) { pdl_wait(); if (threadIdx.x == 0) g_tl_dn[tl_block()][1] = tl_now(); }""")
rep("""    if (active && lane == 0) p.y[t * p.ldy_token + row] = sum;
}""","""    if (active && lane == 0) p.y[t * p.ldy_token + row] = sum;
    if (threadIdx.x == 0) g_tl_dn[tl_block()][2] = tl_now();
}""")
open(p,'w').write(s)
