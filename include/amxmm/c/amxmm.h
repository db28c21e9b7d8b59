/* amxmm — C API (C99) for engines written in C, or that keep a C boundary (FFI, plugins).
 *
 * What it is. The same kernels as the C++ API (<amxmm/amxmm.hpp>) behind plain C functions and
 * opaque handles. Every function returns an amxmm_status; when it is not AMXMM_OK,
 * amxmm_last_error() gives a sentence naming the argument and its value, e.g.
 *     "gemm_q4_0: ldx = 100 is less than K = 4096"
 * No C++ exception ever crosses this boundary.
 *
 * Building. Like the C++ library, the implementation is header-only: compile it ONCE, in one C++17
 * translation unit of your program (it needs amxmm's include path, oneTBB and hwloc: link
 * amxmm::amxmm in CMake, or use `pkg-config --cflags --libs amxmm`):
 *
 *     // amxmm_c.cpp — the one C++ file of an otherwise C engine
 *     #define AMXMM_C_IMPLEMENTATION
 *     #include <amxmm/c/amxmm.h>
 *
 * Every other file (C or C++) includes <amxmm/c/amxmm.h> without the macro. For the GPU functions
 * (amxmm_gpu_*), compile that one file with nvcc as a .cu file and define AMXMM_C_WITH_CUDA as
 * well; without it they exist and return AMXMM_UNSUPPORTED.
 *
 * A first call (error handling elided):
 *
 *     amxmm_packed_weight* w;
 *     amxmm_pack_q4_0_vnni(blocks, N, K, NULL, &w);           // blocks: GGUF Q4_0, N rows of K
 *     amxmm_gemm_q4_0(w, M, x, K, y, N, NULL, NULL, NULL);    // y[m][n] = dot(x[m], W[n]), serial
 *     amxmm_packed_weight_free(w);
 *
 * Conventions (those of the C++ API; see README.md and include/amxmm/gemm/dense_gemm.hpp):
 *   - A weight W is N rows of K elements (K a multiple of 32), each row K/32 GGUF Q4_0 blocks of
 *     18 bytes. Activations x are M rows of K floats (row stride ldx >= K); outputs y are M rows of
 *     N floats (row stride ldy >= N). Y = X · Wᵀ.
 *   - Results are bitwise identical for any executor and any thread count.
 *   - Bad arguments are reported before anything is written; outputs are untouched on error.
 *   - Handles are created by amxmm_*_create / amxmm_pack_* and released by the matching *_free
 *     (which accept NULL). A packed weight may be used by any number of threads at once.
 *
 * ABI. Handles are opaque; structs passed by pointer start with `struct_size` so later versions
 * can append fields. AMXMM_C_API_VERSION changes when a declaration here changes incompatibly;
 * amxmm_c_api_version() returns the value the implementation was built with. docs/versioning.md
 * states the policy.
 */
#ifndef AMXMM_C_AMXMM_H
#define AMXMM_C_AMXMM_H

#include <stddef.h>
#include <stdint.h>

/* Version of these headers (the same numbers as amxmm's C++ headers, checked at compile time). */
#define AMXMM_C_VERSION_MAJOR 0
#define AMXMM_C_VERSION_MINOR 2
#define AMXMM_C_VERSION_PATCH 0
/* Version of the C API's declarations: compare with amxmm_c_api_version() at run time. */
#define AMXMM_C_API_VERSION 2

/* Decoration of every function: define it before the include, e.g. to
 * __attribute__((visibility("default"))) when the implementation goes into a shared library. */
#ifndef AMXMM_C_API
#define AMXMM_C_API
#endif

/* C++ callers see the functions as noexcept: none of them ever throws. */
#if defined(__cplusplus)
#define AMXMM_C_NOEXCEPT noexcept
#else
#define AMXMM_C_NOEXCEPT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status and errors ------------------------------------------------------------------------ */
/* Every enum has a *_MAX_ENUM member (0x7FFFFFFF, never a valid value): it makes the enum an int-sized
 * type. amxmm reads each enum argument or field as an int before it checks it, so any int a C caller
 * may pass, negative ones included, is safe: a value that is not a member gets AMXMM_INVALID_ARGUMENT
 * and a message naming the argument (the *_name functions answer NULL or "AMXMM_UNKNOWN_STATUS"). */

/** What a call returned. The values mirror amxmm::errc (plus AMXMM_INTERNAL) and are stable. */
typedef enum amxmm_status {
    AMXMM_OK = 0,
    AMXMM_INVALID_ARGUMENT = 1, /**< a shape, pointer, alignment, handle or enum is not acceptable */
    AMXMM_OUT_OF_RANGE = 2,     /**< an index (e.g. an expert id, a tensor name) is not valid */
    AMXMM_BUFFER_TOO_SMALL = 3, /**< a caller-provided buffer (workspace) is too small */
    AMXMM_UNSUPPORTED = 4,      /**< the requested path is not available on this machine or build */
    AMXMM_MALFORMED_INPUT = 5,  /**< a file does not follow its format (GGUF) */
    AMXMM_SYSTEM = 6,           /**< the OS or a runtime refused (allocation, mmap, CUDA) */
    AMXMM_INTERNAL = 7,         /**< an unexpected failure inside amxmm (please report it) */
    AMXMM_STATUS_MAX_ENUM = 0x7FFFFFFF /**< not a status: keeps every int value in range (see below) */
} amxmm_status;

/** The message of the most recent failed amxmm call on the calling thread ("" if none). Each
 *  thread has its own; successful calls leave it unchanged. Valid until the next failed call on
 *  this thread. Never NULL. */
AMXMM_C_API const char* amxmm_last_error(void) AMXMM_C_NOEXCEPT;

/** "AMXMM_OK", "AMXMM_INVALID_ARGUMENT", ...; "AMXMM_UNKNOWN_STATUS" for other values. */
AMXMM_C_API const char* amxmm_status_name(amxmm_status status) AMXMM_C_NOEXCEPT;

/* ---- version ---------------------------------------------------------------------------------- */

