/* Tests of amxmm's C API, compiled as C99 (-std=c99 -Wall -Wextra -Wpedantic -Werror).
 *
 * The implementation is compiled once in c_api_impl.cpp. Everything here is plain C: the Q4_0
 * weights are generated and dequantized by this file, and the references are computed here in
 * double precision, so the test checks the C API against an independent oracle.
 *
 *   weights + GEMM  amxmm_gemm_q4_0 against a dequantized reference, several shapes, strides and
 *                   modes; the plan it reports
 *   executors       serial, oneTBB and the _ith path on pthreads give the same bits
 *   errors          null handles, bad shapes, options, workspace, expert ids: status + message
 *                   naming the argument, outputs untouched; thread-local messages
 *   MoE             moe_gemm equals per-expert gemm bitwise (exact mode); moe_ffn against a reference,
 *                   gate/up packed together equals separate, _ith equals serial
 *   GGUF            a file written here is opened, its tensor packed, the product matches
 *   plans           the planner on small synthesized models (GGUF files and model JSON): every tensor
 *                   and expert placed, AMX/VNNI placements only for Q4_0 and never with a GPU index,
 *                   no GPU -> all on the CPU, GPU weights within a small GPU's memory, GGUF and JSON
 *                   give the same plan, phases, text reports (JSON names every tensor, sizes and
 *                   buffer-too-small), concurrent report requests, and every error path
 */
#define _POSIX_C_SOURCE 200809L

#include <amxmm/c/amxmm.h>

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- a minimal test harness ---------------------------------------------------------------------- */

static int g_checks = 0;
static int g_failures = 0;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        ++g_checks;                                                                    \
        if (!(cond)) {                                                                 \
            ++g_failures;                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
        }                                                                              \
    } while (0)

/* Checks a call's status; on failure prints the status and amxmm_last_error(). */
#define CHECK_OK(call)                                                                                  \
    do {                                                                                                \
        amxmm_status check_ok_status_ = (call);                                                         \
        ++g_checks;                                                                                     \
        if (check_ok_status_ != AMXMM_OK) {                                                             \
            ++g_failures;                                                                               \
            fprintf(stderr, "%s:%d: %s returned %s: %s\n", __FILE__, __LINE__, #call,                   \
                    amxmm_status_name(check_ok_status_), amxmm_last_error());                           \
        }                                                                                               \
    } while (0)

/* Checks that a call fails with `expected` and that its message contains `needle`. */
#define CHECK_FAILS(call, expected, needle)                                                             \
    do {                                                                                                \
        amxmm_status check_fails_status_ = (call);                                                      \
        ++g_checks;                                                                                     \
        if (check_fails_status_ != (expected) || strstr(amxmm_last_error(), (needle)) == NULL) {        \
            ++g_failures;                                                                               \
            fprintf(stderr, "%s:%d: %s returned %s (\"%s\"), expected %s with a message containing \"%s\"\n", \
                    __FILE__, __LINE__, #call, amxmm_status_name(check_fails_status_), amxmm_last_error(), \
                    amxmm_status_name(expected), (needle));                                             \
        }                                                                                               \
    } while (0)

/* ---- Q4_0 in plain C ------------------------------------------------------------------------------ */

/* GGUF's block_q4_0: fp16 scale, then 16 bytes of nibbles (element j: low nibble of qs[j], element
 * j + 16: high nibble; value (nibble - 8) * d). */
typedef struct q4_0_block {
    uint16_t d;
    uint8_t qs[16];
} q4_0_block;
typedef char q4_0_block_is_18_bytes[sizeof(q4_0_block) == 18 ? 1 : -1];

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) { /* xorshift64* */
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (uint32_t)((g_rng * 0x2545F4914F6CDD1Dull) >> 32);
}
static float rnd_unit(void) { return (float)rnd() / 4294967296.0f * 2.0f - 1.0f; } /* [-1, 1) */

/* A normal fp16 in [2^-6, 2^-2): exponent 9..12, random mantissa. */
static uint16_t rnd_scale(void) { return (uint16_t)(((9u + rnd() % 4u) << 10) | (rnd() & 1023u)); }

static float fp16_to_float(uint16_t h) {
    const unsigned exponent = (h >> 10) & 31u, mantissa = h & 1023u;
    const float v = exponent == 0 ? ldexpf((float)mantissa, -24) : ldexpf((float)(mantissa | 1024u), (int)exponent - 25);
    return (h & 0x8000u) ? -v : v;
}

static q4_0_block* make_blocks(size_t count) {
    q4_0_block* b = malloc(count * sizeof *b);
    size_t i;
    int j;
    for (i = 0; i < count; ++i) {
        b[i].d = rnd_scale();
        for (j = 0; j < 16; ++j) b[i].qs[j] = (uint8_t)rnd();
    }
    return b;
}

/* rows × k floats from rows × k/32 blocks. */
static float* dequantize(const q4_0_block* b, int64_t rows, int64_t k) {
    float* w = malloc((size_t)(rows * k) * sizeof *w);
    int64_t r, blk;
    int j;
    for (r = 0; r < rows; ++r)
        for (blk = 0; blk < k / 32; ++blk) {
            const q4_0_block* q = &b[r * (k / 32) + blk];
            const float d = fp16_to_float(q->d);
            for (j = 0; j < 16; ++j) {
                w[r * k + blk * 32 + j] = d * (float)((q->qs[j] & 15) - 8);
                w[r * k + blk * 32 + j + 16] = d * (float)((q->qs[j] >> 4) - 8);
            }
        }
    return w;
}

static float* make_activations(int64_t m, int64_t ld) {
    float* x = malloc((size_t)(m * ld) * sizeof *x);
    int64_t i;
    for (i = 0; i < m * ld; ++i) x[i] = rnd_unit();
    return x;
}

/* Checks y (m × n, stride ldy) against the double-precision product of x (stride ldx) and the
 * dequantized w (n × k). Allowed error: exact mode quantizes each 32-block of x to Q8_0 (step
 * amax/127, scale rounded to fp16); fast mode rounds w and x to bf16 (2^-8 relative each). */
static int matches_reference(const float* y, int64_t ldy, const float* x, int64_t ldx, const float* w, int64_t m,
                             int64_t n, int64_t k, amxmm_mode mode) {
    int64_t i, c, kk, blk;
    int ok = 1;
    for (i = 0; i < m; ++i)
        for (c = 0; c < n; ++c) {
            double ref = 0, abs_sum = 0, bound = 0;
            for (blk = 0; blk < k / 32; ++blk) {
                double amax = 0, w_abs = 0;
                for (kk = blk * 32; kk < blk * 32 + 32; ++kk) {
                    const double xv = x[i * ldx + kk], wv = w[c * k + kk];
                    ref += xv * wv;
                    abs_sum += fabs(xv * wv);
                    w_abs += fabs(wv);
                    if (fabs(xv) > amax) amax = fabs(xv);
                }
                bound += amax * (1.0 / 127 + 1.0 / 512) * w_abs;
            }
            bound = mode == AMXMM_MODE_FAST ? abs_sum / 128 : bound;
            bound += 1e-5 * abs_sum + 1e-30;
            if (fabs(y[i * ldy + c] - ref) > bound) {
                if (ok)
                    fprintf(stderr, "  y[%ld][%ld] = %.9g, reference %.9g, allowed error %.3g\n", (long)i, (long)c,
                            (double)y[i * ldy + c], ref, bound);
                ok = 0;
            }
        }
    return ok;
}

static void fill(float* p, size_t count, float v) {
    size_t i;
    for (i = 0; i < count; ++i) p[i] = v;
}
static int all_equal(const float* p, size_t count, float v) {
    size_t i;
    for (i = 0; i < count; ++i)
        if (p[i] != v) return 0;
    return 1;
}

/* ---- version, back ends --------------------------------------------------------------------------- */

static void test_version_and_isa(void) {
    amxmm_isa best = AMXMM_ISA_AUTO;
    const char* reason = NULL;
    CHECK(amxmm_c_api_version() == AMXMM_C_API_VERSION);
    CHECK(amxmm_version() == AMXMM_C_VERSION_MAJOR * 10000u + AMXMM_C_VERSION_MINOR * 100u + AMXMM_C_VERSION_PATCH);
    CHECK(strcmp(amxmm_version_string(), "0.2.0") == 0);
    CHECK_OK(amxmm_best_isa(&best, &reason));
    CHECK(best >= AMXMM_ISA_SCALAR && best <= AMXMM_ISA_AMX_EMULATED);
    CHECK(reason != NULL && strstr(reason, amxmm_isa_name(best)) == reason);
    printf("best ISA: %s (%s)\n", amxmm_isa_name(best), reason);
    CHECK(amxmm_isa_supported(AMXMM_ISA_SCALAR) == 1);
    CHECK(amxmm_isa_supported(AMXMM_ISA_AMX_EMULATED) == 1);
    CHECK(amxmm_isa_supported(best) == 1);
    CHECK(amxmm_isa_supported((amxmm_isa)42) == 0);
    CHECK(strcmp(amxmm_isa_name(AMXMM_ISA_AVX512_VNNI), "avx512_vnni") == 0);
    CHECK(strcmp(amxmm_isa_name(AMXMM_ISA_AUTO), "auto") == 0);
    CHECK(amxmm_isa_name((amxmm_isa)42) == NULL);
    CHECK(strcmp(amxmm_status_name(AMXMM_BUFFER_TOO_SMALL), "AMXMM_BUFFER_TOO_SMALL") == 0);
    CHECK(strcmp(amxmm_status_name((amxmm_status)99), "AMXMM_UNKNOWN_STATUS") == 0);
    /* negative values too (C++ reads them as int: no enum load out of range, clean under UBSan) */
    CHECK(strcmp(amxmm_status_name((amxmm_status)-1), "AMXMM_UNKNOWN_STATUS") == 0);
    CHECK(amxmm_isa_name((amxmm_isa)-2) == NULL);
    CHECK(amxmm_isa_supported((amxmm_isa)-2) == 0);
    CHECK(amxmm_gpu_available() == 0 || amxmm_gpu_available() == 1);
}

