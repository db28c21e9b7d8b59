// What the planner optimises for: prompt processing at one or more batch sizes, decoding at a batch
// size, a context length (KV-cache bytes), and optionally measured routing statistics so hot experts
// can be placed apart from cold ones.
#pragma once

#include <cstdint>
#include <vector>

#include "../core/version.hpp"
#include "../format/ggml_type.hpp"

AMXMM_NAMESPACE_BEGIN
namespace plan {

struct workload_desc {
    std::vector<std::int64_t> prompt_batches{512};  ///< tokens per prompt-processing ubatch (e.g. 64, 2048)
    std::int64_t decode_batch = 1;                  ///< sequences decoded together (tokens per decode step)
    std::int64_t context = 4096;                    ///< context length the KV cache must hold
    ggml_type kv_cache_type = ggml_type::f16;
    /// Optional: expert_frequency[layer][e] = fraction of routed (token, slot) pairs that pick expert e
    /// in that layer (each row sums to 1). Empty: uniform routing.
    std::vector<std::vector<double>> expert_frequency;
};

}  // namespace plan
AMXMM_NAMESPACE_END
