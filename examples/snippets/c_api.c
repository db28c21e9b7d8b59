/* README "Using amxmm from an engine" — the C snippet (C99). The part between snippet-begin and
 * snippet-end is quoted in README.md; the rest runs it on a small model and checks the results. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* snippet-begin */
#include <amxmm/c/amxmm.h>
#include <stdio.h>

/* Load time, once per tensor: a GGUF Q4_0 tensor -> a packed CPU weight (NULL on error). */
static amxmm_packed_weight* load_weight(const amxmm_gguf* model, const char* name, amxmm_executor* pool) {
    const void* blocks;
    int64_t n, k;
    amxmm_packed_weight* w = NULL;
    if (amxmm_gguf_q4_0_matrix(model, name, &blocks, &n, &k) != AMXMM_OK ||
        amxmm_pack_q4_0_vnni(blocks, n, k, pool, &w) != AMXMM_OK)
        fprintf(stderr, "amxmm: %s\n", amxmm_last_error());
    return w;
}

/* Each batch of m tokens: y (m × N) = x (m × K) · Wᵀ on amxmm's pool (NULL: this thread only). */
static amxmm_status project(const amxmm_packed_weight* w, int64_t m, const float* x, float* y,
                            amxmm_executor* pool) {
    int64_t n = 0, k = 0;
    amxmm_packed_weight_info(w, &n, &k, NULL);
    return amxmm_gemm_q4_0(w, m, x, k, y, n, NULL, pool, NULL);
}

/* The same from each of the engine's nth threads (thread ith): one shared sync (amxmm_sync_create)
 * and one shared workspace of amxmm_gemm_workspace_bytes(m, K) bytes (amxmm_aligned_alloc). */
static amxmm_status project_ith(const amxmm_packed_weight* w, int64_t m, const float* x, float* y, int ith,
                                int nth, amxmm_sync* sync, void* workspace, size_t workspace_bytes) {
    amxmm_gemm_options opt = AMXMM_GEMM_OPTIONS_INIT;
    int64_t n = 0, k = 0;
    amxmm_packed_weight_info(w, &n, &k, NULL);
    opt.workspace = workspace;
    opt.workspace_bytes = workspace_bytes;
    return amxmm_gemm_q4_0_ith(w, m, x, k, y, n, &opt, ith, nth, sync, NULL);
}

/* Load time, before packing: where should each tensor live? The placement planner answers for this
 * machine (hardware NULL) and the default workload (NULL): AMXMM_PLACE_CPU_AMX -> load_weight;
 * AMXMM_PLACE_GPU -> amxmm_gpu_weight_upload_q4_0 on GPU `gpu`; AMXMM_PLACE_CPU_HOST -> host memory
 * as in the file; AMXMM_PLACE_SPLIT -> per expert (amxmm_plan_expert_placement). */
static amxmm_plan* plan_placement(const char* gguf_path) {
    amxmm_plan* plan = NULL;
    size_t i, count = 0, needed;
    char flags[512];
    if (amxmm_plan_create(gguf_path, NULL, NULL, NULL, &plan) != AMXMM_OK) {
        fprintf(stderr, "amxmm: %s\n", amxmm_last_error());
        return NULL;
    }
    amxmm_plan_tensor_count(plan, &count);
    for (i = 0; i < count; ++i) {
        const char* name;
        amxmm_placement_kind where;
        int gpu;
        amxmm_plan_tensor_info(plan, i, &name, NULL, NULL, NULL, NULL);
        amxmm_plan_tensor_placement(plan, i, &where, &gpu);
        printf("%-28s %s %d\n", name, amxmm_placement_kind_name(where), gpu);
    }
    if (amxmm_plan_llama_cpp_flags(plan, flags, sizeof flags, &needed) == AMXMM_OK) /* else: needed bytes */
        printf("llama.cpp equivalent: %s\n", flags);
    return plan; /* amxmm_plan_to_json / _explain: the whole report; amxmm_plan_destroy when done */
}
/* snippet-end */

int snippet_write_model(const char* path, int64_t n, int64_t k); /* in c_api_impl.cpp */
int snippet_write_planner_model(const char* path);               /* in c_api_impl.cpp */

enum { N = 96, K = 128, M = 4, NTH = 3 };