/* This implementation is compiled without AMXMM_C_WITH_CUDA: the GPU functions exist and say so. */
static void test_gpu_without_cuda(void) {
    amxmm_gpu_context* ctx = (amxmm_gpu_context*)&ctx;
    amxmm_gpu_weight* w = (amxmm_gpu_weight*)&w;
    amxmm_gpu_options opt = AMXMM_GPU_OPTIONS_INIT, opt2;
    amxmm_gpu_options_init(&opt2);
    CHECK(opt.struct_size == sizeof opt && opt2.struct_size == sizeof opt && opt2.path == AMXMM_GPU_PATH_AUTO);
    CHECK(opt.moe_grouping == AMXMM_GPU_MOE_GROUPING_AUTO && opt2.moe_grouping == AMXMM_GPU_MOE_GROUPING_AUTO &&
          opt.reserved == 0 && opt2.reserved == 0);
    CHECK(amxmm_gpu_available() == 0);
    CHECK_FAILS(amxmm_gpu_context_create(0, &ctx), AMXMM_UNSUPPORTED, "without CUDA");
    CHECK(ctx == NULL);
    CHECK_FAILS(amxmm_gpu_weight_upload_q4_0(NULL, 1, 16, 32, NULL, &w), AMXMM_UNSUPPORTED, "AMXMM_C_WITH_CUDA");
    CHECK(w == NULL);
    CHECK_FAILS(amxmm_gpu_gemm_q4_0(NULL, NULL, 1, NULL, 32, NULL, 16, &opt, NULL, NULL), AMXMM_UNSUPPORTED,
                "amxmm_gpu_gemm_q4_0");
    CHECK_FAILS(amxmm_gpu_moe_gemm(NULL, NULL, NULL, NULL, AMXMM_MOE_ROWS_PER_TOKEN, 32, 0, NULL, 16, 16, &opt, NULL,
                                   NULL),
                AMXMM_UNSUPPORTED, "amxmm_gpu_moe_gemm");
    CHECK_FAILS(amxmm_gpu_moe_gemm_workspace_bytes(NULL, 1, 1, AMXMM_MOE_ROWS_PER_TOKEN, &opt, NULL), AMXMM_UNSUPPORTED,
                "amxmm_gpu_moe_gemm_workspace_bytes");
    CHECK_FAILS(amxmm_gpu_context_check_routing(NULL, NULL), AMXMM_UNSUPPORTED, "without CUDA");
    amxmm_gpu_context_free(NULL);
    amxmm_gpu_weight_free(NULL);
}

/* ---- dense GEMM ------------------------------------------------------------------------------------- */

static void test_gemm_against_reference(amxmm_executor* pool) {
    static const int64_t shapes[][3] = {{1, 40, 96}, {3, 16, 32}, {33, 72, 128}, {70, 48, 64}}; /* m, n, k */
    size_t s;
    for (s = 0; s < sizeof shapes / sizeof shapes[0]; ++s) {
        const int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        const int64_t ldx = k + 8, ldy = n + 3;
        q4_0_block* blocks = make_blocks((size_t)(n * k / 32));
        float* w = dequantize(blocks, n, k);
        float* x = make_activations(m, ldx);
        float* y = malloc((size_t)(m * ldy) * sizeof *y);
        float* y_pool = malloc((size_t)(m * ldy) * sizeof *y);
        amxmm_packed_weight* packed = NULL;
        amxmm_gemm_plan plan;
        int64_t pn = 0, pk = 0;
        size_t bytes = 0;
        int mode_index;
        CHECK_OK(amxmm_pack_q4_0_vnni(blocks, n, k, pool, &packed));
        CHECK_OK(amxmm_packed_weight_info(packed, &pn, &pk, &bytes));
        CHECK(pn == n && pk == k && bytes >= (size_t)(n * k / 2));

        for (mode_index = 0; mode_index < 3; ++mode_index) {
            amxmm_gemm_options opt = AMXMM_GEMM_OPTIONS_INIT;
            opt.mode = (amxmm_mode)mode_index;
            fill(y, (size_t)(m * ldy), -7.0f);
            CHECK_OK(amxmm_gemm_q4_0(packed, m, x, ldx, y, ldy, &opt, NULL, &plan));
            CHECK(plan.mode == (opt.mode == AMXMM_MODE_AUTO ? plan.mode : opt.mode));
            CHECK(plan.mode == AMXMM_MODE_EXACT || plan.mode == AMXMM_MODE_FAST);
            CHECK(amxmm_isa_supported(plan.isa) == 1 && strlen(plan.reason) > 0);
            CHECK(matches_reference(y, ldy, x, ldx, w, m, n, k, plan.mode));
            CHECK(y[n] == -7.0f); /* the stride gap of row 0 is not written */
            /* the thread pool gives the same bits */
            CHECK_OK(amxmm_gemm_q4_0(packed, m, x, ldx, y_pool, ldy, &opt, pool, NULL));
            {
                int64_t i;
                for (i = 0; i < m; ++i) CHECK(memcmp(y + i * ldy, y_pool + i * ldy, (size_t)n * sizeof *y) == 0);
            }
        }
        /* the emulated AMX tiles, forced */
        {
            amxmm_gemm_options opt;
            amxmm_gemm_options_init(&opt);
            opt.force_isa = AMXMM_ISA_AMX_EMULATED;
            opt.mode = AMXMM_MODE_EXACT;
            CHECK_OK(amxmm_gemm_q4_0(packed, m, x, ldx, y, ldy, &opt, pool, &plan));
            CHECK(plan.isa == AMXMM_ISA_AMX_EMULATED && plan.mode == AMXMM_MODE_EXACT);
            CHECK(matches_reference(y, ldy, x, ldx, w, m, n, k, AMXMM_MODE_EXACT));
        }
        amxmm_packed_weight_free(packed);
        free(blocks);
        free(w);
        free(x);
        free(y);
        free(y_pool);
    }
}

/* ---- engine threads: the _ith functions on pthreads ------------------------------------------------ */

enum { NTH = 3 };

typedef struct ith_job {
    int kind; /* 0: gemm, 1: moe_gemm, 2: moe_ffn */
    int ith, nth;
    amxmm_sync* sync;
    amxmm_gemm_options opt;
    const amxmm_packed_weight* weight;
    const amxmm_packed_experts *gate, *up, *down;
    const amxmm_moe_routing* routing;
    const float* route_weights;
    const float* x;
    float* y;
    int64_t m, ldx, ldy, n;
    amxmm_status status;
    char message[256];
} ith_job;

static void* run_ith(void* arg) {
    ith_job* j = arg;
    switch (j->kind) {
        case 0:
            j->status = amxmm_gemm_q4_0_ith(j->weight, j->m, j->x, j->ldx, j->y, j->ldy, &j->opt, j->ith, j->nth,
                                            j->sync, NULL);
            break;
        case 1:
            j->status = amxmm_moe_gemm_ith(j->gate, j->routing, j->x, AMXMM_MOE_ROWS_PER_TOKEN, j->ldx, 0, j->y,
                                           j->routing->top_k * j->n, j->n, &j->opt, j->ith, j->nth, j->sync, NULL);
            break;
        default:
            j->status = amxmm_moe_ffn_ith(j->gate, j->up, j->down, j->routing, j->route_weights, j->routing->top_k,
                                          j->x, j->ldx, j->y, j->ldy, &j->opt, j->ith, j->nth, j->sync, NULL);
            break;
    }
    snprintf(j->message, sizeof j->message, "%s", j->status == AMXMM_OK ? "" : amxmm_last_error());
    return NULL;
}

/* A gemm job (kind 0) on `sync`; ith and nth are the caller's to set. */
static ith_job gemm_job(const amxmm_packed_weight* weight, int64_t m, const float* x, int64_t ldx, float* y, int64_t ldy,
                        const amxmm_gemm_options* opt, amxmm_sync* sync) {
    ith_job j;
    memset(&j, 0, sizeof j);
    j.kind = 0;
    j.sync = sync;
    j.opt = *opt;
    j.weight = weight;
    j.x = x;
    j.y = y;
    j.m = m;
    j.ldx = ldx;
    j.ldy = ldy;
    return j;
}

/* Runs jobs[0 .. count) on pthreads, each with its own ith and nth, and joins them. */
static void run_jobs(ith_job* jobs, int count) {
    pthread_t threads[NTH];
    int i;
    for (i = 0; i < count; ++i) CHECK(pthread_create(&threads[i], NULL, run_ith, &jobs[i]) == 0);
    for (i = 0; i < count; ++i) pthread_join(threads[i], NULL);
}

/* Runs NTH copies of `proto` (thread ith gets ith of NTH) on pthreads and joins them. */
static void run_on_threads(const ith_job* proto, ith_job* jobs) {
    int i;
    for (i = 0; i < NTH; ++i) {
        jobs[i] = *proto;
        jobs[i].ith = i;
        jobs[i].nth = NTH;
    }
    run_jobs(jobs, NTH);
}

static void test_gemm_on_engine_threads(void) {
    const int64_t n = 80, k = 256;
    static const int64_t ms[] = {1, 5, 40, 130};
    q4_0_block* blocks = make_blocks((size_t)(n * k / 32));
    amxmm_packed_weight* packed = NULL;
    amxmm_sync* sync = NULL;
    size_t t;
    CHECK_OK(amxmm_pack_q4_0_vnni(blocks, n, k, NULL, &packed));
    CHECK_OK(amxmm_sync_create(NTH, &sync));
    for (t = 0; t < sizeof ms / sizeof ms[0]; ++t) {
        const int64_t m = ms[t];
        float* x = make_activations(m, k);
        float* y_serial = malloc((size_t)(m * n) * sizeof(float));
        float* y = malloc((size_t)(m * n) * sizeof(float));
        void* ws = NULL;
        size_t ws_bytes = amxmm_gemm_workspace_bytes(m, k);
        ith_job proto, jobs[NTH];
        int i, mode;
        CHECK(ws_bytes > 0);
        CHECK_OK(amxmm_aligned_alloc(ws_bytes, &ws));
        for (mode = 0; mode < 3; ++mode) {
            amxmm_gemm_options opt = AMXMM_GEMM_OPTIONS_INIT;
            opt.mode = (amxmm_mode)mode;
            CHECK_OK(amxmm_gemm_q4_0(packed, m, x, k, y_serial, n, &opt, NULL, NULL));
            opt.workspace = ws;
            opt.workspace_bytes = ws_bytes;
            proto = gemm_job(packed, m, x, k, y, n, &opt, sync);
            fill(y, (size_t)(m * n), 0.0f);
            run_on_threads(&proto, jobs);
            for (i = 0; i < NTH; ++i) CHECK(jobs[i].status == AMXMM_OK);
            CHECK(memcmp(y, y_serial, (size_t)(m * n) * sizeof(float)) == 0); /* bitwise */
        }
        /* A task's failure reaches every thread: a NaN in x (exact mode) fails on all of them alike,
         * and y is left alone. */
        {
            amxmm_gemm_options opt = AMXMM_GEMM_OPTIONS_INIT;
            opt.mode = AMXMM_MODE_EXACT;
            opt.workspace = ws;
            opt.workspace_bytes = ws_bytes;
            x[(m - 1) * k + 3] = NAN;
            proto.opt = opt;
            fill(y, (size_t)(m * n), 5.0f);
            run_on_threads(&proto, jobs);
            for (i = 0; i < NTH; ++i) {
                CHECK(jobs[i].status == AMXMM_INVALID_ARGUMENT);
                CHECK(strstr(jobs[i].message, "not finite") != NULL);
            }
            CHECK(all_equal(y, (size_t)(m * n), 5.0f));
        }
        /* Without a workspace every thread is refused before any work. */
        {
            proto.opt.workspace = NULL;
            proto.opt.workspace_bytes = 0;
            x[(m - 1) * k + 3] = 0.5f;
            run_on_threads(&proto, jobs);
            for (i = 0; i < NTH; ++i) {
                CHECK(jobs[i].status == AMXMM_INVALID_ARGUMENT);
                CHECK(strstr(jobs[i].message, "workspace") != NULL);
            }
        }
        amxmm_aligned_free(ws);
        free(x);
        free(y);
        free(y_serial);
    }
    amxmm_sync_free(sync);
    amxmm_packed_weight_free(packed);
    free(blocks);
}