/** "0.2.0": the version of the amxmm headers the implementation was compiled from. */
AMXMM_C_API const char* amxmm_version_string(void) AMXMM_C_NOEXCEPT;
/** MAJOR * 10000 + MINOR * 100 + PATCH of the implementation (0.2.0 -> 200). */
AMXMM_C_API uint32_t amxmm_version(void) AMXMM_C_NOEXCEPT;
/** AMXMM_C_API_VERSION of the implementation: a program built against these declarations should
 *  check amxmm_c_api_version() == AMXMM_C_API_VERSION when the implementation is in a shared library. */
AMXMM_C_API uint32_t amxmm_c_api_version(void) AMXMM_C_NOEXCEPT;

/* ---- back ends (instruction sets) ------------------------------------------------------------- */

/** Compute back ends; the values are amxmm::isa's. AMXMM_ISA_AUTO (options only) = best available. */
typedef enum amxmm_isa {
    AMXMM_ISA_AUTO = -1,
    AMXMM_ISA_SCALAR = 0,
    AMXMM_ISA_AVX2 = 1,
    AMXMM_ISA_AVX512_VNNI = 2,
    AMXMM_ISA_AMX = 3,
    AMXMM_ISA_AMX_EMULATED = 4, /**< plain-code model of the AMX tile unit: slow, only when forced */
    AMXMM_ISA_MAX_ENUM = 0x7FFFFFFF
} amxmm_isa;

/** "scalar", "avx2", "avx512_vnni", "amx", "amx_emulated", "auto"; NULL for other values. */
AMXMM_C_API const char* amxmm_isa_name(amxmm_isa isa) AMXMM_C_NOEXCEPT;

/** The back end calls use by default (the AMXMM_ISA environment variable caps it) and, if reason is
 *  not NULL, the sentence that explains the choice (valid for the life of the process).
 *  Fails (AMXMM_INVALID_ARGUMENT) when AMXMM_ISA holds something other than a back-end name. */
AMXMM_C_API amxmm_status amxmm_best_isa(amxmm_isa* isa, const char** reason) AMXMM_C_NOEXCEPT;

/** 1 when this machine can run `isa` (CPU, OS and AMX permission), else 0. */
AMXMM_C_API int amxmm_isa_supported(amxmm_isa isa) AMXMM_C_NOEXCEPT;

/* ---- options and plans ------------------------------------------------------------------------ */

/** Compute modes (README "Compute modes"): exact = ggml's Q4_0 x Q8_0 arithmetic, bitwise identical
 *  on every back end; fast = bf16 products, fp32 accumulation (AMX-BF16); auto picks by M and ISA. */
typedef enum amxmm_mode {
    AMXMM_MODE_AUTO = 0,
    AMXMM_MODE_EXACT = 1,
    AMXMM_MODE_FAST = 2,
    AMXMM_MODE_MAX_ENUM = 0x7FFFFFFF
} amxmm_mode;

/** The nonlinearity of amxmm_moe_ffn, applied to the gate projection. */
typedef enum amxmm_activation {
    AMXMM_ACTIVATION_SILU = 0,     /**< g / (1 + exp(-g)) */
    AMXMM_ACTIVATION_GELU_TANH = 1, /**< ggml's tanh approximation of GELU */
    AMXMM_ACTIVATION_MAX_ENUM = 0x7FFFFFFF
} amxmm_activation;

/** Options of a GEMM or MoE call. Initialise with AMXMM_GEMM_OPTIONS_INIT or amxmm_gemm_options_init,
 *  then change what you need. Passing NULL instead of options means all defaults. */
typedef struct amxmm_gemm_options {
    size_t struct_size;          /**< sizeof(amxmm_gemm_options): set by the initialisers */
    amxmm_mode mode;             /**< default AMXMM_MODE_AUTO */
    amxmm_isa force_isa;         /**< default AMXMM_ISA_AUTO; else this back end (it must be supported) */
    int64_t kc_blocks;           /**< K chunk of the AMX large-M path in Q4_0 blocks; 0 = from the L2 size */
    void* workspace;             /**< 64-byte aligned, *_workspace_bytes() bytes; NULL = amxmm's per-thread
                                      scratch. Required by the _ith functions (one buffer shared by all nth) */
    size_t workspace_bytes;
    amxmm_activation activation; /**< amxmm_moe_ffn only; default AMXMM_ACTIVATION_SILU */
} amxmm_gemm_options;

#define AMXMM_GEMM_OPTIONS_INIT \
    { sizeof(amxmm_gemm_options), AMXMM_MODE_AUTO, AMXMM_ISA_AUTO, 0, NULL, 0, AMXMM_ACTIVATION_SILU }

/** Sets *options to the defaults (the same as AMXMM_GEMM_OPTIONS_INIT; for languages without macros). */
AMXMM_C_API void amxmm_gemm_options_init(amxmm_gemm_options* options) AMXMM_C_NOEXCEPT;

/** What a call ran and why: filled when a call is given a non-NULL plan (on success only). */
typedef struct amxmm_gemm_plan {
    amxmm_isa isa;    /**< the back end that ran */
    amxmm_mode mode;  /**< AMXMM_MODE_EXACT or AMXMM_MODE_FAST */
    char reason[256]; /**< e.g. "avx512_vnni: AMX unavailable (...); mode exact (auto: no AMX)", truncated */
} amxmm_gemm_plan;

/* ---- executors: who runs the tasks ------------------------------------------------------------ */

/** A oneTBB thread pool for amxmm calls. Wherever a function takes an amxmm_executor*, NULL means
 *  "run on the calling thread only". An executor may be shared by concurrent calls. */
typedef struct amxmm_executor amxmm_executor;

/** An executor of `threads` oneTBB threads (threads <= 0: every CPU this process may use). */
AMXMM_C_API amxmm_status amxmm_executor_create(int threads, amxmm_executor** executor) AMXMM_C_NOEXCEPT;
AMXMM_C_API void amxmm_executor_free(amxmm_executor* executor) AMXMM_C_NOEXCEPT;
/** Threads the executor runs on (1 for NULL). */
AMXMM_C_API int amxmm_executor_threads(const amxmm_executor* executor) AMXMM_C_NOEXCEPT;

/** For engines with their own thread pool (the _ith functions): a barrier for nth threads that also
 *  carries errors, so that when one thread's share fails every thread returns the same status. One
 *  amxmm_sync serves any number of consecutive calls by the same nth threads (not concurrent ones). */
