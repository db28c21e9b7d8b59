// Minimal amxmm::cuda consumer: <amxmm/cuda.cuh> compiles with nvcc as C++17 and links cudart and
// cuBLAS through the target. Without a GPU it says so and succeeds.
#include <amxmm/cuda.cuh>

#include <cstdio>
#include <vector>

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("amxmm %s (CUDA consumer): no GPU here, nothing to run\n", amxmm::version_string());
    return 0;
  }
  std::vector<amxmm::block_q4_0> w(4);  // 4 rows of K = 32, zero weights
  const auto gpu = amxmm::cuda::q4_0_weight::upload({w.data(), 4, 32});
  amxmm::cuda::context ctx;
  amxmm::cuda::device_buffer x(32 * sizeof(float)), y(4 * sizeof(float));
  cudaMemset(x.data(), 0, 32 * sizeof(float));
  const auto plan = amxmm::cuda::gemm_q4_0(ctx, gpu.view(), 1, static_cast<const float*>(x.data()), 32,
                                           static_cast<float*>(y.data()), 4, nullptr);
  std::printf("amxmm %s (CUDA consumer): %s, status %s\n", amxmm::version_string(), plan.reason.c_str(),
              cudaGetErrorString(cudaDeviceSynchronize()));
  return 0;
}