/* ---- errors ------------------------------------------------------------------------------------------ */

static void test_errors(void) {
    const int64_t n = 32, k = 64, m = 2;
    q4_0_block* blocks = make_blocks((size_t)(n * k / 32));
    float* x = make_activations(m, k);
    float y[2 * 32];
    amxmm_packed_weight* packed = NULL;
    amxmm_packed_weight* never = (amxmm_packed_weight*)&never; /* must be overwritten with NULL on failure */
    amxmm_gemm_options opt = AMXMM_GEMM_OPTIONS_INIT;
    amxmm_sync* sync = NULL;
    amxmm_executor* ex = NULL;
    void* mem = NULL;
    CHECK_OK(amxmm_pack_q4_0_vnni(blocks, n, k, NULL, &packed));
    fill(y, 64, 3.0f);

    /* handles and pointers */
    CHECK_FAILS(amxmm_gemm_q4_0(NULL, m, x, k, y, n, NULL, NULL, NULL), AMXMM_INVALID_ARGUMENT, "weight is null");
    CHECK_FAILS(amxmm_gemm_q4_0(packed, m, NULL, k, y, n, NULL, NULL, NULL), AMXMM_INVALID_ARGUMENT, "x is null");
    CHECK_FAILS(amxmm_packed_weight_info(NULL, NULL, NULL, NULL), AMXMM_INVALID_ARGUMENT, "weight is null");
    CHECK_FAILS(amxmm_pack_q4_0_vnni(NULL, n, k, NULL, &never), AMXMM_INVALID_ARGUMENT, "blocks is null");
    CHECK(never == NULL);
    CHECK_FAILS(amxmm_pack_q4_0_vnni(blocks, n, k, NULL, NULL), AMXMM_INVALID_ARGUMENT, "weight is null");
    CHECK_FAILS(amxmm_pack_q4_0_vnni((const char*)blocks + 1, n, k, NULL, &never), AMXMM_INVALID_ARGUMENT,
                "aligned");
    CHECK_FAILS(amxmm_sync_create(0, &sync), AMXMM_INVALID_ARGUMENT, "nth = 0");
    CHECK_FAILS(amxmm_sync_create(1 << 20, &sync), AMXMM_INVALID_ARGUMENT, "nth = 1048576 must be in 1 .. 1048575");
    CHECK(sync == NULL);
    CHECK_FAILS(amxmm_executor_create(2, NULL), AMXMM_INVALID_ARGUMENT, "executor is null");
    CHECK_FAILS(amxmm_aligned_alloc(0, &mem), AMXMM_INVALID_ARGUMENT, "bytes = 0");

    /* shapes and strides: the message names the argument and its value */
    CHECK_FAILS(amxmm_pack_q4_0_vnni(blocks, n, 33, NULL, &never), AMXMM_INVALID_ARGUMENT, "K = 33");
    CHECK_FAILS(amxmm_pack_q4_0_vnni(blocks, 0, k, NULL, &never), AMXMM_INVALID_ARGUMENT, "N (weight rows) = 0");
    CHECK_FAILS(amxmm_gemm_q4_0(packed, m, x, k - 1, y, n, NULL, NULL, NULL), AMXMM_INVALID_ARGUMENT, "ldx = 63");
    CHECK_FAILS(amxmm_gemm_q4_0(packed, m, x, k, y, n - 1, NULL, NULL, NULL), AMXMM_INVALID_ARGUMENT, "ldy = 31");
    CHECK_FAILS(amxmm_gemm_q4_0(packed, -1, x, k, y, n, NULL, NULL, NULL), AMXMM_INVALID_ARGUMENT, "m = -1");
    CHECK_FAILS(amxmm_gemm_q4_0(packed, m, x, k, (float*)x + 1, n, NULL, NULL, NULL), AMXMM_INVALID_ARGUMENT,
                "overlaps");
    CHECK(amxmm_gemm_workspace_bytes(1, 33) == 0 && strstr(amxmm_last_error(), "K = 33") != NULL);
    CHECK(amxmm_gemm_workspace_bytes(-1, 64) == 0 && strstr(amxmm_last_error(), "m = -1") != NULL);
    CHECK(amxmm_moe_ffn_workspace_bytes(1, 9, 8, 64, 64) == 0 && strstr(amxmm_last_error(), "top_k = 9") != NULL);
    /* m x top_k beyond int64 (2^33 x 2^31): bounded before the product is formed, so 0 and a message */
    CHECK(amxmm_gemm_workspace_bytes(1, 33) == 0); /* an unrelated message first */
    CHECK(amxmm_moe_gemm_workspace_bytes((int64_t)1 << 33, (int64_t)1 << 31, (int64_t)1 << 31, 32) == 0 &&
          strstr(amxmm_last_error(), "m = 8589934592 with top_k = 2147483648") != NULL);
    CHECK(amxmm_gemm_workspace_bytes(1, 33) == 0);
    CHECK(amxmm_moe_ffn_workspace_bytes((int64_t)1 << 33, (int64_t)1 << 31, (int64_t)1 << 31, 32, 32) == 0 &&
          strstr(amxmm_last_error(), "m = 8589934592 with top_k = 2147483648") != NULL);
    /* the largest accepted pair count still works; one more pair is refused */
    CHECK(amxmm_moe_gemm_workspace_bytes((int64_t)1 << 38, 4, 8, 32) > 0);
    CHECK(amxmm_moe_gemm_workspace_bytes(((int64_t)1 << 38) + 1, 4, 8, 32) == 0 &&
          strstr(amxmm_last_error(), "2^40 pairs") != NULL);

    /* options */
    opt.struct_size = 0;
    CHECK_FAILS(amxmm_gemm_q4_0(packed, m, x, k, y, n, &opt, NULL, NULL), AMXMM_INVALID_ARGUMENT, "struct_size");
    amxmm_gemm_options_init(&opt);
    opt.mode = (amxmm_mode)7;
    CHECK_FAILS(amxmm_gemm_q4_0(packed, m, x, k, y, n, &opt, NULL, NULL), AMXMM_INVALID_ARGUMENT,
                "options->mode = 7");
    /* negative enum values: rejected with the value, not undefined behaviour on the C++ side */
    opt.mode = (amxmm_mode)-1;
    CHECK_FAILS(amxmm_gemm_q4_0(packed, m, x, k, y, n, &opt, NULL, NULL), AMXMM_INVALID_ARGUMENT,
                "options->mode = -1");
    amxmm_gemm_options_init(&opt);
    opt.activation = (amxmm_activation)-1;
    CHECK_FAILS(amxmm_gemm_q4_0(packed, m, x, k, y, n, &opt, NULL, NULL), AMXMM_INVALID_ARGUMENT,
                "options->activation = -1");
    amxmm_gemm_options_init(&opt);
    opt.force_isa = (amxmm_isa)-2;
    CHECK_FAILS(amxmm_gemm_q4_0(packed, m, x, k, y, n, &opt, NULL, NULL), AMXMM_INVALID_ARGUMENT,
                "options->force_isa = -2");
    amxmm_gemm_options_init(&opt);
    opt.force_isa = (amxmm_isa)9;
    CHECK_FAILS(amxmm_gemm_q4_0(packed, m, x, k, y, n, &opt, NULL, NULL), AMXMM_INVALID_ARGUMENT,
                "options->force_isa = 9");
    if (!amxmm_isa_supported(AMXMM_ISA_AMX)) {
        amxmm_gemm_options_init(&opt);
        opt.force_isa = AMXMM_ISA_AMX;
        CHECK_FAILS(amxmm_gemm_q4_0(packed, m, x, k, y, n, &opt, NULL, NULL), AMXMM_UNSUPPORTED, "force_isa = amx");
    }
    /* workspace */
    CHECK_OK(amxmm_aligned_alloc(amxmm_gemm_workspace_bytes(m, k), &mem));
    amxmm_gemm_options_init(&opt);
    opt.workspace = mem;
    opt.workspace_bytes = amxmm_gemm_workspace_bytes(m, k) - 1;
    CHECK_FAILS(amxmm_gemm_q4_0(packed, m, x, k, y, n, &opt, NULL, NULL), AMXMM_BUFFER_TOO_SMALL, "workspace_bytes");
    opt.workspace = (char*)mem + 32;
    CHECK_FAILS(amxmm_gemm_q4_0(packed, m, x, k, y, n, &opt, NULL, NULL), AMXMM_INVALID_ARGUMENT, "64-byte aligned");
    opt.workspace = mem;
    opt.workspace_bytes = amxmm_gemm_workspace_bytes(m, k);
    /* misused indices on two threads: both threads fail, neither is left waiting for the other */
    CHECK_OK(amxmm_sync_create(2, &sync));
    {
        static const int cases[][4] = {{0, 3, 1, 3}, {0, 2, 2, 2}, {1, 2, 1, 2}, {0, 2, -1, 2}};
        static const char* const parts[] = {"nth = 3 do not describe one of the sync's 2", "ith = 2, nth = 2 do not",
                                            "same ith", "ith = -1"};
        size_t c;
        for (c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
            ith_job jobs[2];
            int i;
            for (i = 0; i < 2; ++i) {
                jobs[i] = gemm_job(packed, m, x, k, y, n, &opt, sync);
                jobs[i].ith = cases[c][2 * i];
                jobs[i].nth = cases[c][2 * i + 1];
            }
            run_jobs(jobs, 2);
            for (i = 0; i < 2; ++i) {
                CHECK(jobs[i].status == AMXMM_INVALID_ARGUMENT);
                CHECK(strstr(jobs[i].message, parts[c]) != NULL);
            }
        }
    }
    CHECK_FAILS(amxmm_gemm_q4_0_ith(packed, m, x, k, y, n, &opt, 0, 2, NULL, NULL), AMXMM_INVALID_ARGUMENT,
                "sync is null");
    /* nothing was written by any failed call */
    CHECK(all_equal(y, 64, 3.0f));
    /* and a good call works with the workspace */
    CHECK_OK(amxmm_gemm_q4_0(packed, m, x, k, y, n, &opt, NULL, NULL));
    /* a one-thread sync: the _ith path on the calling thread alone */
    amxmm_sync_free(sync);
    CHECK_OK(amxmm_sync_create(1, &sync));
    CHECK_OK(amxmm_gemm_q4_0_ith(packed, m, x, k, y, n, &opt, 0, 1, sync, NULL));

    /* GGUF */
    {
        amxmm_gguf* f = (amxmm_gguf*)&f;
        CHECK_FAILS(amxmm_gguf_open("/nonexistent/amxmm-test.gguf", &f), AMXMM_SYSTEM, "/nonexistent/amxmm-test.gguf");
        CHECK(f == NULL);
        CHECK_FAILS(amxmm_gguf_open(NULL, &f), AMXMM_INVALID_ARGUMENT, "path is null");
    }

    CHECK_OK(amxmm_executor_create(1, &ex));
    CHECK(amxmm_executor_threads(ex) >= 1);
    CHECK(amxmm_executor_threads(NULL) == 1);
    amxmm_executor_free(ex);
    amxmm_executor_free(NULL); /* every *_free accepts NULL */
    amxmm_packed_weight_free(NULL);
    amxmm_packed_experts_free(NULL);
    amxmm_sync_free(NULL);
    amxmm_gguf_close(NULL);
    amxmm_aligned_free(NULL);

    amxmm_sync_free(sync);
    amxmm_aligned_free(mem);
    amxmm_packed_weight_free(packed);
    free(blocks);
    free(x);
}