typedef struct amxmm_sync amxmm_sync;

/** nth in 1 .. 2^20 - 1. */
AMXMM_C_API amxmm_status amxmm_sync_create(int nth, amxmm_sync** sync) AMXMM_C_NOEXCEPT;
AMXMM_C_API void amxmm_sync_free(amxmm_sync* sync) AMXMM_C_NOEXCEPT;

/** 64-byte aligned memory (e.g. for workspaces), released with amxmm_aligned_free. bytes > 0. */
AMXMM_C_API amxmm_status amxmm_aligned_alloc(size_t bytes, void** memory) AMXMM_C_NOEXCEPT;
AMXMM_C_API void amxmm_aligned_free(void* memory) AMXMM_C_NOEXCEPT;

/* ---- packed weights --------------------------------------------------------------------------- */

/** A Q4_0 weight repacked for the CPU kernels (4.5 bits/weight, 64-byte aligned). A CPU type: the
 *  GPU functions take amxmm_gpu_weight, a different type. */
typedef struct amxmm_packed_weight amxmm_packed_weight;

/** Packs `blocks` (GGUF Q4_0: n rows of k elements, n*k/32 blocks of 18 bytes, 2-byte aligned) once,
 *  at load time, in parallel on `executor` (NULL: serial). The blocks are not referenced afterwards. */
AMXMM_C_API amxmm_status amxmm_pack_q4_0_vnni(const void* blocks, int64_t n, int64_t k, amxmm_executor* executor,
                                              amxmm_packed_weight** weight) AMXMM_C_NOEXCEPT;
AMXMM_C_API void amxmm_packed_weight_free(amxmm_packed_weight* weight) AMXMM_C_NOEXCEPT;
/** Shape (N, K) and bytes of a packed weight; any out-pointer may be NULL. */
AMXMM_C_API amxmm_status amxmm_packed_weight_info(const amxmm_packed_weight* weight, int64_t* n, int64_t* k,
                                                  size_t* bytes) AMXMM_C_NOEXCEPT;

/** E experts of one shape, packed into one allocation — or, from amxmm_pack_q4_0_vnni_gate_up, the
 *  gate and up projections of E experts packed together (one pass over the activations feeds both). */
typedef struct amxmm_packed_experts amxmm_packed_experts;

/** Packs a GGUF 3-D Q4_0 tensor: `experts` × n rows of k, expert after expert (ggml ne = {k, n, E}). */
AMXMM_C_API amxmm_status amxmm_pack_q4_0_vnni_experts(const void* blocks, int64_t experts, int64_t n, int64_t k,
                                                      amxmm_executor* executor, amxmm_packed_experts** packed) AMXMM_C_NOEXCEPT;
/** Packs the gate and up tensors of a MoE layer together (each `experts` × f rows of k; f a multiple
 *  of 32). The result is for amxmm_moe_ffn's `gate` argument, with `up` = NULL. */
AMXMM_C_API amxmm_status amxmm_pack_q4_0_vnni_gate_up(const void* gate_blocks, const void* up_blocks,
                                                      int64_t experts, int64_t f, int64_t k,
                                                      amxmm_executor* executor, amxmm_packed_experts** packed) AMXMM_C_NOEXCEPT;
AMXMM_C_API void amxmm_packed_experts_free(amxmm_packed_experts* packed) AMXMM_C_NOEXCEPT;
/** Experts E, rows N and K of each expert (for gate + up packed together: N = F of each of them),
 *  bytes, and whether gate and up are packed together (1) or not (0). Out-pointers may be NULL. */
AMXMM_C_API amxmm_status amxmm_packed_experts_info(const amxmm_packed_experts* packed, int64_t* experts, int64_t* n,
                                                   int64_t* k, size_t* bytes, int* gate_up) AMXMM_C_NOEXCEPT;

/* ---- dense GEMM ------------------------------------------------------------------------------- */

/** Bytes of workspace a GEMM with m rows of K needs (either mode). 0 when m < 0 or K is not a
 *  positive multiple of 32 (then amxmm_last_error() says which). */
AMXMM_C_API size_t amxmm_gemm_workspace_bytes(int64_t m, int64_t k) AMXMM_C_NOEXCEPT;

/** y[i][n] = dot(x[i], W[n]) for i < m, n < N.
 *    weight  : packed N × K       x : m rows of K floats, stride ldx >= K
 *    y       : m rows of N floats, stride ldy >= N, not overlapping x
 *    options : NULL = defaults     executor : NULL = the calling thread only
 *    plan    : NULL, or filled with what ran and why */
AMXMM_C_API amxmm_status amxmm_gemm_q4_0(const amxmm_packed_weight* weight, int64_t m, const float* x, int64_t ldx,
                                         float* y, int64_t ldy, const amxmm_gemm_options* options,
                                         amxmm_executor* executor, amxmm_gemm_plan* plan) AMXMM_C_NOEXCEPT;

/** The same product computed by an engine's own nth threads together: each of them calls this with
 *  the SAME arguments, its own index ith in [0, nth), and the same sync (created for nth). Thread ith
 *  runs tasks ith, ith + nth, ... of each phase and waits for the others at sync's barrier, so the
 *  call returns on every thread once y is complete — with the same status on every thread (each sees
 *  the message in its own amxmm_last_error()). options->workspace is required: one buffer of
 *  amxmm_gemm_workspace_bytes(m, K) bytes, 64-byte aligned, shared by the nth callers. Results are
 *  bitwise those of amxmm_gemm_q4_0. Every thread returns AMXMM_INVALID_ARGUMENT when an ith is out of
 *  range, an nth differs from the sync's, or two threads pass the same ith. A thread whose other
 *  arguments differ from the others' (or that never calls) leaves the rest waiting: use the same values
 *  on every thread. */
AMXMM_C_API amxmm_status amxmm_gemm_q4_0_ith(const amxmm_packed_weight* weight, int64_t m, const float* x,
                                             int64_t ldx, float* y, int64_t ldy, const amxmm_gemm_options* options,
                                             int ith, int nth, amxmm_sync* sync, amxmm_gemm_plan* plan) AMXMM_C_NOEXCEPT;

