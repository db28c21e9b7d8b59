// Probe: dequant + cuBLAS at m = 512 as one sequence (the library's path) vs an N-split pipeline on two
// streams, where chunk i+1's dequantization runs beside chunk i's GEMM. CUDA graph replays, hot weights.
#include <amxmm/cuda.cuh>
#include <cublas_v2.h>
#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>
using namespace amxmm;
using namespace amxmm::cuda;
#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { printf("%s: %s\n", #x, cudaGetErrorString(e_)); exit(1); } } while (0)
#define CB(x) do { cublasStatus_t e_ = (x); if (e_ != CUBLAS_STATUS_SUCCESS) { printf("%s: %d\n", #x, int(e_)); exit(1); } } while (0)

struct setup {
    long m, n, k;
    q4_0_device_view w;
    float *x, *y;
    __nv_bfloat16 *xb, *wb, *wpeer;
    void* ws[8];
    size_t ws_bytes = 32u << 20;
    cublasHandle_t h;
    cudaStream_t s[4];
    cudaEvent_t ev[64];
};

static void gemm(setup& S, cudaStream_t st, int wsi, long n0, long n1, const __nv_bfloat16* wb) {
    CB(cublasSetStream(S.h, st));
    CB(cublasSetWorkspace(S.h, S.ws[wsi], S.ws_bytes));
    const float a = 1, b = 0;
    CB(cublasGemmEx(S.h, CUBLAS_OP_T, CUBLAS_OP_N, int(n1 - n0), int(S.m), int(S.k), &a, wb + n0 * S.k, CUDA_R_16BF, int(S.k),
                    S.xb, CUDA_R_16BF, int(S.k), &b, S.y + n0, CUDA_R_32F, int(S.n), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}
static void deq(setup& S, cudaStream_t st, long n0, long n1) {
    q4_0_device_view v = S.w;
    v.layout.n = n1 - n0;
    v.qs = S.w.qs + n0 * S.w.layout.row_blocks() * 16;
    v.d = S.w.d + n0 * S.w.layout.row_blocks();
    amxmm::cuda::detail::dequant_bf16(v, S.wb + n0 * S.k, st, "probe");
}
static void conv(setup& S, cudaStream_t st) { amxmm::cuda::detail::convert_rows_bf16(S.x, S.k, 0, 1, S.m, S.k, S.xb, st, "probe"); }

// chunks over N on `streams` streams; conv on the last stream; chunk i on stream i % streams.
static void pipelined(setup& S, int chunks, int streams) {
    cudaStream_t s0 = S.s[0];
    int e = 0;
    CK(cudaEventRecord(S.ev[e], s0));
    for (int j = 1; j < streams; ++j) CK(cudaStreamWaitEvent(S.s[j], S.ev[e], 0));
    ++e;
    cudaStream_t cs = S.s[streams - 1];
    conv(S, cs);
    const int conv_ev = e++;
    CK(cudaEventRecord(S.ev[conv_ev], cs));
    const long step = ((S.n + chunks - 1) / chunks + 127) / 128 * 128;
    for (int i = 0; i < chunks; ++i) {
        const long n0 = i * step, n1 = std::min(S.n, n0 + step);
        if (n0 >= n1) break;
        cudaStream_t st = S.s[i % streams];
        deq(S, st, n0, n1);
        if (st != cs) CK(cudaStreamWaitEvent(st, S.ev[conv_ev], 0));
        gemm(S, st, i % streams, n0, n1, S.wb);
    }
    for (int j = 1; j < streams; ++j) {
        CK(cudaEventRecord(S.ev[e], S.s[j]));
        CK(cudaStreamWaitEvent(s0, S.ev[e], 0));
        ++e;
    }
}

template <class F>
static double time_graph(setup& S, F&& body, int reps = 200) {
    cudaGraph_t g;
    cudaGraphExec_t ge;
    CK(cudaStreamBeginCapture(S.s[0], cudaStreamCaptureModeGlobal));
    body();
    CK(cudaStreamEndCapture(S.s[0], &g));
    CK(cudaGraphInstantiate(&ge, g, 0));
    for (int i = 0; i < 10; ++i) CK(cudaGraphLaunch(ge, S.s[0]));
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    CK(cudaEventRecord(a, S.s[0]));
    for (int i = 0; i < reps; ++i) CK(cudaGraphLaunch(ge, S.s[0]));
    CK(cudaEventRecord(b, S.s[0]));
    CK(cudaEventSynchronize(b));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, a, b));
    CK(cudaGraphExecDestroy(ge));
    CK(cudaGraphDestroy(g));
    return ms * 1e3 / reps;
}