/* Each thread has its own last error. */
typedef struct error_job {
    int64_t bad_k;
    char seen_before[64];
    char seen_after[256];
} error_job;

static void* fail_on_thread(void* arg) {
    error_job* j = arg;
    snprintf(j->seen_before, sizeof j->seen_before, "%s", amxmm_last_error());
    (void)amxmm_gemm_workspace_bytes(1, j->bad_k);
    snprintf(j->seen_after, sizeof j->seen_after, "%s", amxmm_last_error());
    return NULL;
}

static void test_thread_local_errors(void) {
    error_job a, b;
    pthread_t ta, tb;
    amxmm_packed_weight* never = NULL;
    CHECK_FAILS(amxmm_pack_q4_0_vnni(NULL, 16, 32, NULL, &never), AMXMM_INVALID_ARGUMENT, "blocks is null");
    a.bad_k = 33;
    b.bad_k = 65;
    CHECK(pthread_create(&ta, NULL, fail_on_thread, &a) == 0);
    CHECK(pthread_create(&tb, NULL, fail_on_thread, &b) == 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK(strcmp(a.seen_before, "") == 0); /* a new thread starts with no message */
    CHECK(strcmp(b.seen_before, "") == 0);
    CHECK(strstr(a.seen_after, "K = 33") != NULL && strstr(a.seen_after, "K = 65") == NULL);
    CHECK(strstr(b.seen_after, "K = 65") != NULL && strstr(b.seen_after, "K = 33") == NULL);
    CHECK(strstr(amxmm_last_error(), "blocks is null") != NULL); /* this thread's is unchanged */
    /* a successful call leaves it unchanged too */
    CHECK(amxmm_gemm_workspace_bytes(1, 64) > 0);
    CHECK(strstr(amxmm_last_error(), "blocks is null") != NULL);
}

/* ---- mixture of experts --------------------------------------------------------------------------- */

static double silu(double g) { return g / (1.0 + exp(-g)); }

static void test_moe(amxmm_executor* pool) {
    enum { E = 6, K = 64, F = 96, M = 7, TOP_K = 2 };
    q4_0_block* gate_b = make_blocks((size_t)E * F * K / 32);
    q4_0_block* up_b = make_blocks((size_t)E * F * K / 32);
    q4_0_block* down_b = make_blocks((size_t)E * K * F / 32);
    float* wg = dequantize(gate_b, (int64_t)E * F, K);
    float* wu = dequantize(up_b, (int64_t)E * F, K);
    float* wd = dequantize(down_b, (int64_t)E * K, F);
    float* x = make_activations(M, K);
    int32_t ids[M * TOP_K];
    float route_w[M * TOP_K];
    float y[M * K], y2[M * K], y3[M * K];
    float g_out[M * TOP_K * F];
    amxmm_packed_experts *gate = NULL, *up = NULL, *down = NULL, *gate_up = NULL;
    amxmm_moe_routing routing;
    amxmm_gemm_plan plan;
    int64_t e_count = 0, rows = 0, cols = 0;
    int fused = -1, t, s;
    size_t bytes = 0;

    for (t = 0; t < M; ++t) {
        ids[t * TOP_K] = (int32_t)(rnd() % E);
        ids[t * TOP_K + 1] = t == 3 ? ids[t * TOP_K] : (int32_t)((ids[t * TOP_K] + 1 + rnd() % (E - 1)) % E);
        route_w[t * TOP_K] = 0.25f + 0.5f * (float)(rnd() % 100) / 100.0f;
        route_w[t * TOP_K + 1] = 1.0f - route_w[t * TOP_K];
    }
    routing.m = M;
    routing.top_k = TOP_K;
    routing.ids = ids;
    routing.ld_ids = TOP_K;

    CHECK_OK(amxmm_pack_q4_0_vnni_experts(gate_b, E, F, K, pool, &gate));
    CHECK_OK(amxmm_pack_q4_0_vnni_experts(up_b, E, F, K, NULL, &up));
    CHECK_OK(amxmm_pack_q4_0_vnni_experts(down_b, E, K, F, pool, &down));
    CHECK_OK(amxmm_pack_q4_0_vnni_gate_up(gate_b, up_b, E, F, K, pool, &gate_up));
    CHECK_OK(amxmm_packed_experts_info(gate_up, &e_count, &rows, &cols, &bytes, &fused));
    CHECK(e_count == E && rows == F && cols == K && fused == 1 && bytes > 0);
    CHECK_OK(amxmm_packed_experts_info(down, &e_count, &rows, &cols, NULL, &fused));
    CHECK(e_count == E && rows == K && cols == F && fused == 0);

    /* moe_gemm (exact) equals amxmm_gemm_q4_0 on each (token, slot)'s expert, bit for bit */
    {
        amxmm_gemm_options opt = AMXMM_GEMM_OPTIONS_INIT;
        opt.mode = AMXMM_MODE_EXACT;
        CHECK_OK(amxmm_moe_gemm(gate, &routing, x, AMXMM_MOE_ROWS_PER_TOKEN, K, 0, g_out, TOP_K * F, F, &opt, pool,
                                &plan));
        CHECK(plan.mode == AMXMM_MODE_EXACT);
        for (t = 0; t < M; ++t)
            for (s = 0; s < TOP_K; ++s) {
                amxmm_packed_weight* one = NULL;
                float row[F];
                CHECK_OK(amxmm_pack_q4_0_vnni(gate_b + (size_t)ids[t * TOP_K + s] * F * K / 32, F, K, NULL, &one));
                CHECK_OK(amxmm_gemm_q4_0(one, 1, x + t * K, K, row, F, &opt, NULL, NULL));
                CHECK(memcmp(row, g_out + (t * TOP_K + s) * F, sizeof row) == 0);
                amxmm_packed_weight_free(one);
            }
    }

    /* moe_ffn against a double-precision reference (relative L2 error) */
    {
        double err2 = 0, ref2 = 0;
        CHECK_OK(amxmm_moe_ffn(gate, up, down, &routing, route_w, TOP_K, x, K, y, K, NULL, NULL, &plan));
        for (t = 0; t < M; ++t) {
            double ref[K];
            int kk, j, i;
            for (kk = 0; kk < K; ++kk) ref[kk] = 0;
            for (s = 0; s < TOP_K; ++s) {
                const int e = ids[t * TOP_K + s];
                double h[F];
                for (j = 0; j < F; ++j) {
                    double g = 0, u = 0;
                    for (i = 0; i < K; ++i) {
                        g += (double)wg[((size_t)e * F + j) * K + i] * x[t * K + i];
                        u += (double)wu[((size_t)e * F + j) * K + i] * x[t * K + i];
                    }
                    h[j] = silu(g) * u;
                }
                for (kk = 0; kk < K; ++kk) {
                    double o = 0;
                    for (j = 0; j < F; ++j) o += (double)wd[((size_t)e * K + kk) * F + j] * h[j];
                    ref[kk] += route_w[t * TOP_K + s] * o;
                }
            }
            for (kk = 0; kk < K; ++kk) {
                err2 += (y[t * K + kk] - ref[kk]) * (y[t * K + kk] - ref[kk]);
                ref2 += ref[kk] * ref[kk];
            }
        }
        CHECK(ref2 > 0 && sqrt(err2 / ref2) < 0.02);
        if (!(sqrt(err2 / ref2) < 0.02)) fprintf(stderr, "  moe_ffn relative L2 error %.4g\n", sqrt(err2 / ref2));
    }

    /* gate and up packed together: the same bits; and the thread pool: the same bits */
    CHECK_OK(amxmm_moe_ffn(gate_up, NULL, down, &routing, route_w, TOP_K, x, K, y2, K, NULL, NULL, NULL));
    CHECK(memcmp(y, y2, sizeof y) == 0);
    CHECK_OK(amxmm_moe_ffn(gate_up, NULL, down, &routing, route_w, TOP_K, x, K, y3, K, NULL, pool, NULL));
    CHECK(memcmp(y, y3, sizeof y) == 0);

    /* on engine threads */
    {
        amxmm_sync* sync = NULL;
        void* ws = NULL;
        const size_t ws_bytes = amxmm_moe_ffn_workspace_bytes(M, TOP_K, E, K, F);
        ith_job proto, jobs[NTH];
        int i;
        float g_ith[M * TOP_K * F];
        CHECK(ws_bytes > 0);
        CHECK_OK(amxmm_sync_create(NTH, &sync));
        CHECK_OK(amxmm_aligned_alloc(ws_bytes, &ws));
        memset(&proto, 0, sizeof proto);
        proto.kind = 2;
        proto.sync = sync;
        amxmm_gemm_options_init(&proto.opt);
        proto.opt.workspace = ws;
        proto.opt.workspace_bytes = ws_bytes;
        proto.gate = gate_up;
        proto.down = down;
        proto.routing = &routing;
        proto.route_weights = route_w;
        proto.x = x;
        proto.y = y3;
        proto.ldx = K;
        proto.ldy = K;
        fill(y3, M * K, 0.0f);
        run_on_threads(&proto, jobs);
        for (i = 0; i < NTH; ++i) CHECK(jobs[i].status == AMXMM_OK);
        CHECK(memcmp(y, y3, sizeof y) == 0);

        /* moe_gemm_ith (its workspace is smaller than moe_ffn's) */
        CHECK(amxmm_moe_gemm_workspace_bytes(M, TOP_K, E, K) <= ws_bytes);
        proto.kind = 1;
        proto.gate = gate;
        proto.opt.mode = AMXMM_MODE_EXACT;
        proto.y = g_ith;
        proto.n = F;
        run_on_threads(&proto, jobs);
        for (i = 0; i < NTH; ++i) CHECK(jobs[i].status == AMXMM_OK);
        CHECK(memcmp(g_ith, g_out, sizeof g_ith) == 0);
        amxmm_aligned_free(ws);
        amxmm_sync_free(sync);
    }

    /* errors */
    fill(y2, M * K, 9.0f);
    ids[5] = E;
    CHECK_FAILS(amxmm_moe_ffn(gate, up, down, &routing, route_w, TOP_K, x, K, y2, K, NULL, NULL, NULL),
                AMXMM_OUT_OF_RANGE, "routing.ids[2][1] = 6");
    ids[5] = 0;
    CHECK_FAILS(amxmm_moe_ffn(gate_up, up, down, &routing, route_w, TOP_K, x, K, y2, K, NULL, NULL, NULL),
                AMXMM_INVALID_ARGUMENT, "up must be NULL");
    CHECK_FAILS(amxmm_moe_ffn(gate, NULL, down, &routing, route_w, TOP_K, x, K, y2, K, NULL, NULL, NULL),
                AMXMM_INVALID_ARGUMENT, "up is null");
    CHECK_FAILS(amxmm_moe_ffn(gate, up, gate_up, &routing, route_w, TOP_K, x, K, y2, K, NULL, NULL, NULL),
                AMXMM_INVALID_ARGUMENT, "down holds gate and up");
    CHECK_FAILS(amxmm_moe_ffn(gate, up, up, &routing, route_w, TOP_K, x, K, y2, K, NULL, NULL, NULL),
                AMXMM_INVALID_ARGUMENT, "down is");
    CHECK_FAILS(amxmm_moe_ffn(gate, up, down, NULL, route_w, TOP_K, x, K, y2, K, NULL, NULL, NULL),
                AMXMM_INVALID_ARGUMENT, "routing is null");
    CHECK_FAILS(amxmm_moe_gemm(gate_up, &routing, x, AMXMM_MOE_ROWS_PER_TOKEN, K, 0, g_out, TOP_K * F, F, NULL, NULL,
                               NULL),
                AMXMM_INVALID_ARGUMENT, "weights holds gate and up");
    CHECK_FAILS(amxmm_moe_gemm(gate, &routing, x, (amxmm_moe_input_rows)5, K, 0, g_out, TOP_K * F, F, NULL, NULL, NULL),
                AMXMM_INVALID_ARGUMENT, "rows = 5");
    CHECK_FAILS(amxmm_moe_gemm(gate, &routing, x, (amxmm_moe_input_rows)-1, K, 0, g_out, TOP_K * F, F, NULL, NULL,
                               NULL),
                AMXMM_INVALID_ARGUMENT, "rows = -1");
    {
        amxmm_sync* one = NULL;
        CHECK_OK(amxmm_sync_create(1, &one));
        CHECK_FAILS(amxmm_moe_gemm_ith(gate, &routing, x, (amxmm_moe_input_rows)-1, K, 0, g_out, TOP_K * F, F, NULL, 0,
                                       1, one, NULL),
                    AMXMM_INVALID_ARGUMENT, "rows = -1");
        amxmm_sync_free(one);
    }
    {
        amxmm_gemm_options bad_act = AMXMM_GEMM_OPTIONS_INIT;
        bad_act.activation = (amxmm_activation)5;
        CHECK_FAILS(amxmm_moe_ffn(gate, up, down, &routing, route_w, TOP_K, x, K, y2, K, &bad_act, NULL, NULL),
                    AMXMM_INVALID_ARGUMENT, "options->activation = 5");
        bad_act.activation = (amxmm_activation)-1;
        CHECK_FAILS(amxmm_moe_ffn(gate, up, down, &routing, route_w, TOP_K, x, K, y2, K, &bad_act, NULL, NULL),
                    AMXMM_INVALID_ARGUMENT, "options->activation = -1");
        amxmm_gemm_options_init(&bad_act);
        bad_act.mode = (amxmm_mode)-1;
        CHECK_FAILS(amxmm_moe_ffn(gate, up, down, &routing, route_w, TOP_K, x, K, y2, K, &bad_act, NULL, NULL),
                    AMXMM_INVALID_ARGUMENT, "options->mode = -1");
    }
    route_w[0] = -1.0f;
    CHECK_FAILS(amxmm_moe_ffn(gate, up, down, &routing, route_w, TOP_K, x, K, y2, K, NULL, NULL, NULL),
                AMXMM_INVALID_ARGUMENT, "weights[0][0] = -1");
    CHECK(all_equal(y2, M * K, 9.0f));

    amxmm_packed_experts_free(gate);
    amxmm_packed_experts_free(up);
    amxmm_packed_experts_free(down);
    amxmm_packed_experts_free(gate_up);
    free(gate_b);
    free(up_b);
    free(down_b);
    free(wg);
    free(wu);
    free(wd);
    free(x);
}

/* ---- GGUF ------------------------------------------------------------------------------------------- */

static void put_u32(FILE* f, uint32_t v) {
    unsigned char b[4];
    int i;
    for (i = 0; i < 4; ++i) b[i] = (unsigned char)(v >> (8 * i));
    fwrite(b, 1, 4, f);
}
static void put_u64(FILE* f, uint64_t v) {
    unsigned char b[8];
    int i;
    for (i = 0; i < 8; ++i) b[i] = (unsigned char)(v >> (8 * i));
    fwrite(b, 1, 8, f);
}

/* Writes a GGUF v3 file with one Q4_0 tensor "blk.0.ffn_up.weight" of n rows of k (little-endian). */
static void write_gguf(const char* path, const q4_0_block* blocks, int64_t n, int64_t k) {
    static const char name[] = "blk.0.ffn_up.weight";
    FILE* f = fopen(path, "wb");
    long pos;
    int64_t i;
    CHECK(f != NULL);
    if (!f) return;
    fwrite("GGUF", 1, 4, f);
    put_u32(f, 3);                   /* version */
    put_u64(f, 1);                   /* tensors */
    put_u64(f, 0);                   /* metadata entries */
    put_u64(f, sizeof name - 1);     /* name */
    fwrite(name, 1, sizeof name - 1, f);
    put_u32(f, 2);                   /* dims */
    put_u64(f, (uint64_t)k);
    put_u64(f, (uint64_t)n);
    put_u32(f, 2);                   /* GGML_TYPE_Q4_0 */
    put_u64(f, 0);                   /* offset in the data section */
    for (pos = ftell(f); pos % 32 != 0; ++pos) fputc(0, f);
    for (i = 0; i < n * k / 32; ++i) { /* block by block, little-endian d */
        fputc(blocks[i].d & 0xFF, f);
        fputc(blocks[i].d >> 8, f);
        fwrite(blocks[i].qs, 1, 16, f);
    }
    fclose(f);
}

static void test_gguf(void) {
    const int64_t n = 48, k = 128, m = 3;
    q4_0_block* blocks = make_blocks((size_t)(n * k / 32));
    float* x = make_activations(m, k);
    float y1[3 * 48], y2[3 * 48];
    char path[] = "/tmp/amxmm_c_test_XXXXXX";
    const int fd = mkstemp(path);
    amxmm_gguf* file = NULL;
    const void* data = NULL;
    int64_t rows = 0, cols = 0, dims[4] = {0, 0, 0, 0};
    uint32_t type = 99, n_dims = 0;
    amxmm_packed_weight *a = NULL, *b = NULL;
    CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd);
    write_gguf(path, blocks, n, k);

    CHECK_OK(amxmm_gguf_open(path, &file));
    CHECK_OK(amxmm_gguf_tensor_info(file, "blk.0.ffn_up.weight", &type, &n_dims, dims));
    CHECK(type == 2 && n_dims == 2 && dims[0] == k && dims[1] == n && dims[2] == 1 && dims[3] == 1);
    CHECK_OK(amxmm_gguf_q4_0_matrix(file, "blk.0.ffn_up.weight", &data, &rows, &cols));
    CHECK(rows == n && cols == k && memcmp(data, blocks, (size_t)(n * k / 32) * sizeof *blocks) == 0);
    CHECK_FAILS(amxmm_gguf_q4_0_matrix(file, "blk.1.ffn_up.weight", &data, &rows, &cols), AMXMM_OUT_OF_RANGE,
                "blk.1.ffn_up.weight");
    CHECK_OK(amxmm_pack_q4_0_vnni(data, rows, cols, NULL, &a));
    CHECK_OK(amxmm_pack_q4_0_vnni(blocks, n, k, NULL, &b));
    CHECK_OK(amxmm_gemm_q4_0(a, m, x, k, y1, n, NULL, NULL, NULL));
    CHECK_OK(amxmm_gemm_q4_0(b, m, x, k, y2, n, NULL, NULL, NULL));
    CHECK(memcmp(y1, y2, sizeof y1) == 0);
    amxmm_gguf_close(file);

    /* a truncated file is malformed */
    CHECK(truncate(path, 40) == 0);
    file = NULL;
    CHECK_FAILS(amxmm_gguf_open(path, &file), AMXMM_MALFORMED_INPUT, "");
    CHECK(file == NULL);
    remove(path);
    amxmm_packed_weight_free(a);
    amxmm_packed_weight_free(b);
    free(blocks);
    free(x);
}