/* ---- mixture of experts ----------------------------------------------------------------------- */

/** Which expert each token's slots use: ids[t * ld_ids + s] in [0, E) for t < m, s < top_k. */
typedef struct amxmm_moe_routing {
    int64_t m;          /**< tokens */
    int64_t top_k;      /**< slots per token, 1 <= top_k <= E */
    const int32_t* ids; /**< may be NULL when m == 0 */
    int64_t ld_ids;     /**< row stride of ids, >= top_k */
} amxmm_moe_routing;

/** Where amxmm_moe_gemm's input rows come from. */
typedef enum amxmm_moe_input_rows {
    AMXMM_MOE_ROWS_PER_TOKEN = 0, /**< x + t*ldx_token, shared by the token's slots (ldx_slot ignored) */
    AMXMM_MOE_ROWS_PER_SLOT = 1,  /**< x + t*ldx_token + s*ldx_slot */
    AMXMM_MOE_ROWS_MAX_ENUM = 0x7FFFFFFF
} amxmm_moe_input_rows;

/** Workspace bytes of amxmm_moe_gemm (weights of E experts of N × K) and of amxmm_moe_ffn (gate and
 *  up F × K, down K × F); 0 for negative or invalid arguments. */
AMXMM_C_API size_t amxmm_moe_gemm_workspace_bytes(int64_t m, int64_t top_k, int64_t experts, int64_t k) AMXMM_C_NOEXCEPT;
AMXMM_C_API size_t amxmm_moe_ffn_workspace_bytes(int64_t m, int64_t top_k, int64_t experts, int64_t k, int64_t f) AMXMM_C_NOEXCEPT;

/** ggml's MUL_MAT_ID: y(t, s)[n] = dot(x(t, s), W_e[n]), e = ids[t][s], output rows at
 *  y + t*ldy_token + s*ldy_slot (ldy_slot = N, ldy_token = top_k*N for ggml's [m][top_k][N]).
 *  `weights` must be a plain experts handle (not gate + up). */
AMXMM_C_API amxmm_status amxmm_moe_gemm(const amxmm_packed_experts* weights, const amxmm_moe_routing* routing,
                                        const float* x, amxmm_moe_input_rows rows, int64_t ldx_token,
                                        int64_t ldx_slot, float* y, int64_t ldy_token, int64_t ldy_slot,
                                        const amxmm_gemm_options* options, amxmm_executor* executor,
                                        amxmm_gemm_plan* plan) AMXMM_C_NOEXCEPT;
/** amxmm_moe_gemm on an engine's threads (see amxmm_gemm_q4_0_ith; workspace:
 *  amxmm_moe_gemm_workspace_bytes). */
AMXMM_C_API amxmm_status amxmm_moe_gemm_ith(const amxmm_packed_experts* weights, const amxmm_moe_routing* routing,
                                            const float* x, amxmm_moe_input_rows rows, int64_t ldx_token,
                                            int64_t ldx_slot, float* y, int64_t ldy_token, int64_t ldy_slot,
                                            const amxmm_gemm_options* options, int ith, int nth, amxmm_sync* sync,
                                            amxmm_gemm_plan* plan) AMXMM_C_NOEXCEPT;

/** The fused expert FFN of a MoE layer, for every token t < m:
 *      y[t] = sum over s < top_k of w[t][s] * down_e( act(gate_e(x[t])) * up_e(x[t]) ),  e = ids[t][s]
 *  gate, up : E experts of F × K — or gate from amxmm_pack_q4_0_vnni_gate_up and up = NULL
 *  down     : E experts of K × F
 *  x, y     : m rows of K floats (strides ldx, ldy >= K), not overlapping
 *  weights  : routing weights w[t * ld_weights + s], finite and >= 0; NULL = all 1
 *  options->activation picks act (SiLU by default). Numerics: include/amxmm/gemm/moe.hpp. */
AMXMM_C_API amxmm_status amxmm_moe_ffn(const amxmm_packed_experts* gate, const amxmm_packed_experts* up,
                                       const amxmm_packed_experts* down, const amxmm_moe_routing* routing,
                                       const float* weights, int64_t ld_weights, const float* x, int64_t ldx,
                                       float* y, int64_t ldy, const amxmm_gemm_options* options,
                                       amxmm_executor* executor, amxmm_gemm_plan* plan) AMXMM_C_NOEXCEPT;
/** amxmm_moe_ffn on an engine's threads (see amxmm_gemm_q4_0_ith; workspace:
 *  amxmm_moe_ffn_workspace_bytes). */
AMXMM_C_API amxmm_status amxmm_moe_ffn_ith(const amxmm_packed_experts* gate, const amxmm_packed_experts* up,
                                           const amxmm_packed_experts* down, const amxmm_moe_routing* routing,
                                           const float* weights, int64_t ld_weights, const float* x, int64_t ldx,
                                           float* y, int64_t ldy, const amxmm_gemm_options* options, int ith, int nth,
                                           amxmm_sync* sync, amxmm_gemm_plan* plan) AMXMM_C_NOEXCEPT;

/* ---- GGUF files ------------------------------------------------------------------------------- */

/** A GGUF file, memory-mapped read-only and validated (malformed files: AMXMM_MALFORMED_INPUT). */
typedef struct amxmm_gguf amxmm_gguf;

AMXMM_C_API amxmm_status amxmm_gguf_open(const char* path, amxmm_gguf** file) AMXMM_C_NOEXCEPT;
AMXMM_C_API void amxmm_gguf_close(amxmm_gguf* file) AMXMM_C_NOEXCEPT;

/** The Q4_0 tensor `name` as rows × cols (cols = ggml's ne[0] = K; rows = the product of the other
 *  dims: N, or E·N for stacked experts). *blocks points into the mapping: valid until amxmm_gguf_close.
 *  No such tensor: AMXMM_OUT_OF_RANGE; not Q4_0: AMXMM_INVALID_ARGUMENT. */
AMXMM_C_API amxmm_status amxmm_gguf_q4_0_matrix(const amxmm_gguf* file, const char* name, const void** blocks,
                                                int64_t* rows, int64_t* cols) AMXMM_C_NOEXCEPT;

