// What the planner knows about a model: its shape hyper-parameters and every tensor (name, ggml type,
// matrix geometry, bytes in the file layout). Built from a GGUF file's metadata and tensor table
// (model_from_gguf) or from JSON (model_from_json); no tensor data is read.
//
// Matrix geometry follows DESIGN §2: a weight is N rows (`rows`, output features) of K elements
// (`cols`, input features); an expert tensor holds `experts` such matrices (ggml's 3-D [K, N, E]).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../core/version.hpp"
#include "../format/ggml_type.hpp"

AMXMM_NAMESPACE_BEGIN
namespace plan {

/// What a tensor does in the forward pass; decides how its cost scales with the batch.
enum class tensor_role {
    token_embedding,  ///< token_embd: a row gather per token (no matmul)
    output,           ///< output (LM head): matmul, N = vocabulary; in prompt processing only the last token
    norm,             ///< any *_norm weight: elementwise
    attn_q, attn_k, attn_v, attn_qkv, attn_output,  ///< attention projections (dense matmuls)
    attn_other,       ///< other attention weights (e.g. deepseek2's attn_kv_a_mqa, attn_kv_b, q_a, q_b)
    ffn_gate, ffn_up, ffn_down,                      ///< dense FFN matmuls
    ffn_gate_exps, ffn_up_exps, ffn_down_exps,       ///< routed experts (experts > 0): MUL_MAT_ID
    ffn_gate_shexp, ffn_up_shexp, ffn_down_shexp,    ///< shared experts (dense matmuls run for every token)
    ffn_router,       ///< ffn_gate_inp: small dense matmul, N = experts
    other,            ///< anything else (biases, rope factors, ...): bytes only
};

struct tensor_desc {
    std::string name;                    ///< GGUF name, e.g. "blk.3.ffn_up_exps.weight"
    ggml_type type = ggml_type::f32;
    int layer = -1;                      ///< the N of "blk.N." ; -1 for tensors outside the blocks
    tensor_role role = tensor_role::other;
    std::int64_t rows = 0;               ///< N (per expert for expert tensors); 1 for vectors
    std::int64_t cols = 0;               ///< K
    std::int64_t experts = 0;            ///< E for routed-expert tensors, 0 otherwise
    std::uint64_t bytes = 0;             ///< bytes in the file layout, all experts included

    bool is_expert() const noexcept { return experts > 0; }
    bool is_matmul() const noexcept {
        return role != tensor_role::token_embedding && role != tensor_role::norm && role != tensor_role::other;
    }
    /// Bytes of one expert's matrix (bytes for a non-expert tensor).
    std::uint64_t bytes_per_expert() const noexcept { return experts > 0 ? bytes / std::uint64_t(experts) : bytes; }
};

struct model_desc {
    std::string name;                    ///< general.name, or the file name
    std::string architecture;            ///< general.architecture: llama, qwen2, qwen3, qwen3moe, deepseek2, ...
    int layers = 0;                      ///< <arch>.block_count
    std::int64_t embedding = 0;          ///< <arch>.embedding_length
    std::int64_t feed_forward = 0;       ///< <arch>.feed_forward_length (dense FFN width)
    std::int64_t expert_feed_forward = 0;///< <arch>.expert_feed_forward_length (0: same as feed_forward)
    std::int64_t vocabulary = 0;
    std::int64_t context_length = 0;     ///< trained context
    int heads = 0, kv_heads = 0;         ///< attention.head_count, attention.head_count_kv
    std::int64_t key_length = 0;         ///< per-head K width (attention.key_length, or embedding/heads)
    std::int64_t value_length = 0;       ///< per-head V width
    std::int64_t kv_lora_rank = 0;       ///< deepseek2 MLA: attention.kv_lora_rank (0 otherwise)
    std::int64_t rope_dimensions = 0;    ///< rope.dimension_count (deepseek2 MLA caches this many per token too)
    int experts = 0;                     ///< expert_count (0 for dense models)
    int experts_used = 0;                ///< expert_used_count (top-k)
    int shared_experts = 0;              ///< expert_shared_count
    int leading_dense_layers = 0;        ///< deepseek2: leading_dense_block_count
    std::vector<tensor_desc> tensors;    ///< in file order

    /// KV-cache bytes per token of context over all layers, for a cache of `cache_type` (f16 default).
    std::uint64_t kv_bytes_per_token(ggml_type cache_type = ggml_type::f16) const;
    /// Sum of tensors' bytes.
    std::uint64_t total_bytes() const;
};

}  // namespace plan
AMXMM_NAMESPACE_END
