// CUDA and cuBLAS status codes as amxmm::error (errc::system), with the runtime's own message:
//   "cuda::gemm_q4_0: cudaLaunchKernelEx(q4_0_mma_kernel): cudaErrorInvalidValue: invalid argument"
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "../core/error.hpp"

AMXMM_NAMESPACE_BEGIN
namespace cuda {
namespace detail {

using amxmm::detail::fail;
using amxmm::detail::require;

/// Throws amxmm::error(errc::system) unless `status` is cudaSuccess.
inline void check_cuda(cudaError_t status, const char* function, const char* what) {
    if (status == cudaSuccess) return;
    throw error(errc::system, std::string(function) + ": " + what + ": " + cudaGetErrorName(status) + ": " +
                                  cudaGetErrorString(status));
}

/// Raises a kernel's dynamic shared memory limit to `bytes` on the current device, once per (kernel,
/// device, thread). Call it with the kernel's address taken in the same function that launches it:
/// the host stub of a kernel template may differ between translation units (nvcc emits one per TU,
/// and inlining decides which one a caller uses), so an attribute set elsewhere — e.g. by a context
/// constructed in another TU — may not apply to this launch (a cudaErrorInvalidValue at launch).
inline void ensure_dynamic_smem(const void* kernel, std::size_t bytes, const char* function) {
    if (bytes <= std::size_t(48) * 1024) return;  // the default limit
    int device = 0;
    check_cuda(cudaGetDevice(&device), function, "cudaGetDevice");
    struct raised {
        const void* kernel;
        int device;
        std::size_t bytes;
    };
    thread_local std::vector<raised> done;
    for (const raised& r : done)
        if (r.kernel == kernel && r.device == device && r.bytes >= bytes) return;
    check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)), function,
               "cudaFuncSetAttribute(MaxDynamicSharedMemorySize)");
    done.push_back({kernel, device, bytes});
}

// Kernels are launched with cudaLaunchKernelEx (gemm.cuh: launch_kernel) and its own status checked, never with
// <<<>>> and cudaGetLastError(): that returns (and clears) the last error of *any* earlier runtime call on the thread,
// e.g. a failed cudaMalloc of the caller's, which would be reported as an amxmm launch failure.

inline const char* cublas_status_name(cublasStatus_t s) {
    switch (s) {
        case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
        case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
        case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
        case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
        case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
        case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
        case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
        case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
        case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
        case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
        default: return "CUBLAS_STATUS_UNKNOWN";
    }
}

/// Throws amxmm::error(errc::system) unless `status` is CUBLAS_STATUS_SUCCESS.
inline void check_cublas(cublasStatus_t status, const char* function, const char* what) {
    if (status == CUBLAS_STATUS_SUCCESS) return;
    throw error(errc::system, std::string(function) + ": " + what + ": " + cublas_status_name(status) + ": " +
                                  cublasGetStatusString(status));
}

}  // namespace detail
}  // namespace cuda
AMXMM_NAMESPACE_END