/** Type (ggml_type value, e.g. 2 = Q4_0), dimension count and ggml dims (ne; unused ones 1) of the
 *  tensor `name`. Out-pointers may be NULL (dims: 4 values). */
AMXMM_C_API amxmm_status amxmm_gguf_tensor_info(const amxmm_gguf* file, const char* name, uint32_t* ggml_type,
                                                uint32_t* n_dims, int64_t dims[4]) AMXMM_C_NOEXCEPT;

/* ---- GPU (CUDA) -------------------------------------------------------------------------------- */
/* Implemented when the implementation file is compiled by nvcc with AMXMM_C_WITH_CUDA defined (and
 * linked with amxmm::cuda); otherwise every amxmm_gpu_* call returns AMXMM_UNSUPPORTED. Pointers to
 * activations, outputs, routing ids/weights and workspaces are DEVICE pointers; `stream` is a
 * cudaStream_t (NULL: the default stream). Calls are asynchronous on the stream; bad arguments are
 * reported before anything is enqueued. See <amxmm/cuda.cuh> for paths and numerics. */

/** 1 when the implementation was built with CUDA (AMXMM_C_WITH_CUDA) and a CUDA device is visible. */
AMXMM_C_API int amxmm_gpu_available(void) AMXMM_C_NOEXCEPT;

/** Per-device state (cuBLAS handle, a reserved workspace), created on the current device. One per
 *  host thread or stream family, like a cuBLAS handle (not for concurrent use). */
typedef struct amxmm_gpu_context amxmm_gpu_context;

/** A Q4_0 weight in GPU memory, dense (experts = 1) or E experts — its own layout, never a
 *  CPU-packed weight (amxmm_packed_weight is a different type). */
typedef struct amxmm_gpu_weight amxmm_gpu_weight;

/** Which kernel a GPU call runs (amxmm::cuda::gemm_path). */
typedef enum amxmm_gpu_path {
    AMXMM_GPU_PATH_AUTO = 0,
    AMXMM_GPU_PATH_GEMV = 1,          /**< small m: bandwidth kernel */
    AMXMM_GPU_PATH_MMA = 2,           /**< fused dequantize + tensor cores */
    AMXMM_GPU_PATH_DEQUANT_CUBLAS = 3, /**< dequantize to bf16, then cuBLAS (dense only) */
    AMXMM_GPU_PATH_WGMMA = 4,         /**< fused dequantize + Hopper warpgroup MMA (sm_90a code on an sm_90 GPU) */
    AMXMM_GPU_PATH_MAX_ENUM = 0x7FFFFFFF
} amxmm_gpu_path;

/** How an exact MoE call on the gemv path meets its experts' weights (amxmm::cuda::moe_gemv_grouping).
 *  Dense calls ignore it. */
typedef enum amxmm_gpu_moe_grouping {
    AMXMM_GPU_MOE_GROUPING_AUTO = 0,      /**< by expert where the pairs are expected to share experts */
    AMXMM_GPU_MOE_GROUPING_PER_PAIR = 1,  /**< each (token, slot) pair reads its expert's rows */
    AMXMM_GPU_MOE_GROUPING_BY_EXPERT = 2, /**< pairs sorted by expert, each row read once per 4 pairs (exact
                                               mode on the gemv path only, else AMXMM_UNSUPPORTED) */
    AMXMM_GPU_MOE_GROUPING_MAX_ENUM = 0x7FFFFFFF
} amxmm_gpu_moe_grouping;

/** Options of a GPU call: initialise with AMXMM_GPU_OPTIONS_INIT or amxmm_gpu_options_init. */
typedef struct amxmm_gpu_options {
    size_t struct_size;          /**< sizeof(amxmm_gpu_options) */
    amxmm_gpu_path path;         /**< default AMXMM_GPU_PATH_AUTO */
    amxmm_mode mode;             /**< AUTO, FAST, or EXACT (paths GEMV and MMA; else AMXMM_UNSUPPORTED) */
    void* workspace;             /**< device, 256-byte aligned; NULL: the context's reserved workspace */
    size_t workspace_bytes;
    amxmm_activation activation; /**< amxmm_gpu_moe_ffn only */
    /* appended after the first release (a struct_size up to `activation` is still accepted: grouping AUTO) */
    amxmm_gpu_moe_grouping moe_grouping; /**< amxmm_gpu_moe_gemm / amxmm_gpu_moe_ffn; default AUTO */
    uint32_t reserved;                   /**< must be 0 (room for a later option) */
} amxmm_gpu_options;

#define AMXMM_GPU_OPTIONS_INIT                                                                             \
    { sizeof(amxmm_gpu_options), AMXMM_GPU_PATH_AUTO, AMXMM_MODE_AUTO, NULL, 0, AMXMM_ACTIVATION_SILU,     \
      AMXMM_GPU_MOE_GROUPING_AUTO, 0 }

AMXMM_C_API void amxmm_gpu_options_init(amxmm_gpu_options* options) AMXMM_C_NOEXCEPT;

/** What a GPU call ran and why (filled on success when non-NULL). `mode` and `k_splits` came with
 *  AMXMM_C_API_VERSION 2. */
typedef struct amxmm_gpu_plan {
    amxmm_gpu_path path;
    amxmm_mode mode;        /**< AMXMM_MODE_EXACT or AMXMM_MODE_FAST: the numerics the call ran with */
    int tile_rows;          /**< mma and wgmma: rows per CTA tile; gemv: rows per CTA set */
    int k_splits;           /**< wgmma: K cut into this many slices, their partial sums added in order; else 1 */
    size_t workspace_bytes; /**< device workspace the call needed */
    char reason[256];
} amxmm_gpu_plan;

/** A context on the current device, reserving `workspace_bytes` of device workspace (may be 0). */
AMXMM_C_API amxmm_status amxmm_gpu_context_create(size_t workspace_bytes, amxmm_gpu_context** context) AMXMM_C_NOEXCEPT;
AMXMM_C_API void amxmm_gpu_context_free(amxmm_gpu_context* context) AMXMM_C_NOEXCEPT;
/** Grows the context's workspace to at least `bytes` (allocates: outside the hot path). */
AMXMM_C_API amxmm_status amxmm_gpu_context_reserve(amxmm_gpu_context* context, size_t bytes) AMXMM_C_NOEXCEPT;
/** Synchronizes `stream` (the one GPU call that does), reads and clears the context's routing flag:
 *  AMXMM_OUT_OF_RANGE if an amxmm_gpu_moe_gemm / amxmm_gpu_moe_ffn on it met an expert id outside
 *  [0, E) since the last check (those rows were written as NaN, nothing else), else AMXMM_OK. */