/* ---- placement plans ---------------------------------------------------------------------------- */

/* In c_api_impl.cpp (C++, test-only): writes a model described by JSON as a data-less GGUF file. */
int amxmm_test_write_model_gguf(const char* model_json, const char* path, char* message, size_t capacity);

/* Small models, synthesized with llama.cpp's tensor tables (make_model): a Qwen3-MoE-shaped one and a
 * dense llama-shaped one. */
static const char k_moe_json[] =
    "{\"name\": \"tiny-moe\", \"architecture\": \"qwen3moe\", \"layers\": 4, \"embedding\": 256,"
    " \"feed_forward\": 512, \"expert_feed_forward\": 128, \"vocabulary\": 1024, \"heads\": 4, \"kv_heads\": 2,"
    " \"experts\": 8, \"experts_used\": 2}";
static const char k_moe_larger_json[] = /* about 130 MB of weights, 16 experts per layer */
    "{\"name\": \"small-moe\", \"architecture\": \"qwen3moe\", \"layers\": 8, \"embedding\": 1024,"
    " \"feed_forward\": 2048, \"expert_feed_forward\": 512, \"vocabulary\": 2048, \"heads\": 8, \"kv_heads\": 2,"
    " \"experts\": 16, \"experts_used\": 2}";
static const char k_llama_json[] =
    "{\"name\": \"tiny-llama\", \"architecture\": \"llama\", \"layers\": 3, \"embedding\": 256,"
    " \"feed_forward\": 512, \"vocabulary\": 1000, \"heads\": 4}";

