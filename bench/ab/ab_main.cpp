// Paired A/B: each round calls base then new (order alternating) on identical data; reports the median
// and min time of each and the median of the per-round ratios new/base.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>
extern "C" double base_moe_ffn_cold(long, double*), new_moe_ffn_cold(long, double*);
extern "C" double base_moe_ffn(long, double*), new_moe_ffn(long, double*), base_moe_gemm(long, double*), new_moe_gemm(long, double*);
extern "C" double base_gemm(long, long, long, double*), new_gemm(long, long, long, double*);
extern "C" double base_decode(long, long, long, long, int, double*), new_decode(long, long, long, long, int, double*);
static double med(std::vector<double> v) { std::sort(v.begin(), v.end()); return v[v.size() / 2]; }
static std::string only;  // argv[2]: run the cases whose name contains one of these comma-separated parts (else all)
static bool wanted(const std::string& name) {
    if (only.empty()) return true;
    for (std::size_t i = 0; i <= only.size();) {
        const std::size_t j = std::min(only.find(',', i), only.size());
        if (j > i && name.find(only.substr(i, j - i)) != std::string::npos) return true;
        i = j + 1;
    }
    return false;
}
static void pair(const char* name, int rounds, const std::function<double(double*)>& a, const std::function<double(double*)>& b) {
    if (!wanted(name)) return;
    double ca, cb; a(&ca); b(&cb); a(&ca); b(&cb);  // warm up (data built, pages touched)
    std::vector<double> ta, tb, ratio;
    for (int r = 0; r < rounds; ++r) {
        double x, y;
        if (r & 1) { y = b(&cb); x = a(&ca); } else { x = a(&ca); y = b(&cb); }
        ta.push_back(x); tb.push_back(y); ratio.push_back(y / x);
    }
    std::printf("%-28s base med %8.3f min %8.3f ms | new med %8.3f min %8.3f ms | new/base med %.3f  (checksums %.6g %.6g)\n", name,
                med(ta) * 1e3, *std::min_element(ta.begin(), ta.end()) * 1e3, med(tb) * 1e3, *std::min_element(tb.begin(), tb.end()) * 1e3,
                med(ratio), ca, cb);
    std::fflush(stdout);
}
int main(int argc, char** argv) {
    const int rounds = argc > 1 ? std::atoi(argv[1]) : 30;
    if (argc > 2) only = argv[2];
    for (long m : {512L, 1024L, 2048L}) {
        pair(("moe_ffn qwen3 M" + std::to_string(m)).c_str(), rounds, [&](double* c) { return base_moe_ffn(m, c); }, [&](double* c) { return new_moe_ffn(m, c); });
        pair(("moe_gemm qwen3 M" + std::to_string(m)).c_str(), rounds, [&](double* c) { return base_moe_gemm(m, c); }, [&](double* c) { return new_moe_gemm(m, c); });
    }
    for (long k : {2048L, 4096L})
        for (long m : {512L, 2048L})
            pair(("gemm fast K" + std::to_string(k) + " N4096 M" + std::to_string(m)).c_str(), rounds,
                 [&](double* c) { return base_gemm(m, k, 4096, c); }, [&](double* c) { return new_gemm(m, k, 4096, c); });
    for (long k : {2048L, 4096L})  // the exact large-M path (AMX int8 tiles + per-block rescale), hot
        for (long m : {512L, 2048L})
            pair(("gemm exact K" + std::to_string(k) + " N4096 M" + std::to_string(m)).c_str(), rounds,
                 [&](double* c) { return base_decode(m, k, 4096, 1, 0, c); }, [&](double* c) { return new_decode(m, k, 4096, 1, 0, c); });
    for (long m : {24L, 32L})  // exact micro-kernels with more than 16 rows (amx_exact_kernel), hot
        pair(("gemm exact K4096 N14336 M" + std::to_string(m) + " hot").c_str(), rounds,
             [&](double* c) { return base_decode(m, 4096, 14336, 1, 0, c); }, [&](double* c) { return new_decode(m, 4096, 14336, 1, 0, c); });
    // Decode (exact): hot (one copy) and cold (AB_COLD_COPIES copies, default 40: 1.3 GB of weights at
    // K4096 N14336), on the library's choice of back end and on avx512_vnni.
    const long cold = std::getenv("AB_COLD_COPIES") ? std::atol(std::getenv("AB_COLD_COPIES")) : 40;
    for (long m : {1L, 4L, 8L, 16L})  // the same 8·m (token, expert) pairs every call: hot
        pair(("decode moe_ffn qwen3 M" + std::to_string(m) + " hot").c_str(), rounds, [&](double* c) { return base_moe_ffn(m, c); },
             [&](double* c) { return new_moe_ffn(m, c); });
    for (long m : {1L, 4L, 16L})  // every call on other experts than the last: cold
        pair(("decode moe_ffn qwen3 M" + std::to_string(m) + " cold").c_str(), rounds, [&](double* c) { return base_moe_ffn_cold(m, c); },
             [&](double* c) { return new_moe_ffn_cold(m, c); });
    for (long m : {1L, 4L})  // moe_gemm (gate) at decode sizes, hot
        pair(("decode moe_gemm qwen3 M" + std::to_string(m) + " hot").c_str(), rounds, [&](double* c) { return base_moe_gemm(m, c); },
             [&](double* c) { return new_moe_gemm(m, c); });
    for (long m : {1L, 4L})  // a small dense shape, where a call's fixed costs weigh most (7x the copies: 1.3 GB)
        for (long copies : {1L, 7 * cold}) {
            const std::string name = "decode auto K2048 N4096 M" + std::to_string(m) + (copies > 1 ? " cold" : " hot");
            pair(name.c_str(), rounds, [&](double* c) { return base_decode(m, 2048, 4096, copies, 0, c); },
                 [&](double* c) { return new_decode(m, 2048, 4096, copies, 0, c); });
        }
    for (long m : {16L, 32L, 48L, 64L})  // the small-m fast path (AMX micro-kernels; 48 and 64: row-group pairs), hot
        pair(("decode fast K4096 N14336 M" + std::to_string(m) + " hot").c_str(), rounds,
             [&](double* c) { return base_gemm(m, 4096, 14336, c); }, [&](double* c) { return new_gemm(m, 4096, 14336, c); });
    for (int isa_code : {0, 1})
        for (long m : {1L, 4L, 8L, 16L, 32L})
            for (long copies : {1L, cold}) {
                const std::string name = std::string("decode ") + (isa_code ? "avx512_vnni" : "auto") + " K4096 N14336 M" +
                                         std::to_string(m) + (copies > 1 ? " cold" : " hot");
                pair(name.c_str(), rounds, [&](double* c) { return base_decode(m, 4096, 14336, copies, isa_code, c); },
                     [&](double* c) { return new_decode(m, 4096, 14336, copies, isa_code, c); });
            }
}
