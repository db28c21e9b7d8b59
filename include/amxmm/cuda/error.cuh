// CUDA and cuBLAS status codes as amxmm::error (errc::system), with the runtime's own message:
//   "gemm_q4_0: cudaLaunchKernel(q4_0_gemv): cudaErrorInvalidValue: invalid argument"
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

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

/// Throws for the last launch error (a bad configuration shows here, asynchronous faults later).
inline void check_launch(const char* function, const char* kernel) {
    check_cuda(cudaGetLastError(), function, (std::string("launch of ") + kernel).c_str());
}

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