#define TEST_CPU_JSON                                                                                   \
    "\"cpu\": {\"name\": \"test CPU\", \"cores\": 8, \"threads\": 8, \"memory_bytes\": \"64GiB\", "     \
    "\"isa\": \"amx\", \"amx\": true, \"dram_read_bytes_per_s\": \"100 GB/s\", "                         \
    "\"matmul_flops\": \"4 TFLOP/s\", \"vector_flops\": \"1 TFLOP/s\"}"
#define TEST_GPU_JSON(memory)                                                                           \
    "{\"name\": \"test GPU\", \"memory_bytes\": \"" memory "\", \"memory_bytes_per_s\": \"3 TB/s\", "   \
    "\"matmul_flops\": \"300 TFLOP/s\", \"host_to_device_bytes_per_s\": \"50 GB/s\"}"

static const char k_no_gpu_hw[] = "{" TEST_CPU_JSON "}";
static const char k_big_gpu_hw[] = "{" TEST_CPU_JSON ", \"gpus\": [" TEST_GPU_JSON("80GiB") "]}";

/* One tensor's placement, or one expert's; counts what the plan puts where. */
typedef struct placement_tally {
    size_t tensors, cpu_amx, cpu_host, gpu, split;
    uint64_t gpu_bytes[4]; /* weight bytes per GPU (experts counted one by one) */
    int bad;               /* a placement that breaks an invariant (details printed) */
} placement_tally;

static void check_one_placement(placement_tally* t, const char* name, int64_t expert, uint32_t type,
                                amxmm_placement_kind kind, int gpu, int gpus, uint64_t bytes) {
    int ok = 1;
    switch (kind) {
        case AMXMM_PLACE_CPU_AMX:
            /* VNNI-packed weights: Q4_0 only, and never with a GPU */
            ok = type == 2 && gpu == -1;
            ++t->cpu_amx;
            break;
        case AMXMM_PLACE_CPU_HOST:
            ok = gpu == -1;
            ++t->cpu_host;
            break;
        case AMXMM_PLACE_GPU:
            ok = gpu >= 0 && gpu < gpus && gpu < 4;
            if (ok) t->gpu_bytes[gpu] += bytes;
            ++t->gpu;
            break;
        default: ok = 0; break; /* SPLIT is never an expert's placement */
    }
    if (!ok) {
        ++t->bad;
        fprintf(stderr, "  bad placement: %s expert %ld: kind %d (%s), gpu %d, type %u, gpus %d\n", name, (long)expert,
                (int)kind, amxmm_placement_kind_name(kind) ? amxmm_placement_kind_name(kind) : "?", gpu, type, gpus);
    }
}

/* Walks every tensor (and every expert of split tensors) of `plan`. */
static placement_tally tally_plan(const amxmm_plan* plan) {
    placement_tally t;
    size_t i, count = 0;
    int gpus = -1;
    memset(&t, 0, sizeof t);
    CHECK_OK(amxmm_plan_tensor_count(plan, &count));
    CHECK_OK(amxmm_plan_info(plan, NULL, &gpus, NULL, NULL, NULL));
    t.tensors = count;
    for (i = 0; i < count; ++i) {
        const char* name = NULL;
        size_t found = (size_t)-1;
        int layer = -2, gpu = -2;
        uint32_t type = 999;
        int64_t experts = -1, e;
        uint64_t bytes = 0;
        amxmm_placement_kind kind = AMXMM_PLACE_MAX_ENUM;
        CHECK_OK(amxmm_plan_tensor_info(plan, i, &name, &layer, &type, &experts, &bytes));
        CHECK_OK(amxmm_plan_tensor_placement(plan, i, &kind, &gpu));
        CHECK(name != NULL && name[0] != '\0' && layer >= -1 && experts >= 0 && bytes > 0);
        if (!name) continue;
        CHECK_OK(amxmm_plan_find_tensor(plan, name, &found));
        CHECK(found == i);
        if (kind == AMXMM_PLACE_SPLIT) {
            CHECK(experts > 0 && gpu == -1);
            ++t.split;
            for (e = 0; e < experts; ++e) {
                amxmm_placement_kind ek = AMXMM_PLACE_MAX_ENUM;
                int eg = -2;
                CHECK_OK(amxmm_plan_expert_placement(plan, i, e, &ek, &eg));
                check_one_placement(&t, name, e, type, ek, eg, gpus, bytes / (uint64_t)experts);
            }
        } else {
            check_one_placement(&t, name, -1, type, kind, gpu, gpus, bytes);
            /* an unsplit expert tensor: each expert reports the tensor's placement */
            for (e = 0; e < experts; ++e) {
                amxmm_placement_kind ek = AMXMM_PLACE_MAX_ENUM;
                int eg = -2;
                CHECK_OK(amxmm_plan_expert_placement(plan, i, e, &ek, &eg));
                CHECK(ek == kind && eg == gpu);
            }
        }
    }
    CHECK(t.bad == 0);
    return t;
}

/* A JSON text whose brackets balance outside strings and whose top level is one object. */
static int json_looks_well_formed(const char* s) {
    int depth = 0, in_string = 0;
    const char* p;
    while (*s == ' ' || *s == '\n') ++s;
    if (*s != '{') return 0;
    for (p = s; *p; ++p) {
        if (in_string) {
            if (*p == '\\' && p[1]) ++p;
            else if (*p == '"') in_string = 0;
            continue;
        }
        if (*p == '"') in_string = 1;
        else if (*p == '{' || *p == '[') ++depth;
        else if (*p == '}' || *p == ']') {
            if (--depth < 0) return 0;
            if (depth == 0) {
                for (++p; *p == ' ' || *p == '\n'; ++p) {}
                return *p == '\0';
            }
        }
    }
    return 0;
}

/* The text of a report, in a malloc'd buffer sized by asking first (NULL on failure). */
static char* plan_text(const amxmm_plan* plan,
                       amxmm_status (*fn)(const amxmm_plan*, char*, size_t, size_t*)) {
    size_t need = 0, again = 0;
    char* text;
    CHECK_OK(fn(plan, NULL, 0, &need));
    CHECK(need >= 1);
    if (need < 1) return NULL;
    text = malloc(need);
    CHECK_OK(fn(plan, text, need, &again));
    CHECK(again == need && strlen(text) + 1 == need);
    return text;
}

static void check_json_names_every_tensor(const amxmm_plan* plan) {
    char* json = plan_text(plan, amxmm_plan_to_json);
    size_t i, count = 0;
    if (!json) return;
    CHECK(json_looks_well_formed(json));
    CHECK(strstr(json, "\"schema\": \"amxmm-plan/1\"") != NULL);
    CHECK_OK(amxmm_plan_tensor_count(plan, &count));
    for (i = 0; i < count; ++i) {
        const char* name = NULL;
        char quoted[256];
        CHECK_OK(amxmm_plan_tensor_info(plan, i, &name, NULL, NULL, NULL, NULL));
        snprintf(quoted, sizeof quoted, "\"name\": \"%s\"", name ? name : "?");
        CHECK(strstr(json, quoted) != NULL);
    }
    free(json);
}

/* Writes model_json as a GGUF file at a fresh temporary path (returned in path, 64 bytes). */
static int write_model_file(const char* model_json, char* path) {
    char message[512] = "";
    int fd;
    strcpy(path, "/tmp/amxmm_c_plan_XXXXXX");
    fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return 0;
    close(fd);
    if (amxmm_test_write_model_gguf(model_json, path, message, sizeof message) != 0) {
        fprintf(stderr, "  amxmm_test_write_model_gguf: %s\n", message);
        CHECK(!"the test model could be written");
        return 0;
    }
    return 1;
}

static void test_plan_without_gpu(void) {
    char path[64];
    amxmm_plan *plan = NULL, *from_json = NULL;
    placement_tally t;
    int layers = 0, gpus = -1, valid = -1, calibrated = -1, l;
    double objective = 0;
    const char* binding = NULL;
    size_t i, count = 0, count_json = 0;
    char* text;
    if (!write_model_file(k_moe_json, path)) return;

    CHECK_OK(amxmm_plan_create(path, k_no_gpu_hw, NULL, NULL, &plan));
    if (!plan) {
        remove(path);
        return;
    }
    CHECK_OK(amxmm_plan_info(plan, &layers, &gpus, &objective, &valid, &calibrated));
    CHECK(layers == 4 && gpus == 0 && valid == 1 && calibrated == 0 && objective > 0);
    t = tally_plan(plan);
    /* token_embd, output_norm, output + per layer 12: attn_norm, q, k, v, output, q/k norms, ffn_norm,
     * router, gate/up/down experts */
    CHECK(t.tensors == 3 + 4 * 12);
    CHECK(t.gpu == 0 && t.split == 0 && t.cpu_amx + t.cpu_host == t.tensors);
    CHECK(t.cpu_amx > 0); /* the Q4_0 matmuls are repacked for amxmm's kernels */
    for (l = 0; l < layers; ++l) {
        int g = 7;
        CHECK_OK(amxmm_plan_attention_gpu(plan, l, &g));
        CHECK(g == -1);
    }
    CHECK_OK(amxmm_plan_binding_constraint(plan, &binding));
    CHECK(binding != NULL && strstr(binding, "no GPU") != NULL);
    check_json_names_every_tensor(plan);
    text = plan_text(plan, amxmm_plan_llama_cpp_flags);
    CHECK(text && strcmp(text, "-ngl 0") == 0);
    free(text);
    text = plan_text(plan, amxmm_plan_explain);
    CHECK(text && strstr(text, "Binding constraint: no GPU") != NULL);
    free(text);
    text = plan_text(plan, amxmm_plan_table);
    CHECK(text && strstr(text, "layer") == text);
    free(text);

    /* the same model given as JSON gives the same plan */
    CHECK_OK(amxmm_plan_create_from_model_json(k_moe_json, k_no_gpu_hw, NULL, NULL, &from_json));
    CHECK_OK(amxmm_plan_tensor_count(plan, &count));
    CHECK_OK(amxmm_plan_tensor_count(from_json, &count_json));
    CHECK(count == count_json);
    for (i = 0; i < count && i < count_json; ++i) {
        const char *a = NULL, *b = NULL;
        amxmm_placement_kind ka = AMXMM_PLACE_MAX_ENUM, kb = AMXMM_PLACE_MAX_ENUM;
        uint64_t ba = 0, bb = 0;
        CHECK_OK(amxmm_plan_tensor_info(plan, i, &a, NULL, NULL, NULL, &ba));
        CHECK_OK(amxmm_plan_tensor_info(from_json, i, &b, NULL, NULL, NULL, &bb));
        CHECK_OK(amxmm_plan_tensor_placement(plan, i, &ka, NULL));
        CHECK_OK(amxmm_plan_tensor_placement(from_json, i, &kb, NULL));
        CHECK(a && b && strcmp(a, b) == 0 && ba == bb && ka == kb);
    }
    amxmm_plan_destroy(from_json);
    amxmm_plan_destroy(plan);
    remove(path);
}