int main(int argc, char** argv) {
    const long shapes[][3] = {{512, 4096, 2048}, {512, 4096, 4096}, {512, 14336, 4096}, {512, 4096, 14336}, {2048, 4096, 2048}, {2048, 14336, 4096}};
    for (auto& sh : shapes) {
        setup S{};
        S.m = sh[0], S.n = sh[1], S.k = sh[2];
        q4_0_device_layout L;
        L.n = S.n, L.k = S.k;
        void *qs, *d;
        CK(cudaMalloc(&qs, L.qs_bytes()));
        CK(cudaMalloc(&d, L.d_bytes()));
        {
            std::mt19937 g(1);
            std::vector<uint8_t> hq(L.qs_bytes());
            for (auto& v : hq) v = uint8_t(g());
            std::vector<uint16_t> hd(L.d_bytes() / 2, 0x2000);
            CK(cudaMemcpy(qs, hq.data(), hq.size(), cudaMemcpyHostToDevice));
            CK(cudaMemcpy(d, hd.data(), hd.size() * 2, cudaMemcpyHostToDevice));
        }
        S.w.layout = L;
        S.w.qs = (const uint8_t*)qs;
        S.w.d = (const uint16_t*)d;
        CK(cudaMalloc(&S.x, S.m * S.k * 4));
        CK(cudaMemset(S.x, 0, S.m * S.k * 4));
        CK(cudaMalloc(&S.y, S.m * S.n * 4));
        CK(cudaMalloc(&S.xb, S.m * S.k * 2));
        CK(cudaMalloc(&S.wb, S.n * S.k * 2));
        CK(cudaMalloc(&S.wpeer, S.n * S.k * 2));
        CK(cudaMemset(S.wpeer, 0, S.n * S.k * 2));
        for (auto& p : S.ws) CK(cudaMalloc(&p, S.ws_bytes));
        CB(cublasCreate(&S.h));
        for (auto& s : S.s) CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
        for (auto& e : S.ev) CK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
        printf("m=%ld K=%ld N=%ld (min of 5 rounds, us)\n", S.m, S.k, S.n);
        double best[16];
        std::fill(best, best + 16, 1e9);
        const char* names[16] = {"cublas peer", "conv only", "dequant only", "sequence (library)", "pipe 2x2", "pipe 4x2", "pipe 8x2", "pipe 4x4", "pipe 8x4", "cublas N/2", "2 x cublas N/2 concurrent", "cublas N/4"};
        for (int r = 0; r < 5; ++r) {
            int i = 0;
            best[i] = std::min(best[i], time_graph(S, [&] { gemm(S, S.s[0], 0, 0, S.n, S.wpeer); })); ++i;
            best[i] = std::min(best[i], time_graph(S, [&] { conv(S, S.s[0]); })); ++i;
            best[i] = std::min(best[i], time_graph(S, [&] { deq(S, S.s[0], 0, S.n); })); ++i;
            best[i] = std::min(best[i], time_graph(S, [&] { conv(S, S.s[0]); deq(S, S.s[0], 0, S.n); gemm(S, S.s[0], 0, 0, S.n, S.wb); })); ++i;
            best[i] = std::min(best[i], time_graph(S, [&] { pipelined(S, 2, 2); })); ++i;
            best[i] = std::min(best[i], time_graph(S, [&] { pipelined(S, 4, 2); })); ++i;
            best[i] = std::min(best[i], time_graph(S, [&] { pipelined(S, 8, 2); })); ++i;
            best[i] = std::min(best[i], time_graph(S, [&] { pipelined(S, 4, 4); })); ++i;
            best[i] = std::min(best[i], time_graph(S, [&] { pipelined(S, 8, 4); })); ++i;
            best[i] = std::min(best[i], time_graph(S, [&] { gemm(S, S.s[0], 0, 0, S.n / 2, S.wpeer); })); ++i;
            best[i] = std::min(best[i], time_graph(S, [&] {
                CK(cudaEventRecord(S.ev[0], S.s[0])); CK(cudaStreamWaitEvent(S.s[1], S.ev[0], 0));
                gemm(S, S.s[0], 0, 0, S.n / 2, S.wpeer); gemm(S, S.s[1], 1, S.n / 2, S.n, S.wpeer);
                CK(cudaEventRecord(S.ev[1], S.s[1])); CK(cudaStreamWaitEvent(S.s[0], S.ev[1], 0)); })); ++i;
            best[i] = std::min(best[i], time_graph(S, [&] { gemm(S, S.s[0], 0, 0, S.n / 4, S.wpeer); })); ++i;
        }
        for (int i = 0; i < 12; ++i) printf("  %-28s %8.2f  (peer/this %.0f%%)\n", names[i], best[i], 100 * best[0] / best[i]);
        fflush(stdout);
        // correctness of the pipeline vs the sequence
        std::vector<float> y1(S.m * S.n), y2(S.m * S.n);
        {
            std::mt19937 g(2);
            std::vector<float> hx(S.m * S.k);
            for (auto& v : hx) v = float(int(g() % 200) - 100) / 64.f;
            CK(cudaMemcpy(S.x, hx.data(), hx.size() * 4, cudaMemcpyHostToDevice));
        }
        conv(S, S.s[0]); deq(S, S.s[0], 0, S.n); gemm(S, S.s[0], 0, 0, S.n, S.wb);
        CK(cudaStreamSynchronize(S.s[0]));
        CK(cudaMemcpy(y1.data(), S.y, y1.size() * 4, cudaMemcpyDeviceToHost));
        CK(cudaMemset(S.y, 0, S.m * S.n * 4));
        time_graph(S, [&] { pipelined(S, 4, 2); }, 1);
        CK(cudaMemcpy(y2.data(), S.y, y2.size() * 4, cudaMemcpyDeviceToHost));
        long diff = 0;
        for (size_t i = 0; i < y1.size(); ++i) diff += y1[i] != y2[i];
        printf("  pipeline vs sequence: %ld of %zu outputs differ\n", diff, y1.size());
        cublasDestroy(S.h);
        cudaFree(qs); cudaFree(d); cudaFree(S.x); cudaFree(S.y); cudaFree(S.xb); cudaFree(S.wb); cudaFree(S.wpeer);
        for (auto p : S.ws) cudaFree(p);
    }
}
