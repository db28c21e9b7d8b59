// What the planner knows about a machine: the CPU (cores, NUMA, caches, ISA, AMX, memory, measured or
// nominal limits) and each GPU (memory, bandwidth, compute, link to the host). detect_hardware() reads
// this machine (hwloc, cpu/, the CUDA driver when present); every field can be overridden from JSON so
// one can plan for a machine one does not have.
//
// Units: bytes, bytes per second, operations (FLOP) per second. 0 means "unknown" where noted.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../core/version.hpp"

AMXMM_NAMESPACE_BEGIN
namespace plan {

struct cpu_desc {
    std::string name;                    ///< model name, e.g. "Intel Xeon Platinum 8480+"
    int cores = 0;                       ///< physical cores the engine will use
    int threads = 0;                     ///< hardware threads
    int numa_nodes = 1;
    std::uint64_t memory_bytes = 0;      ///< host memory available for weights (total RAM)
    std::uint64_t l2_bytes = 0;          ///< per core
    std::uint64_t llc_bytes = 0;         ///< last-level cache, total
    std::string isa;                     ///< best amxmm back end: amx, avx512_vnni, avx2, scalar
    bool amx = false;                    ///< AMX usable (present and permitted)
    double dram_read_bytes_per_s = 0;    ///< all cores streaming reads
    double matmul_flops = 0;             ///< sustained Q4_0 matmul throughput for large M (FLOP/s), all cores
    double vector_flops = 0;             ///< fp32 vector throughput for non-matmul work (attention etc.)
};

struct gpu_desc {
    std::string name;                    ///< e.g. "NVIDIA GeForce RTX 5090"
    std::uint64_t memory_bytes = 0;      ///< total device memory
    double memory_bytes_per_s = 0;       ///< HBM/GDDR bandwidth
    int sm_count = 0;
    double matmul_flops = 0;             ///< sustained Q4_0 matmul throughput for large M (FLOP/s)
    double host_to_device_bytes_per_s = 0;  ///< pinned host → device copy bandwidth (PCIe / NVLink-C2C)
};

struct hardware_desc {
    cpu_desc cpu;
    std::vector<gpu_desc> gpus;          ///< in CUDA device order
    std::uint64_t gpu_reserve_bytes = 512ull << 20;  ///< kept free on each GPU (context, cuBLAS, fragmentation)
    std::uint64_t cpu_reserve_bytes = 2ull << 30;    ///< kept free in host memory
};

}  // namespace plan
AMXMM_NAMESPACE_END