AMXMM_C_API amxmm_status amxmm_gpu_context_check_routing(amxmm_gpu_context* context, void* stream) AMXMM_C_NOEXCEPT;

/** Uploads host GGUF Q4_0 blocks: `experts` × n rows of k (experts = 1: a dense N × K weight).
 *  Synchronous on `stream`. */
AMXMM_C_API amxmm_status amxmm_gpu_weight_upload_q4_0(const void* blocks, int64_t experts, int64_t n, int64_t k,
                                                      void* stream, amxmm_gpu_weight** weight) AMXMM_C_NOEXCEPT;
AMXMM_C_API void amxmm_gpu_weight_free(amxmm_gpu_weight* weight) AMXMM_C_NOEXCEPT;
/** Experts, rows N and K of each, and device bytes; out-pointers may be NULL. */
AMXMM_C_API amxmm_status amxmm_gpu_weight_info(const amxmm_gpu_weight* weight, int64_t* experts, int64_t* n,
                                               int64_t* k, size_t* bytes) AMXMM_C_NOEXCEPT;

/** Device workspace bytes of amxmm_gpu_gemm_q4_0 with m rows on `weight` (options: NULL = defaults). */
AMXMM_C_API amxmm_status amxmm_gpu_gemm_workspace_bytes(const amxmm_gpu_weight* weight, int64_t m,
                                                        const amxmm_gpu_options* options, size_t* bytes) AMXMM_C_NOEXCEPT;
/** y[i][n] = dot(x[i], W[n]) on the GPU: x, y device pointers (strides ldx >= K, ldy >= N). */
AMXMM_C_API amxmm_status amxmm_gpu_gemm_q4_0(amxmm_gpu_context* context, const amxmm_gpu_weight* weight, int64_t m,
                                             const float* x, int64_t ldx, float* y, int64_t ldy,
                                             const amxmm_gpu_options* options, void* stream, amxmm_gpu_plan* plan) AMXMM_C_NOEXCEPT;

/** Device workspace bytes that any amxmm_gpu_moe_gemm call with up to routing m = `m` tokens needs on
 *  `weights` (E experts of N × K) with these input rows (reserve once for the largest m). */
AMXMM_C_API amxmm_status amxmm_gpu_moe_gemm_workspace_bytes(const amxmm_gpu_weight* weights, int64_t m, int64_t top_k,
                                                            amxmm_moe_input_rows rows, const amxmm_gpu_options* options,
                                                            size_t* bytes) AMXMM_C_NOEXCEPT;
/** amxmm_moe_gemm (ggml's MUL_MAT_ID) on the GPU: y(t, s)[n] = dot(x(t, s), W_e[n]), e = ids[t][s], with
 *  the same row addressing (x + t*ldx_token [+ s*ldx_slot], y + t*ldy_token + s*ldy_slot; rows must not
 *  overlap each other or x). x, y and the routing's ids are device pointers; ids out of range are
 *  detected on the device and reported by amxmm_gpu_context_check_routing. */
AMXMM_C_API amxmm_status amxmm_gpu_moe_gemm(amxmm_gpu_context* context, const amxmm_gpu_weight* weights,
                                            const amxmm_moe_routing* routing, const float* x,
                                            amxmm_moe_input_rows rows, int64_t ldx_token, int64_t ldx_slot, float* y,
                                            int64_t ldy_token, int64_t ldy_slot, const amxmm_gpu_options* options,
                                            void* stream, amxmm_gpu_plan* plan) AMXMM_C_NOEXCEPT;

/** Device workspace bytes of amxmm_gpu_moe_ffn (gate: E experts of F × K). */
AMXMM_C_API amxmm_status amxmm_gpu_moe_ffn_workspace_bytes(const amxmm_gpu_weight* gate, int64_t m, int64_t top_k,
                                                           const amxmm_gpu_options* options, size_t* bytes) AMXMM_C_NOEXCEPT;
/** The fused expert FFN of amxmm_moe_ffn on the GPU (gate, up: E × F × K; down: E × K × F). The
 *  routing's ids and `weights` are device arrays; ids out of range are detected on the device and
 *  reported by amxmm_gpu_context_check_routing (see <amxmm/cuda/moe.cuh>). */
AMXMM_C_API amxmm_status amxmm_gpu_moe_ffn(amxmm_gpu_context* context, const amxmm_gpu_weight* gate,
                                           const amxmm_gpu_weight* up, const amxmm_gpu_weight* down,
                                           const amxmm_moe_routing* routing, const float* weights, int64_t ld_weights,
                                           const float* x, int64_t ldx, float* y, int64_t ldy,
                                           const amxmm_gpu_options* options, void* stream, amxmm_gpu_plan* plan) AMXMM_C_NOEXCEPT;

/* ---- placement plans --------------------------------------------------------------------------- */
/* amxmm's planner (<amxmm/plan.hpp>, the amxmm-plan tool) from C: where should each weight of a model
 * live — repacked for amxmm's AMX/VNNI CPU kernels, in host memory in the file layout, or on a GPU —
 * for the least predicted time of a workload, within every device's memory. Planning reads only the
 * model's description (GGUF metadata and tensor table), never its tensor data, and runs no kernel.
 *
 *     amxmm_plan* plan;                                       // NULL hardware: this machine
 *     if (amxmm_plan_create("model.gguf", NULL, NULL, NULL, &plan) != AMXMM_OK)
 *         return fprintf(stderr, "amxmm: %s\n", amxmm_last_error()), -1;
 *     amxmm_plan_tensor_count(plan, &count);
 *     for (i = 0; i < count; ++i)                             // load tensor i where the plan says:
 *         amxmm_plan_tensor_placement(plan, i, &kind, &gpu);  // amxmm_pack_* for CPU_AMX, ...
 *     amxmm_plan_destroy(plan);
 *
 * A plan is immutable: every query may run on any number of threads at once. Strings a query returns
 * (const char*) belong to the plan and stay valid until amxmm_plan_destroy. Text reports are copied into
 * a caller's buffer (amxmm_plan_to_json and its siblings; see there). The C++ planner and
 * docs/plan-json-schema.md describe the cost model, the solver and the JSON report in full.
 *
 * Linking: the implementation holds the planner, which uses dlopen (to find a CUDA driver when it
 * detects the machine): on glibc older than 2.34, link the program with -ldl. */