static void test_plan_with_gpus(void) {
    char path[64], hw[2048];
    amxmm_plan* plan = NULL;
    placement_tally t;
    size_t i, count = 0;
    uint64_t total = 0, weights_capacity;
    int valid = -1, gpus = 0;
    char* text;
    if (!write_model_file(k_llama_json, path)) return;

    /* a GPU with room for everything */
    CHECK_OK(amxmm_plan_create(path, k_big_gpu_hw, NULL, NULL, &plan));
    if (!plan) {
        remove(path);
        return;
    }
    CHECK_OK(amxmm_plan_info(plan, NULL, &gpus, NULL, &valid, NULL));
    CHECK(gpus == 1 && valid == 1);
    t = tally_plan(plan);
    printf("plan, dense model, 80 GiB GPU: %lu tensors: %lu cpu_amx, %lu cpu_host, %lu gpu\n", (unsigned long)t.tensors,
           (unsigned long)t.cpu_amx, (unsigned long)t.cpu_host, (unsigned long)t.gpu);
    check_json_names_every_tensor(plan);
    text = plan_text(plan, amxmm_plan_llama_cpp_flags);
    CHECK(text && strncmp(text, "-ngl ", 5) == 0);
    free(text);
    CHECK_OK(amxmm_plan_tensor_count(plan, &count));
    for (i = 0; i < count; ++i) {
        uint64_t bytes = 0;
        CHECK_OK(amxmm_plan_tensor_info(plan, i, NULL, NULL, NULL, NULL, &bytes));
        total += bytes;
    }
    amxmm_plan_destroy(plan);
    remove(path);

    /* a GPU whose memory beyond its 64 MiB reserve holds 40 MiB (compute workspace, KV caches) plus
     * about a third of a MoE model's weights: the plan puts some weights there, within that memory, and
     * is valid (all-CPU always fits 64 GiB) */
    if (!write_model_file(k_moe_larger_json, path)) return;
    plan = NULL;
    CHECK_OK(amxmm_plan_create_from_model_json(k_moe_larger_json, k_no_gpu_hw, NULL, NULL, &plan));
    total = 0;
    CHECK_OK(amxmm_plan_tensor_count(plan, &count));
    for (i = 0; i < count; ++i) {
        uint64_t bytes = 0;
        CHECK_OK(amxmm_plan_tensor_info(plan, i, NULL, NULL, NULL, NULL, &bytes));
        total += bytes;
    }
    amxmm_plan_destroy(plan);
    weights_capacity = total / 3;
    snprintf(hw, sizeof hw,
             "{" TEST_CPU_JSON ", \"gpu_reserve_bytes\": \"64MiB\", \"gpus\": [{\"name\": \"small GPU\", "
             "\"memory_bytes\": %lu, \"memory_bytes_per_s\": \"1 TB/s\", \"matmul_flops\": \"100 TFLOP/s\", "
             "\"host_to_device_bytes_per_s\": \"25 GB/s\"}]}",
             (unsigned long)((104ul << 20) + weights_capacity));
    plan = NULL;
    CHECK_OK(amxmm_plan_create(path, hw, NULL, NULL, &plan));
    if (plan) {
        CHECK_OK(amxmm_plan_info(plan, NULL, &gpus, NULL, &valid, NULL));
        CHECK(gpus == 1 && valid == 1);
        t = tally_plan(plan);
        printf("plan, MoE model (%lu bytes), GPU with %lu bytes for weights: %lu on the GPU in %lu placements, "
               "%lu split tensors\n",
               (unsigned long)total, (unsigned long)weights_capacity, (unsigned long)t.gpu_bytes[0],
               (unsigned long)t.gpu, (unsigned long)t.split);
        CHECK(t.gpu_bytes[0] > 0 && t.gpu_bytes[0] <= weights_capacity + (40ul << 20));
        CHECK(t.cpu_amx + t.cpu_host > 0);
        check_json_names_every_tensor(plan);
    }
    amxmm_plan_destroy(plan);
    remove(path);
}

static void test_plan_workload(void) {
    static const int64_t batches[] = {64, 1024};
    amxmm_plan_workload w = AMXMM_PLAN_WORKLOAD_INIT, w2;
    amxmm_plan* plan = NULL;
    size_t phases = 0, i;
    amxmm_plan_workload_init(&w2);
    CHECK(w2.struct_size == sizeof w2 && w2.decode_batch == 1 && w2.context == 4096 && w2.kv_cache_type == 1 &&
          w2.prompt_batches == NULL && w2.objective_prompt_tokens == 2048.0 && w.objective_decode_tokens == 256.0);
    w.prompt_batches = batches;
    w.prompt_batch_count = 2;
    w.decode_batch = 4;
    w.context = 8192;
    w.kv_cache_type = 8; /* Q8_0 */
    /* measured routing: expert 0 hot in every layer */
    w.routing_stats_json = "{\"layers\": [[9, 1, 1, 1, 1, 1, 1, 1], [9, 1, 1, 1, 1, 1, 1, 1],"
                           " [9, 1, 1, 1, 1, 1, 1, 1], [9, 1, 1, 1, 1, 1, 1, 1]]}";
    CHECK_OK(amxmm_plan_create_from_model_json(k_moe_json, k_big_gpu_hw, &w, NULL, &plan));
    if (!plan) return;
    CHECK_OK(amxmm_plan_phase_count(plan, &phases));
    CHECK(phases == 3);
    for (i = 0; i < phases; ++i) {
        int decode = -1;
        int64_t batch = 0;
        double seconds = 0, tps = 0;
        CHECK_OK(amxmm_plan_phase(plan, i, &decode, &batch, &seconds, &tps));
        CHECK(decode == (i == 2));
        CHECK(batch == (i == 0 ? 64 : i == 1 ? 1024 : 4));
        CHECK(seconds > 0 && fabs(tps * seconds - (double)batch) <= 1e-9 * (double)batch);
        printf("plan phase %s@%ld: %.1f tokens/s\n", decode ? "decode" : "prompt", (long)batch, tps);
    }
    (void)tally_plan(plan);
    amxmm_plan_destroy(plan);
}

/* Two threads ask for the same report of a fresh plan at once: each gets the whole text, the same. */
typedef struct text_job {
    const amxmm_plan* plan;
    char* text;
} text_job;

static void* json_on_thread(void* arg) {
    text_job* j = arg;
    size_t need = 0;
    if (amxmm_plan_to_json(j->plan, NULL, 0, &need) == AMXMM_OK && (j->text = malloc(need)) != NULL &&
        amxmm_plan_to_json(j->plan, j->text, need, &need) != AMXMM_OK) {
        free(j->text);
        j->text = NULL;
    }
    return NULL;
}