typedef struct job {
    const amxmm_packed_weight* w;
    const float* x;
    float* y;
    int ith;
    amxmm_sync* sync;
    void* ws;
    size_t ws_bytes;
    amxmm_status status;
} job;

static void* run_job(void* arg) {
    job* j = arg;
    j->status = project_ith(j->w, M, j->x, j->y, j->ith, NTH, j->sync, j->ws, j->ws_bytes);
    return NULL;
}

int main(void) {
    char path[] = "/tmp/amxmm_snippet_XXXXXX";
    const int fd = mkstemp(path);
    amxmm_gguf* model = NULL;
    amxmm_executor* pool = NULL;
    amxmm_packed_weight* w;
    amxmm_sync* sync = NULL;
    void* ws = NULL;
    const size_t ws_bytes = amxmm_gemm_workspace_bytes(M, K);
    static float x[M * K], y[M * N], y_ith[M * N], y_serial[M * N];
    pthread_t threads[NTH];
    job jobs[NTH];
    int i, ok = 1;

    if (fd < 0 || close(fd) != 0 || snippet_write_model(path, N, K) != 0) return 1;
    for (i = 0; i < M * K; ++i) x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    if (amxmm_gguf_open(path, &model) != AMXMM_OK || amxmm_executor_create(0, &pool) != AMXMM_OK ||
        amxmm_sync_create(NTH, &sync) != AMXMM_OK || amxmm_aligned_alloc(ws_bytes, &ws) != AMXMM_OK) {
        fprintf(stderr, "amxmm: %s\n", amxmm_last_error());
        return 1;
    }
    w = load_weight(model, "blk.0.attn_q.weight", pool);
    amxmm_gguf_close(model); /* the packed weight does not refer to the file */
    remove(path);
    if (!w) return 1;
    ok &= project(w, M, x, y, pool) == AMXMM_OK;
    ok &= project(w, M, x, y_serial, NULL) == AMXMM_OK;
    for (i = 0; i < NTH; ++i) {
        jobs[i].w = w;
        jobs[i].x = x;
        jobs[i].y = y_ith;
        jobs[i].ith = i;
        jobs[i].sync = sync;
        jobs[i].ws = ws;
        jobs[i].ws_bytes = ws_bytes;
        pthread_create(&threads[i], NULL, run_job, &jobs[i]);
    }
    for (i = 0; i < NTH; ++i) {
        pthread_join(threads[i], NULL);
        ok &= jobs[i].status == AMXMM_OK;
    }
    ok &= memcmp(y, y_serial, sizeof y) == 0 && memcmp(y_ith, y_serial, sizeof y) == 0;
    printf("snippets/c_api: project (pool), project (serial) and project_ith (%d threads) %s\n", NTH,
           ok ? "match bitwise" : "DO NOT match");

    /* the planner on a small llama-shaped model (a GGUF file with a tensor table, no tensor data) */
    {
        char plan_path[] = "/tmp/amxmm_snippet_plan_XXXXXX";
        const int plan_fd = mkstemp(plan_path);
        amxmm_plan* plan;
        size_t count = 0, t;
        int placed = 1;
        if (plan_fd < 0 || close(plan_fd) != 0 || snippet_write_planner_model(plan_path) != 0) return 1;
        plan = plan_placement(plan_path);
        remove(plan_path);
        ok &= plan != NULL;
        if (plan) {
            ok &= amxmm_plan_tensor_count(plan, &count) == AMXMM_OK && count > 0;
            for (t = 0; t < count; ++t) {
                amxmm_placement_kind where = AMXMM_PLACE_MAX_ENUM;
                placed &= amxmm_plan_tensor_placement(plan, t, &where, NULL) == AMXMM_OK &&
                          amxmm_placement_kind_name(where) != NULL;
            }
            ok &= placed;
            printf("snippets/c_api: plan_placement placed %lu tensors %s\n", (unsigned long)count,
                   placed ? "" : "(NOT all)");
        }
        amxmm_plan_destroy(plan);
    }
    amxmm_packed_weight_free(w);
    amxmm_aligned_free(ws);
    amxmm_sync_free(sync);
    amxmm_executor_free(pool);
    return ok ? 0 : 1;
}