/** A placement plan: the model's tensors, where each lives, and the predicted performance. */
typedef struct amxmm_plan amxmm_plan;

/** Where one weight (or one expert of an expert tensor) lives. The values are stable. */
typedef enum amxmm_placement_kind {
    AMXMM_PLACE_CPU_AMX = 0,  /**< host memory, repacked to amxmm's VNNI panels (amxmm_pack_*); computed on
                                   the CPU and never copied, streamed or computed on a GPU. Q4_0 matmul
                                   weights only */
    AMXMM_PLACE_CPU_HOST = 1, /**< host memory in the GGUF file layout; computed on the CPU, or streamed to
                                   a GPU for batches of >= 32 tokens when a GPU exists (as llama.cpp does) */
    AMXMM_PLACE_GPU = 2,      /**< on GPU `gpu`, in the GPU's layout (amxmm_gpu_weight), computed there */
    AMXMM_PLACE_SPLIT = 3,    /**< tensor queries only: an expert tensor whose experts are placed one by
                                   one; ask amxmm_plan_expert_placement for each expert */
    AMXMM_PLACE_MAX_ENUM = 0x7FFFFFFF
} amxmm_placement_kind;

/** "cpu_amx", "cpu_host", "gpu", "split"; NULL for other values. */
AMXMM_C_API const char* amxmm_placement_kind_name(amxmm_placement_kind kind) AMXMM_C_NOEXCEPT;

/** What the plan optimises for. Initialise with AMXMM_PLAN_WORKLOAD_INIT or amxmm_plan_workload_init,
 *  then change what you need; passing NULL instead means all defaults. */
typedef struct amxmm_plan_workload {
    size_t struct_size;               /**< sizeof(amxmm_plan_workload): set by the initialisers */
    const int64_t* prompt_batches;    /**< prompt-processing ubatch sizes in tokens (each >= 1), copied;
                                           NULL (with count 0): one batch of 512 */
    size_t prompt_batch_count;        /**< entries of prompt_batches */
    int64_t decode_batch;             /**< sequences decoded together, >= 1; default 1 */
    int64_t context;                  /**< KV-cache cells (llama.cpp's n_ctx), >= 1; default 4096 */
    uint32_t kv_cache_type;           /**< ggml_type of the KV cache; default 1 (F16) */
    double objective_prompt_tokens;   /**< the job to minimise: a prompt of this many tokens ... (2048) */
    double objective_decode_tokens;   /**< ... then this many generated tokens (256); both finite, >= 0 */
    const char* routing_stats_json;   /**< NULL (uniform routing), or measured expert frequencies as JSON
                                           text: {"layers": [[f_0, ..., f_E-1], ...]}, one row per layer
                                           (or per MoE layer); rows are normalized */
} amxmm_plan_workload;

#define AMXMM_PLAN_WORKLOAD_INIT \
    { sizeof(amxmm_plan_workload), NULL, 0, 1, 4096, 1, 2048.0, 256.0, NULL }

/** Sets *workload to the defaults (the same as AMXMM_PLAN_WORKLOAD_INIT). */
AMXMM_C_API void amxmm_plan_workload_init(amxmm_plan_workload* workload) AMXMM_C_NOEXCEPT;

/** Plans the GGUF model at `gguf_path` (only its metadata and tensor table are read).
 *    hardware_json    NULL: this machine (CPU, memory, and the GPUs the CUDA driver shows, if any);
 *                     else JSON text describing the machine to plan for (the schema of
 *                     amxmm::plan::apply_overrides, as in the files of examples/hardware/; fields
 *                     not given are unknown; no "gpus" member, or "gpus": [], means no GPU)
 *    workload         NULL: defaults
 *    calibration_path NULL: with hardware_json NULL, this machine's cached calibration when there is
 *                     one ($XDG_CACHE_HOME/amxmm/calibration.json, written by `amxmm-plan --calibrate`),
 *                     else the roofline of the hardware description; a path: that calibration file (it
 *                     must exist), whichever machine it was measured on
 *  On failure *plan is NULL: missing file AMXMM_SYSTEM; malformed GGUF or JSON AMXMM_MALFORMED_INPUT;
 *  bad workload values AMXMM_INVALID_ARGUMENT — each with a message naming the field. A plan that
 *  cannot fit the machine is still returned (amxmm_plan_info reports valid = 0, and why). */
AMXMM_C_API amxmm_status amxmm_plan_create(const char* gguf_path, const char* hardware_json,
                                           const amxmm_plan_workload* workload, const char* calibration_path,
                                           amxmm_plan** plan) AMXMM_C_NOEXCEPT;

/** The same for a model described by JSON text instead of a file: the schema of
 *  amxmm::plan::model_from_json, e.g. {"preset": "qwen3-30b-a3b-q4_0"}, hyper-parameters from which the
 *  llama.cpp tensor table is synthesized, or an explicit "tensors" table. */
AMXMM_C_API amxmm_status amxmm_plan_create_from_model_json(const char* model_json, const char* hardware_json,
                                                           const amxmm_plan_workload* workload,
                                                           const char* calibration_path,
                                                           amxmm_plan** plan) AMXMM_C_NOEXCEPT;

/** Releases a plan (NULL is accepted). */
AMXMM_C_API void amxmm_plan_destroy(amxmm_plan* plan) AMXMM_C_NOEXCEPT;

/** Summary; any out-pointer may be NULL.
 *    layers             the model's blocks          gpus       GPUs of the machine planned for
 *    objective_seconds  predicted seconds of the objective job (amxmm_plan_workload)
 *    valid              1 when the plan fits every device's memory, else 0 (amxmm_plan_explain says why)
 *    calibrated         1 when CPU matmul times came from a calibration, 0 from the roofline */