static void test_plan_concurrent_reports(void) {
    amxmm_plan* plan = NULL;
    text_job a, b;
    pthread_t ta, tb;
    CHECK_OK(amxmm_plan_create_from_model_json(k_llama_json, k_big_gpu_hw, NULL, NULL, &plan));
    if (!plan) return;
    a.plan = b.plan = plan;
    a.text = b.text = NULL;
    CHECK(pthread_create(&ta, NULL, json_on_thread, &a) == 0);
    CHECK(pthread_create(&tb, NULL, json_on_thread, &b) == 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK(a.text != NULL && b.text != NULL);
    if (a.text && b.text) CHECK(strcmp(a.text, b.text) == 0 && json_looks_well_formed(a.text));
    free(a.text);
    free(b.text);
    amxmm_plan_destroy(plan);
}

/* This machine, detected (no hardware JSON): a plan exists; without GPUs everything is on the CPU. */
static void test_plan_this_machine(void) {
    amxmm_plan* plan = NULL;
    placement_tally t;
    int gpus = -1;
    CHECK_OK(amxmm_plan_create_from_model_json(k_llama_json, NULL, NULL, NULL, &plan));
    if (!plan) return;
    CHECK_OK(amxmm_plan_info(plan, NULL, &gpus, NULL, NULL, NULL));
    t = tally_plan(plan);
    CHECK(gpus >= 0);
    if (gpus == 0) CHECK(t.gpu == 0 && t.split == 0);
    amxmm_plan_destroy(plan);
}

static void test_plan_errors(void) {
    char path[64], missing[80];
    amxmm_plan* plan = (amxmm_plan*)&plan;
    amxmm_plan* good = NULL;
    amxmm_plan_workload w = AMXMM_PLAN_WORKLOAD_INIT;
    static const int64_t zero_batch[] = {512, 0};
    size_t index = 12345, count = 0, need = 0, i;
    amxmm_placement_kind kind = AMXMM_PLACE_CPU_HOST;
    int gpu = 42, layer = 0;
    int64_t experts = 0;
    char small[16];
    const char* text = NULL;
    FILE* f;

    CHECK(strcmp(amxmm_placement_kind_name(AMXMM_PLACE_CPU_AMX), "cpu_amx") == 0);
    CHECK(strcmp(amxmm_placement_kind_name(AMXMM_PLACE_SPLIT), "split") == 0);
    CHECK(amxmm_placement_kind_name((amxmm_placement_kind)9) == NULL);
    CHECK(amxmm_placement_kind_name((amxmm_placement_kind)-1) == NULL);

    /* arguments of create: *plan is NULL after every failure */
    CHECK_FAILS(amxmm_plan_create(NULL, k_no_gpu_hw, NULL, NULL, &plan), AMXMM_INVALID_ARGUMENT, "gguf_path is null");
    CHECK(plan == NULL);
    CHECK_FAILS(amxmm_plan_create("x.gguf", k_no_gpu_hw, NULL, NULL, NULL), AMXMM_INVALID_ARGUMENT, "plan is null");
    plan = (amxmm_plan*)&plan;
    CHECK_FAILS(amxmm_plan_create("/nonexistent/amxmm-plan.gguf", k_no_gpu_hw, NULL, NULL, &plan), AMXMM_SYSTEM,
                "/nonexistent/amxmm-plan.gguf");
    CHECK(plan == NULL);
    /* malformed GGUF: not a GGUF at all; a GGUF without general.architecture; a truncated one */
    strcpy(missing, "/tmp/amxmm_c_plan_bad_XXXXXX");
    {
        const int fd = mkstemp(missing);
        CHECK(fd >= 0);
        if (fd >= 0) close(fd);
    }
    f = fopen(missing, "wb");
    CHECK(f != NULL);
    if (f) {
        fputs("this is not a GGUF file, just some text that is long enough to read a header from", f);
        fclose(f);
    }
    plan = (amxmm_plan*)&plan;
    CHECK_FAILS(amxmm_plan_create(missing, k_no_gpu_hw, NULL, NULL, &plan), AMXMM_MALFORMED_INPUT, "");
    CHECK(plan == NULL);
    {
        q4_0_block* blocks = make_blocks(4);
        write_gguf(missing, blocks, 4, 32);
        free(blocks);
    }
    CHECK_FAILS(amxmm_plan_create(missing, k_no_gpu_hw, NULL, NULL, &plan), AMXMM_MALFORMED_INPUT,
                "general.architecture");
    CHECK(plan == NULL);
    if (write_model_file(k_llama_json, path)) {
        CHECK(truncate(path, 200) == 0);
        CHECK_FAILS(amxmm_plan_create(path, k_no_gpu_hw, NULL, NULL, &plan), AMXMM_MALFORMED_INPUT, "");
        CHECK(plan == NULL);
        remove(path);
    }
    remove(missing);

    /* model JSON and hardware JSON */
    CHECK_FAILS(amxmm_plan_create_from_model_json(NULL, NULL, NULL, NULL, &plan), AMXMM_INVALID_ARGUMENT,
                "model_json is null");
    CHECK_FAILS(amxmm_plan_create_from_model_json("{\"layers\": ", k_no_gpu_hw, NULL, NULL, &plan),
                AMXMM_MALFORMED_INPUT, "model_json");
    CHECK_FAILS(amxmm_plan_create_from_model_json("{\"layerz\": 3}", k_no_gpu_hw, NULL, NULL, &plan),
                AMXMM_MALFORMED_INPUT, "layerz");
    CHECK_FAILS(amxmm_plan_create_from_model_json(k_llama_json, "{\"cpu\": ", NULL, NULL, &plan),
                AMXMM_MALFORMED_INPUT, "hardware_json");
    CHECK_FAILS(amxmm_plan_create_from_model_json(k_llama_json, "{\"gpuz\": []}", NULL, NULL, &plan),
                AMXMM_MALFORMED_INPUT, "gpuz");
    CHECK(plan == NULL);

    /* workloads */
    w.struct_size = 8;
    CHECK_FAILS(amxmm_plan_create_from_model_json(k_llama_json, k_no_gpu_hw, &w, NULL, &plan),
                AMXMM_INVALID_ARGUMENT, "struct_size");
    amxmm_plan_workload_init(&w);
    w.decode_batch = 0;
    CHECK_FAILS(amxmm_plan_create_from_model_json(k_llama_json, k_no_gpu_hw, &w, NULL, &plan),
                AMXMM_INVALID_ARGUMENT, "workload->decode_batch = 0");
    amxmm_plan_workload_init(&w);
    w.prompt_batch_count = 2;
    CHECK_FAILS(amxmm_plan_create_from_model_json(k_llama_json, k_no_gpu_hw, &w, NULL, &plan),
                AMXMM_INVALID_ARGUMENT, "prompt_batches is null");
    w.prompt_batches = zero_batch;
    CHECK_FAILS(amxmm_plan_create_from_model_json(k_llama_json, k_no_gpu_hw, &w, NULL, &plan),
                AMXMM_INVALID_ARGUMENT, "prompt_batches[1] = 0");
    amxmm_plan_workload_init(&w);
    w.kv_cache_type = 999;
    CHECK_FAILS(amxmm_plan_create_from_model_json(k_llama_json, k_no_gpu_hw, &w, NULL, &plan),
                AMXMM_INVALID_ARGUMENT, "kv_cache_type = 999");
    amxmm_plan_workload_init(&w);
    w.objective_decode_tokens = -1;
    CHECK_FAILS(amxmm_plan_create_from_model_json(k_llama_json, k_no_gpu_hw, &w, NULL, &plan),
                AMXMM_INVALID_ARGUMENT, "objective_decode_tokens");
    amxmm_plan_workload_init(&w);
    w.routing_stats_json = "{\"layers\": [[1, 2, 3]]}"; /* the llama model has no experts */
    CHECK_FAILS(amxmm_plan_create_from_model_json(k_llama_json, k_no_gpu_hw, &w, NULL, &plan),
                AMXMM_INVALID_ARGUMENT, "no experts");
    w.routing_stats_json = "{\"layers\": [[1, 2, 3]]}"; /* 3 experts per row; the MoE model has 8 */
    CHECK_FAILS(amxmm_plan_create_from_model_json(k_moe_json, k_no_gpu_hw, &w, NULL, &plan),
                AMXMM_INVALID_ARGUMENT, "workload");
    w.routing_stats_json = "{\"layers\": [[1, -2]]}";
    CHECK_FAILS(amxmm_plan_create_from_model_json(k_moe_json, k_no_gpu_hw, &w, NULL, &plan),
                AMXMM_MALFORMED_INPUT, "routing_stats_json");
    CHECK(plan == NULL);

    /* calibration file */
    CHECK_FAILS(amxmm_plan_create_from_model_json(k_llama_json, k_no_gpu_hw, NULL, "/nonexistent/calibration.json",
                                                  &plan),
                AMXMM_SYSTEM, "calibration_path");
    CHECK(plan == NULL);

    /* queries */
    CHECK_OK(amxmm_plan_create_from_model_json(k_llama_json, k_no_gpu_hw, NULL, NULL, &good));
    if (!good) return;
    CHECK_OK(amxmm_plan_tensor_count(good, &count));
    CHECK_FAILS(amxmm_plan_tensor_count(NULL, &count), AMXMM_INVALID_ARGUMENT, "plan is null");
    CHECK_FAILS(amxmm_plan_tensor_count(good, NULL), AMXMM_INVALID_ARGUMENT, "count is null");
    CHECK_FAILS(amxmm_plan_info(NULL, NULL, NULL, NULL, NULL, NULL), AMXMM_INVALID_ARGUMENT, "plan is null");
    CHECK_FAILS(amxmm_plan_tensor_info(good, count, &text, &layer, NULL, NULL, NULL), AMXMM_OUT_OF_RANGE,
                "is not a tensor index");
    CHECK(text == NULL && layer == 0);
    CHECK_FAILS(amxmm_plan_tensor_placement(good, count + 100, &kind, &gpu), AMXMM_OUT_OF_RANGE, "index = ");
    CHECK(kind == AMXMM_PLACE_CPU_HOST && gpu == 42);
    CHECK_FAILS(amxmm_plan_find_tensor(good, "blk.7.attn_q.weight", &index), AMXMM_OUT_OF_RANGE,
                "blk.7.attn_q.weight");
    CHECK(index == 12345);
    CHECK_FAILS(amxmm_plan_find_tensor(good, NULL, &index), AMXMM_INVALID_ARGUMENT, "name is null");
    CHECK_OK(amxmm_plan_find_tensor(good, "blk.0.attn_q.weight", &index));
    CHECK_FAILS(amxmm_plan_expert_placement(good, index, 0, &kind, &gpu), AMXMM_INVALID_ARGUMENT, "has no experts");
    CHECK_FAILS(amxmm_plan_attention_gpu(good, 3, &gpu), AMXMM_OUT_OF_RANGE, "layer = 3");
    CHECK_FAILS(amxmm_plan_attention_gpu(good, -1, &gpu), AMXMM_OUT_OF_RANGE, "layer = -1");
    CHECK_FAILS(amxmm_plan_phase(good, 2, NULL, NULL, NULL, NULL), AMXMM_OUT_OF_RANGE, "the plan has 2 phases");
    CHECK_FAILS(amxmm_plan_binding_constraint(good, NULL), AMXMM_INVALID_ARGUMENT, "text is null");
    CHECK(gpu == 42);
    /* text reports: sizes, a buffer too small is left untouched */
    CHECK_FAILS(amxmm_plan_to_json(good, NULL, 0, NULL), AMXMM_INVALID_ARGUMENT, "required is null");
    CHECK_FAILS(amxmm_plan_to_json(good, NULL, 10, &need), AMXMM_INVALID_ARGUMENT, "buffer is null");
    CHECK_OK(amxmm_plan_to_json(good, NULL, 0, &need));
    CHECK(need > sizeof small);
    memset(small, 'x', sizeof small);
    CHECK_FAILS(amxmm_plan_to_json(good, small, sizeof small, &need), AMXMM_BUFFER_TOO_SMALL, "too small");
    for (i = 0; i < sizeof small; ++i) CHECK(small[i] == 'x');
    {
        char* almost = malloc(need);
        size_t need2 = 0;
        memset(almost, 'y', need);
        CHECK_FAILS(amxmm_plan_to_json(good, almost, need - 1, &need2), AMXMM_BUFFER_TOO_SMALL, "too small");
        CHECK(need2 == need && almost[0] == 'y' && almost[need - 2] == 'y');
        CHECK_OK(amxmm_plan_to_json(good, almost, need, &need2));
        CHECK(almost[need - 1] == '\0' && almost[0] == '{');
        free(almost);
    }
    CHECK_FAILS(amxmm_plan_table(NULL, small, sizeof small, &need), AMXMM_INVALID_ARGUMENT, "plan is null");
    CHECK_FAILS(amxmm_plan_llama_cpp_flags(good, small, 3, &need), AMXMM_BUFFER_TOO_SMALL, "amxmm_plan_llama_cpp_flags");
    CHECK(need == strlen("-ngl 0") + 1);
    CHECK_OK(amxmm_plan_llama_cpp_flags(good, small, sizeof small, &need));
    CHECK(strcmp(small, "-ngl 0") == 0);
    CHECK_OK(amxmm_plan_tensor_info(good, 0, NULL, NULL, NULL, &experts, NULL)); /* NULL outs are fine */
    CHECK(experts == 0);
    amxmm_plan_destroy(good);
    amxmm_plan_destroy(NULL);
}

int main(void) {
    amxmm_executor* pool = NULL;
    CHECK_OK(amxmm_executor_create(2, &pool));
    test_version_and_isa();
    test_gpu_without_cuda();
    test_gemm_against_reference(pool);
    test_gemm_on_engine_threads();
    test_errors();
    test_thread_local_errors();
    test_moe(pool);
    test_gguf();
    test_plan_without_gpu();
    test_plan_with_gpus();
    test_plan_workload();
    test_plan_concurrent_reports();
    test_plan_this_machine();
    test_plan_errors();
    amxmm_executor_free(pool);
    if (g_failures) {
        fprintf(stderr, "amxmm C API tests: %d of %d checks FAILED\n", g_failures, g_checks);
        return 1;
    }
    printf("amxmm C API tests: all %d checks passed\n", g_checks);
    return 0;
}