AMXMM_C_API amxmm_status amxmm_plan_info(const amxmm_plan* plan, int* layers, int* gpus, double* objective_seconds,
                                         int* valid, int* calibrated) AMXMM_C_NOEXCEPT;

/** Tensors of the model (all of them, weights and vectors), indexed 0 .. count-1 in file order. */
AMXMM_C_API amxmm_status amxmm_plan_tensor_count(const amxmm_plan* plan, size_t* count) AMXMM_C_NOEXCEPT;

/** Index of the tensor `name` (e.g. "blk.3.ffn_up_exps.weight"); no such tensor: AMXMM_OUT_OF_RANGE. */
AMXMM_C_API amxmm_status amxmm_plan_find_tensor(const amxmm_plan* plan, const char* name, size_t* index) AMXMM_C_NOEXCEPT;

/** Tensor `index`: GGUF name, layer (the N of "blk.N."; -1 outside the blocks), ggml_type, experts (E for
 *  routed-expert tensors, 0 otherwise) and bytes in the file layout (all experts). Out-pointers may be
 *  NULL; index >= count: AMXMM_OUT_OF_RANGE. */
AMXMM_C_API amxmm_status amxmm_plan_tensor_info(const amxmm_plan* plan, size_t index, const char** name, int* layer,
                                                uint32_t* ggml_type, int64_t* experts, uint64_t* bytes) AMXMM_C_NOEXCEPT;

/** Where tensor `index` lives: *kind, and *gpu = the GPU index for AMXMM_PLACE_GPU, else -1.
 *  AMXMM_PLACE_SPLIT: an expert tensor whose experts are apart (see amxmm_plan_expert_placement). */
AMXMM_C_API amxmm_status amxmm_plan_tensor_placement(const amxmm_plan* plan, size_t index, amxmm_placement_kind* kind,
                                                     int* gpu) AMXMM_C_NOEXCEPT;

/** Where expert `expert` (in [0, E)) of expert tensor `index` lives (never AMXMM_PLACE_SPLIT), whether
 *  or not the tensor is split. A tensor without experts: AMXMM_INVALID_ARGUMENT; an expert or index
 *  out of range: AMXMM_OUT_OF_RANGE. */
AMXMM_C_API amxmm_status amxmm_plan_expert_placement(const amxmm_plan* plan, size_t index, int64_t expert,
                                                     amxmm_placement_kind* kind, int* gpu) AMXMM_C_NOEXCEPT;

/** The GPU that runs layer `layer`'s attention and holds its KV cache, or -1 for the CPU. */
AMXMM_C_API amxmm_status amxmm_plan_attention_gpu(const amxmm_plan* plan, int layer, int* gpu) AMXMM_C_NOEXCEPT;

/** Phases the prediction covers: each prompt batch of the workload, in order, then decode. */
AMXMM_C_API amxmm_status amxmm_plan_phase_count(const amxmm_plan* plan, size_t* count) AMXMM_C_NOEXCEPT;

/** Phase `index`: decode (1) or prompt processing (0), its batch in tokens, the predicted seconds of one
 *  forward pass and tokens per second (batch / seconds). Out-pointers may be NULL. */
AMXMM_C_API amxmm_status amxmm_plan_phase(const amxmm_plan* plan, size_t index, int* decode, int64_t* batch,
                                          double* seconds, double* tokens_per_s) AMXMM_C_NOEXCEPT;

/** The limit that shapes the plan, one sentence (e.g. "no GPU: every weight is computed on the CPU", or
 *  a GPU's memory naming the move it blocks). Valid until amxmm_plan_destroy. */
AMXMM_C_API amxmm_status amxmm_plan_binding_constraint(const amxmm_plan* plan, const char** text) AMXMM_C_NOEXCEPT;

/** Text reports, copied into the caller's buffer. They all work alike:
 *    - *required (never NULL) is set to the bytes the text needs, terminating NUL included;
 *    - buffer == NULL with size == 0 asks for that size only (AMXMM_OK);
 *    - size >= *required: the text and its NUL are written (AMXMM_OK);
 *    - otherwise AMXMM_BUFFER_TOO_SMALL, and nothing is written to the buffer.
 *  The texts are computed on the first request and do not change afterwards.
 *    amxmm_plan_to_json          the JSON report, schema "amxmm-plan/1" (docs/plan-json-schema.md)
 *    amxmm_plan_table            the per-layer table amxmm-plan prints (devices, ms per phase, memory)
 *    amxmm_plan_explain          predicted tokens/s, where the time goes, memory, binding constraint,
 *                                the next-best llama.cpp plan, problems of an invalid plan
 *    amxmm_plan_llama_cpp_flags  the llama.cpp -ngl / -ot flags closest to the plan, on one line, e.g.
 *                                -ngl 49 -ot "blk\.(3|4)\.ffn_.*_exps\.=CPU" (approximate when llama.cpp
 *                                cannot express the plan: the JSON report's llama_cpp.exact / notes) */
AMXMM_C_API amxmm_status amxmm_plan_to_json(const amxmm_plan* plan, char* buffer, size_t size,
                                            size_t* required) AMXMM_C_NOEXCEPT;
AMXMM_C_API amxmm_status amxmm_plan_table(const amxmm_plan* plan, char* buffer, size_t size,
                                          size_t* required) AMXMM_C_NOEXCEPT;
AMXMM_C_API amxmm_status amxmm_plan_explain(const amxmm_plan* plan, char* buffer, size_t size,
                                            size_t* required) AMXMM_C_NOEXCEPT;
AMXMM_C_API amxmm_status amxmm_plan_llama_cpp_flags(const amxmm_plan* plan, char* buffer, size_t size,
                                                    size_t* required) AMXMM_C_NOEXCEPT;

#ifdef __cplusplus
} /* extern "C" */
#endif

/* The implementation, in the one C++ translation unit that defines AMXMM_C_IMPLEMENTATION. */
#if defined(AMXMM_C_IMPLEMENTATION)
#if !defined(__cplusplus)
#error "AMXMM_C_IMPLEMENTATION must be defined in a C++17 translation unit (the implementation is C++)"
#endif
#include "amxmm_impl.hpp"
#endif

#endif /* AMXMM_C_AMXMM_H */
