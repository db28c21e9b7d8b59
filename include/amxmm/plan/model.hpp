// What the planner knows about a model: its shape hyper-parameters and every tensor (name, ggml type,
// matrix geometry, bytes in the file layout). Built from a GGUF file's metadata and tensor table
// (model_from_gguf) or from JSON (model_from_json); no tensor data is read.
//
// Matrix geometry follows DESIGN §2: a weight is N rows (`rows`, output features) of K elements
// (`cols`, input features); an expert tensor holds `experts` such matrices (ggml's 3-D [K, N, E]).
//
// Where a model_desc comes from:
//   model_from_gguf(file or path)   a real (or synthesized) GGUF: "<arch>.*" hyper-parameters and the
//                                   tensor table; every tensor classified by its llama.cpp name
//   model_from_json(json)           the schema documented at model_from_json below
//   make_model(model_shape)         the standard llama.cpp tensor table of a llama / qwen2 / qwen3 dense
//                                   model or a qwen3moe / mixtral / qwen2moe / deepseek2 MoE model,
//                                   synthesized from hyper-parameters and weight types
//   presets                         qwen3_30b_a3b_q4_0(), llama3_8b_q4_0(), mixtral_8x7b_q4_0(),
//                                   deepseek_v2_lite_q4_0(), qwen2_5_7b_q4_0()
// and where it goes: to_json(model_desc), write_model_gguf(model, path) (a valid GGUF whose tensor data
// is a sparse hole: a 17 GB model costs a few hundred KB of disk and milliseconds).
//
// Tensor names (llama.cpp's): "token_embd.weight", "output_norm.weight", "output.weight" and
// "blk.<layer>.<base>.weight" with <base> one of attn_norm, attn_q, attn_k, attn_v, attn_qkv,
// attn_output, attn_q_norm, attn_k_norm, ffn_norm, ffn_gate, ffn_up, ffn_down, ffn_gate_inp (router),
// ffn_{gate,up,down}_exps (routed experts, 3-D [K, N, E]), ffn_{gate,up,down}_shexp (shared experts),
// deepseek2's attn_q_a, attn_q_a_norm, attn_q_b, attn_kv_a_mqa, attn_kv_a_norm, attn_kv_b, attn_k_b,
// attn_v_b; anything else (biases, rope_freqs, exp_probs_b, ...) has role `other` and counts by bytes.
#pragma once

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/version.hpp"
#include "../format/ggml_type.hpp"
#include "../gguf/reader.hpp"
#include "../gguf/writer.hpp"
#include "json.hpp"

AMXMM_NAMESPACE_BEGIN
namespace detail {

/// The planner's 64-bit byte arithmetic: a + b saturating at 2^64 - 1 (a sum that does not fit is then exceeded
/// by nothing, never wrapped to a small number), and a × b or invalid_argument
/// "function: what = a x b is more than 2^64 - 1".
inline std::uint64_t plan_sat_add(std::uint64_t a, std::uint64_t b) noexcept { return b > ~a ? ~std::uint64_t(0) : a + b; }
inline std::uint64_t plan_checked_mul(std::uint64_t a, std::uint64_t b, const char* function, const char* what) {
    require(a == 0 || b <= ~std::uint64_t(0) / a, errc::invalid_argument, function, what, " = ", a, " x ", b,
            " is more than 2^64 - 1");
    return a * b;
}

}  // namespace detail
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

    /// Equal names, types, layers, roles, geometry and bytes.
    friend bool operator==(const tensor_desc& a, const tensor_desc& b) {
        return a.name == b.name && a.type == b.type && a.layer == b.layer && a.role == b.role && a.rows == b.rows &&
               a.cols == b.cols && a.experts == b.experts && a.bytes == b.bytes;
    }
    friend bool operator!=(const tensor_desc& a, const tensor_desc& b) { return !(a == b); }
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

    // ---- added after the first commit of this header --------------------------------------------------
    std::int64_t q_lora_rank = 0;        ///< deepseek2: attention.q_lora_rank (0: plain attn_q)
    /// Width of the shared-expert FFN over all shared experts (<arch>.expert_shared_feed_forward_length
    /// when the file has it; 0 otherwise, meaning expert_feed_forward * shared_experts).
    std::int64_t shared_expert_feed_forward = 0;
    /// No "output.weight": the LM head reuses token_embd (tied embeddings), so the output matmul reads
    /// the token_embd tensor.
    bool tied_embeddings = false;
    /// Things the reader could not fully make sense of (unknown architecture, missing hyper-parameters
    /// derived from tensor shapes, tensors of unknown role). Not part of operator==.
    std::vector<std::string> warnings;

    bool is_moe() const noexcept { return experts > 0; }
    /// The tensor named `name`, or nullptr.
    const tensor_desc* find_tensor(std::string_view tensor_name) const noexcept {
        for (const tensor_desc& t : tensors)
            if (t.name == tensor_name) return &t;
        return nullptr;
    }
    /// The LM head: "output.weight", or token_embd when embeddings are tied; nullptr when neither exists.
    const tensor_desc* output_tensor() const noexcept {
        const tensor_desc* t = find_tensor("output.weight");
        return t ? t : find_tensor("token_embd.weight");
    }
    /// Sum of the routed-expert tensors' bytes (all layers, all experts); 2^64 - 1 when it does not fit.
    std::uint64_t expert_bytes() const noexcept {
        std::uint64_t b = 0;
        for (const tensor_desc& t : tensors)
            if (t.is_expert()) b = detail::plan_sat_add(b, t.bytes);
        return b;
    }

    /// Equal hyper-parameters and tensor tables (warnings are not compared).
    friend bool operator==(const model_desc& a, const model_desc& b) {
        return a.name == b.name && a.architecture == b.architecture && a.layers == b.layers &&
               a.embedding == b.embedding && a.feed_forward == b.feed_forward &&
               a.expert_feed_forward == b.expert_feed_forward && a.vocabulary == b.vocabulary &&
               a.context_length == b.context_length && a.heads == b.heads && a.kv_heads == b.kv_heads &&
               a.key_length == b.key_length && a.value_length == b.value_length && a.kv_lora_rank == b.kv_lora_rank &&
               a.rope_dimensions == b.rope_dimensions && a.experts == b.experts && a.experts_used == b.experts_used &&
               a.shared_experts == b.shared_experts && a.leading_dense_layers == b.leading_dense_layers &&
               a.q_lora_rank == b.q_lora_rank && a.shared_expert_feed_forward == b.shared_expert_feed_forward &&
               a.tied_embeddings == b.tied_embeddings && a.tensors == b.tensors;
    }
    friend bool operator!=(const model_desc& a, const model_desc& b) { return !(a == b); }

    /// KV-cache bytes per token of context over all layers, for a cache of `cache_type` (f16 default).
    /// Throws invalid_argument when it does not fit 64 bits.
    std::uint64_t kv_bytes_per_token(ggml_type cache_type = ggml_type::f16) const;
    /// Sum of tensors' bytes. Throws invalid_argument when it does not fit 64 bits.
    std::uint64_t total_bytes() const;
};

// ================================================================================================
// Names: tensor roles, ggml types, architectures.
// ================================================================================================

/// The role's name as used in JSON ("token_embedding", "attn_q", "ffn_up_exps", ...).
inline const char* role_name(tensor_role r) noexcept {
    switch (r) {
        case tensor_role::token_embedding: return "token_embedding";
        case tensor_role::output: return "output";
        case tensor_role::norm: return "norm";
        case tensor_role::attn_q: return "attn_q";
        case tensor_role::attn_k: return "attn_k";
        case tensor_role::attn_v: return "attn_v";
        case tensor_role::attn_qkv: return "attn_qkv";
        case tensor_role::attn_output: return "attn_output";
        case tensor_role::attn_other: return "attn_other";
        case tensor_role::ffn_gate: return "ffn_gate";
        case tensor_role::ffn_up: return "ffn_up";
        case tensor_role::ffn_down: return "ffn_down";
        case tensor_role::ffn_gate_exps: return "ffn_gate_exps";
        case tensor_role::ffn_up_exps: return "ffn_up_exps";
        case tensor_role::ffn_down_exps: return "ffn_down_exps";
        case tensor_role::ffn_gate_shexp: return "ffn_gate_shexp";
        case tensor_role::ffn_up_shexp: return "ffn_up_shexp";
        case tensor_role::ffn_down_shexp: return "ffn_down_shexp";
        case tensor_role::ffn_router: return "ffn_router";
        case tensor_role::other: return "other";
    }
    return "other";
}

/// Inverse of role_name; throws malformed_input for an unknown name.
inline tensor_role role_from_name(std::string_view name) {
    for (int i = 0; i <= static_cast<int>(tensor_role::other); ++i)
        if (name == role_name(static_cast<tensor_role>(i))) return static_cast<tensor_role>(i);
    detail::fail(errc::malformed_input, "role_from_name", "unknown tensor role \"", name, "\"");
}

/// The ggml type named `name` ("q4_0", "Q6_K", "f16", "bf16"; case-insensitive); throws
/// malformed_input for an unknown name.
inline ggml_type ggml_type_from_name(std::string_view name) {
    auto lower = [](std::string_view s) {
        std::string out(s);
        for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return out;
    };
    const std::string want = lower(name);
    for (std::uint32_t raw = 0; raw < 64; ++raw)
        if (is_known_ggml_type(raw) && lower(traits_of(static_cast<ggml_type>(raw)).name) == want)
            return static_cast<ggml_type>(raw);
    detail::fail(errc::malformed_input, "ggml_type_from_name", "unknown ggml type \"", name, "\"");
}

/// Architectures whose tensor naming and hyper-parameters this header knows (general.architecture
/// values). Mixtral-style MoE models use "llama" with expert_count > 0.
inline bool is_known_architecture(std::string_view arch) noexcept {
    for (std::string_view a : {"llama", "qwen2", "qwen3", "qwen2moe", "qwen3moe", "deepseek2"})
        if (arch == a) return true;
    return false;
}

/// Layer and role of a tensor from its llama.cpp name ("blk.3.ffn_up_exps.weight" -> 3, ffn_up_exps).
struct tensor_name_info {
    int layer = -1;                         ///< -1 outside the blocks
    tensor_role role = tensor_role::other;
    bool recognized = false;                ///< false: a name this header does not know (role other)
};

inline tensor_name_info classify_tensor_name(std::string_view name) {
    tensor_name_info info;
    std::string_view rest = name;
    if (rest.substr(0, 4) == "blk.") {
        rest.remove_prefix(4);
        std::size_t i = 0;
        long long layer = 0;
        while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9' && layer < (1 << 30)) layer = layer * 10 + (rest[i++] - '0');
        if (i > 0 && i < rest.size() && rest[i] == '.') {
            info.layer = static_cast<int>(layer);
            rest.remove_prefix(i + 1);
        } else {
            return info;  // "blk.x..." without a layer number: unknown
        }
    }
    const std::size_t dot = rest.rfind('.');
    const std::string_view base = dot == std::string_view::npos ? rest : rest.substr(0, dot);
    const std::string_view suffix = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
    if (suffix == "bias" || suffix == "scale" || suffix == "scales") {  // biases and per-tensor scales: bytes only
        info.recognized = true;
        return info;
    }
    if (suffix != "weight") return info;
    struct entry {
        std::string_view base;
        tensor_role role;
    };
    static constexpr entry block_entries[] = {
        {"attn_q", tensor_role::attn_q},
        {"attn_k", tensor_role::attn_k},
        {"attn_v", tensor_role::attn_v},
        {"attn_qkv", tensor_role::attn_qkv},
        {"attn_output", tensor_role::attn_output},
        {"attn_q_a", tensor_role::attn_other},
        {"attn_q_b", tensor_role::attn_other},
        {"attn_kv_a_mqa", tensor_role::attn_other},
        {"attn_kv_b", tensor_role::attn_other},
        {"attn_k_b", tensor_role::attn_other},
        {"attn_v_b", tensor_role::attn_other},
        {"ffn_gate", tensor_role::ffn_gate},
        {"ffn_up", tensor_role::ffn_up},
        {"ffn_down", tensor_role::ffn_down},
        {"ffn_gate_exps", tensor_role::ffn_gate_exps},
        {"ffn_up_exps", tensor_role::ffn_up_exps},
        {"ffn_down_exps", tensor_role::ffn_down_exps},
        {"ffn_gate_shexp", tensor_role::ffn_gate_shexp},
        {"ffn_up_shexp", tensor_role::ffn_up_shexp},
        {"ffn_down_shexp", tensor_role::ffn_down_shexp},
        {"ffn_gate_inp", tensor_role::ffn_router},
        {"ffn_gate_inp_shexp", tensor_role::other},  // qwen2moe's shared-expert gate: a vector
        {"exp_probs_b", tensor_role::other},         // deepseek3's expert-selection bias
        {"attn_sinks", tensor_role::other},
        {"rope_freqs", tensor_role::other},
    };
    static constexpr entry global_entries[] = {
        {"token_embd", tensor_role::token_embedding},
        {"output", tensor_role::output},
        {"rope_freqs", tensor_role::other},
    };
    if (info.layer >= 0) {
        for (const entry& e : block_entries)
            if (base == e.base) {
                info.role = e.role;
                info.recognized = true;
                return info;
            }
    } else {
        for (const entry& e : global_entries)
            if (base == e.base) {
                info.role = e.role;
                info.recognized = true;
                return info;
            }
    }
    if (base.size() >= 5 && base.substr(base.size() - 5) == "_norm") {  // attn_norm, ffn_norm, attn_q_norm, ...
        info.role = tensor_role::norm;
        info.recognized = true;
    }
    return info;
}

}  // namespace plan
namespace detail {

/// Bytes of a tensor with ggml dims `ne`; `code` for the error when the dims do not fit the type.
inline std::uint64_t plan_tensor_bytes(const std::string& name, ggml_type type, const std::array<std::int64_t, 4>& ne,
                                       errc code, const char* function) {
    require(is_known_ggml_type(static_cast<std::uint32_t>(type)), code, function, "tensor '", name,
            "': unknown ggml type ", static_cast<std::uint32_t>(type));
    for (std::size_t d = 0; d < 4; ++d)
        require(ne[d] >= 0, code, function, "tensor '", name, "': dims[", d, "] = ", ne[d], " is negative");
    std::uint64_t bytes = 0;
    const tensor_size_status st = ggml_tensor_bytes(type, ne, bytes);
    require(st != tensor_size_status::not_block_multiple, code, function, "tensor '", name, "' (",
            traits_of(type).name, "): dims[0] = ", ne[0], " is not a multiple of the block size ",
            traits_of(type).block_elements);
    require(st == tensor_size_status::ok, code, function, "tensor '", name, "': size overflows int64");
    return bytes;
}

}  // namespace detail
namespace plan {

/// A tensor_desc from a GGUF-style name, type and ggml dims (ne, dims[0] = K). Role and layer come from
/// the name; expert tensors (ffn_*_exps) take rows = dims[1] and experts = dims[2]; any other tensor
/// has rows = dims[1] * dims[2] * dims[3]. Throws malformed_input when dims[0] is not a multiple of
/// the type's block size (or a dim is negative, or the type is unknown).
inline tensor_desc describe_tensor(std::string name, ggml_type type, const std::vector<std::int64_t>& dims) {
    detail::require(dims.size() >= 1 && dims.size() <= 4, errc::malformed_input, "describe_tensor", "tensor '", name,
                    "': ", dims.size(), " dims (1 to 4 expected)");
    std::array<std::int64_t, 4> ne{1, 1, 1, 1};
    for (std::size_t d = 0; d < dims.size(); ++d) ne[d] = dims[d];
    tensor_desc t;
    t.bytes = detail::plan_tensor_bytes(name, type, ne, errc::malformed_input, "describe_tensor");
    const tensor_name_info info = classify_tensor_name(name);
    t.name = std::move(name);
    t.type = type;
    t.layer = info.layer;
    t.role = info.role;
    t.cols = ne[0];
    const bool expert = info.role == tensor_role::ffn_gate_exps || info.role == tensor_role::ffn_up_exps ||
                        info.role == tensor_role::ffn_down_exps;
    if (expert) {
        detail::require(dims.size() == 3, errc::malformed_input, "describe_tensor", "expert tensor '", t.name, "' has ",
                        dims.size(), " dims, expected 3 [K, N, experts]");
        t.rows = ne[1];
        t.experts = ne[2];
    } else {
        t.rows = ne[1] * ne[2] * ne[3];
    }
    return t;
}

/// ggml dims (ne) that describe `t`: [K, N, E] for expert tensors, [K] for vectors (rows == 1 and not a
/// matmul), [K, N] otherwise. describe_tensor(name, type, ggml_dims(t)) == t for tensors it made.
inline std::vector<std::int64_t> ggml_dims(const tensor_desc& t) {
    if (t.experts > 0) return {t.cols, t.rows, t.experts};
    if (t.rows == 1 && !t.is_matmul()) return {t.cols};
    return {t.cols, t.rows};
}

// ================================================================================================
// KV cache and totals.
// ================================================================================================

inline std::uint64_t model_desc::kv_bytes_per_token(ggml_type cache_type) const {
    constexpr const char* fn = "model_desc::kv_bytes_per_token";
    const ggml_type_traits tr = traits_of(cache_type);
    detail::require(tr.block_elements != 0, errc::invalid_argument, "model_desc::kv_bytes_per_token",
                    "cache_type = ", static_cast<std::uint32_t>(cache_type), " is not a ggml type");
    std::uint64_t per_layer_elements = 0;
    if (kv_lora_rank > 0) {
        // deepseek2 MLA: the compressed latent (kv_lora_rank) and the shared rope key (rope_dimensions).
        per_layer_elements = std::uint64_t(kv_lora_rank) + std::uint64_t(std::max<std::int64_t>(rope_dimensions, 0));
    } else {
        const std::int64_t k = key_length > 0 ? key_length : (heads > 0 ? embedding / heads : 0);
        const std::int64_t v = value_length > 0 ? value_length : k;
        const std::int64_t kvh = kv_heads > 0 ? kv_heads : heads;
        const std::uint64_t kv_width = std::uint64_t(std::max<std::int64_t>(k, 0)) + std::uint64_t(std::max<std::int64_t>(v, 0));
        per_layer_elements =
            detail::plan_checked_mul(std::uint64_t(std::max<std::int64_t>(kvh, 0)), kv_width, fn, "KV elements per layer");
    }
    // Quantized caches store whole blocks per row (K and V rows of a head); round each layer's row up.
    const std::uint64_t blocks = per_layer_elements / tr.block_elements + (per_layer_elements % tr.block_elements != 0);
    return detail::plan_checked_mul(detail::plan_checked_mul(std::uint64_t(layers > 0 ? layers : 0), blocks, fn,
                                                             "KV bytes per token"),
                                    tr.block_bytes, fn, "KV bytes per token");
}

inline std::uint64_t model_desc::total_bytes() const {
    std::uint64_t b = 0;
    for (const tensor_desc& t : tensors) {
        detail::require(t.bytes <= ~b, errc::invalid_argument, "model_desc::total_bytes",
                        "the tensors' bytes sum to more than 2^64 - 1 (at '", t.name, "', ", t.bytes, " bytes)");
        b += t.bytes;
    }
    return b;
}

// ================================================================================================
// From a GGUF file.
// ================================================================================================

}  // namespace plan
namespace detail {

/// An integer metadata value; an array of integers (per-layer values) gives its maximum. `per_layer`
/// is set when it was an array.
inline bool gguf_int_or_max(const gguf_metadata& md, const std::string& key, std::int64_t& out, bool& per_layer) {
    const gguf_value* v = md.find(key);
    if (!v) return false;
    per_layer = false;
    if (v->type() != gguf_value_type::array) {
        out = md.get_integer(key);
        return true;
    }
    const gguf_array& a = v->array();
    std::int64_t m = 0;
    auto take = [&](const auto& values) {
        for (const auto& x : values) m = std::max<std::int64_t>(m, static_cast<std::int64_t>(x));
    };
    switch (a.element_type()) {
        case gguf_value_type::uint8: take(a.values<std::uint8_t>()); break;
        case gguf_value_type::int8: take(a.values<std::int8_t>()); break;
        case gguf_value_type::uint16: take(a.values<std::uint16_t>()); break;
        case gguf_value_type::int16: take(a.values<std::int16_t>()); break;
        case gguf_value_type::uint32: take(a.values<std::uint32_t>()); break;
        case gguf_value_type::int32: take(a.values<std::int32_t>()); break;
        case gguf_value_type::uint64: take(a.values<std::uint64_t>()); break;
        case gguf_value_type::int64: take(a.values<std::int64_t>()); break;
        default:
            fail(errc::malformed_input, "model_from_gguf", "metadata key '", key, "' is ", v->type_description(),
                 ", not an integer or an array of integers");
    }
    out = m;
    per_layer = true;
    return true;
}

inline int to_int_field(std::int64_t v, const std::string& key) {
    require(v >= 0 && v <= std::int64_t(1) << 30, errc::malformed_input, "model_from_gguf", "metadata key '", key,
            "' = ", v, " is out of range");
    return static_cast<int>(v);
}

}  // namespace detail
namespace plan {

/// Describes a parsed GGUF file: "<arch>.*" hyper-parameters and every tensor (no tensor data is read).
/// Missing hyper-parameters are derived where possible (block count from the highest "blk.N", embedding
/// and vocabulary from token_embd, head_count_kv = head_count, key_length = embedding / heads,
/// value_length = key_length, rope dimensions = key_length) and each derivation is noted in `warnings`,
/// as are an unknown architecture, per-layer (array) hyper-parameters (their maximum is used) and
/// tensors whose names are not standard. `fallback_name` is used when there is no general.name.
/// Throws malformed_input when general.architecture is missing or a tensor's dims do not fit its type.
inline model_desc model_from_gguf(const gguf_file& file, const std::string& fallback_name = std::string()) {
    const char* fn = "model_from_gguf";
    const gguf_metadata& md = file.metadata();
    const gguf_value* arch_v = md.find("general.architecture");
    detail::require(arch_v != nullptr && arch_v->holds<std::string>(), errc::malformed_input, fn,
                    "no string 'general.architecture' in the metadata");
    model_desc m;
    m.architecture = arch_v->get<std::string>();
    const gguf_value* name_v = md.find("general.name");
    m.name = name_v && name_v->holds<std::string>() ? name_v->get<std::string>() : fallback_name;
    if (!is_known_architecture(m.architecture))
        m.warnings.push_back(detail::concat("architecture '", m.architecture,
                                            "' is not one the planner knows; tensors are described by name only"));

    auto get = [&](const char* suffix, std::int64_t fallback) -> std::int64_t {
        const std::string key = m.architecture + "." + suffix;
        std::int64_t v = 0;
        bool per_layer = false;
        if (!detail::gguf_int_or_max(md, key, v, per_layer)) return fallback;
        if (per_layer) m.warnings.push_back(detail::concat("'", key, "' is per layer; the planner uses its maximum, ", v));
        detail::require(v >= 0, errc::malformed_input, fn, "metadata key '", key, "' = ", v, " is negative");
        return v;
    };
    auto has = [&](const char* suffix) { return md.contains(m.architecture + "." + suffix); };

    // Tensors first: some hyper-parameters fall back to their shapes.
    m.tensors.reserve(file.tensors().size());
    std::vector<std::string> unknown;
    int max_layer = -1;
    for (const gguf_tensor_info& ti : file.tensors()) {
        std::vector<std::int64_t> dims(ti.dims.begin(), ti.dims.begin() + std::max<std::uint32_t>(ti.n_dims, 1));
        tensor_desc t = describe_tensor(ti.name, ti.type, dims);
        if (!classify_tensor_name(ti.name).recognized) unknown.push_back(ti.name);
        max_layer = std::max(max_layer, t.layer);
        m.tensors.push_back(std::move(t));
    }
    if (!unknown.empty()) {
        std::string list;
        for (std::size_t i = 0; i < unknown.size() && i < 4; ++i) (list += i ? ", " : "") += unknown[i];
        m.warnings.push_back(detail::concat(unknown.size(), " tensor(s) with names the planner does not know (", list,
                                            unknown.size() > 4 ? ", ..." : "", "): counted by bytes only"));
    }
    const tensor_desc* embd = m.find_tensor("token_embd.weight");

    m.layers = detail::to_int_field(get("block_count", max_layer + 1), m.architecture + ".block_count");
    if (!has("block_count")) m.warnings.push_back(detail::concat("no block_count; ", m.layers, " layers from tensor names"));
    m.embedding = get("embedding_length", embd ? embd->cols : 0);
    if (!has("embedding_length")) m.warnings.push_back("no embedding_length; taken from token_embd");
    m.feed_forward = get("feed_forward_length", 0);
    m.expert_feed_forward = get("expert_feed_forward_length", 0);
    m.shared_expert_feed_forward = get("expert_shared_feed_forward_length", 0);
    m.context_length = get("context_length", 0);
    m.heads = detail::to_int_field(get("attention.head_count", 0), "attention.head_count");
    m.kv_heads = detail::to_int_field(get("attention.head_count_kv", m.heads), "attention.head_count_kv");
    m.key_length = get("attention.key_length", m.heads > 0 ? m.embedding / m.heads : 0);
    m.value_length = get("attention.value_length", m.key_length);
    m.q_lora_rank = get("attention.q_lora_rank", 0);
    m.kv_lora_rank = get("attention.kv_lora_rank", 0);
    m.rope_dimensions = get("rope.dimension_count", m.key_length);
    m.experts = detail::to_int_field(get("expert_count", 0), "expert_count");
    m.experts_used = detail::to_int_field(get("expert_used_count", 0), "expert_used_count");
    m.shared_experts = detail::to_int_field(get("expert_shared_count", 0), "expert_shared_count");
    m.leading_dense_layers = detail::to_int_field(get("leading_dense_block_count", 0), "leading_dense_block_count");

    std::int64_t vocab = get("vocab_size", 0);
    if (vocab == 0) {
        if (const gguf_value* tok = md.find("tokenizer.ggml.tokens"); tok && tok->type() == gguf_value_type::array)
            vocab = static_cast<std::int64_t>(tok->array().size());
        else if (embd)
            vocab = embd->rows;
    }
    m.vocabulary = vocab;
    m.tied_embeddings = m.find_tensor("output.weight") == nullptr && embd != nullptr;

    // Expert tensors and expert_count must agree.
    for (const tensor_desc& t : m.tensors) {
        if (!t.is_expert()) continue;
        if (m.experts == 0) {
            m.experts = static_cast<int>(t.experts);
            m.warnings.push_back(detail::concat("no expert_count; ", m.experts, " experts from tensor '", t.name, "'"));
        } else if (t.experts != m.experts) {
            m.warnings.push_back(detail::concat("tensor '", t.name, "' holds ", t.experts, " experts, expert_count is ",
                                                m.experts));
        }
    }
    return m;
}

/// Opens `path` (mmap; no tensor data is touched) and describes it; the file name stands in for a
/// missing general.name. errc::system when the file cannot be opened.
inline model_desc model_from_gguf(const std::string& path) {
    const gguf_file f = gguf_file::open(path);
    const std::size_t slash = path.find_last_of('/');
    return model_from_gguf(f, slash == std::string::npos ? path : path.substr(slash + 1));
}

// ================================================================================================
// Synthesized models: model_shape -> the standard llama.cpp tensor table.
// ================================================================================================

/// Hyper-parameters and weight types of a model to synthesize with make_model.
struct model_shape {
    std::string name;
    /// llama (dense, or Mixtral-style MoE with experts > 0), qwen2 (q/k/v biases), qwen3 (q/k norms),
    /// qwen3moe, qwen2moe (shared expert + its gate), deepseek2 (MLA attention, shared experts, leading
    /// dense layers). Other names get llama's tensor table.
    std::string architecture = "llama";
    int layers = 0;
    std::int64_t embedding = 0;
    std::int64_t feed_forward = 0;                ///< dense FFN width (dense models and leading dense layers)
    std::int64_t expert_feed_forward = 0;         ///< per-expert FFN width; 0: feed_forward (Mixtral's files)
    std::int64_t shared_expert_feed_forward = 0;  ///< all shared experts together; 0: expert width × shared_experts
    std::int64_t vocabulary = 0;
    std::int64_t context_length = 4096;
    int heads = 0;
    int kv_heads = 0;                             ///< 0: heads
    std::int64_t head_dim = 0;                    ///< key_length; 0: embedding / heads (deepseek2: qk_nope + rope)
    std::int64_t value_dim = 0;                   ///< value_length; 0: head_dim
    int experts = 0, experts_used = 0, shared_experts = 0, leading_dense_layers = 0;
    std::int64_t q_lora_rank = 0, kv_lora_rank = 0;  ///< deepseek2
    std::int64_t rope_dimensions = 0;             ///< 0: head_dim (deepseek2: required, the rope part of head_dim)
    bool tied_embeddings = false;                 ///< no output.weight
    ggml_type weight_type = ggml_type::q4_0;      ///< every matmul weight except those below
    ggml_type token_embedding_type = ggml_type::q4_0;
    ggml_type output_type = ggml_type::q6_k;      ///< llama.cpp's Q4_0 quantization keeps output.weight at Q6_K
    ggml_type norm_type = ggml_type::f32;         ///< norms, biases and other vectors
    ggml_type router_type = ggml_type::f32;       ///< ffn_gate_inp (llama.cpp never quantizes it)
    /// Per-tensor-kind type exceptions by base name, e.g. {"attn_v", q8_0} (llama.cpp gives 8-expert
    /// models Q8_0 attn_k/attn_v under every quantization mix).
    std::vector<std::pair<std::string, ggml_type>> type_overrides;
};

}  // namespace plan
namespace detail {

struct model_builder {
    plan::model_desc& m;
    const plan::model_shape& s;

    ggml_type type_for(std::string_view base, ggml_type dflt) const {
        for (const auto& o : s.type_overrides)
            if (o.first == base) return o.second;
        return dflt;
    }
    void add(const std::string& name, ggml_type type, std::vector<std::int64_t> dims) {
        std::array<std::int64_t, 4> ne{1, 1, 1, 1};
        for (std::size_t d = 0; d < dims.size(); ++d) ne[d] = dims[d];
        plan_tensor_bytes(name, type, ne, errc::invalid_argument, "make_model");  // invalid_argument, not malformed
        m.tensors.push_back(plan::describe_tensor(name, type, dims));
    }
    void block(int l, std::string_view base, ggml_type dflt, std::vector<std::int64_t> dims,
               std::string_view suffix = "weight") {
        add(concat("blk.", l, ".", base, ".", suffix), type_for(base, dflt), std::move(dims));
    }
};

}  // namespace detail
namespace plan {

/// The model description of `s`: hyper-parameters copied, and the tensor table llama.cpp's converter
/// produces for that architecture (in its order: token_embd, blocks, output_norm, output). Throws
/// invalid_argument for an inconsistent shape (naming the field) or a weight type whose block size does
/// not divide a tensor's K.
inline model_desc make_model(const model_shape& s) {
    const char* fn = "make_model";
    const bool ds2 = s.architecture == "deepseek2";
    const bool moe = s.experts > 0;
    detail::require(s.layers >= 1, errc::invalid_argument, fn, "layers = ", s.layers, " (at least 1)");
    detail::require(s.embedding >= 1, errc::invalid_argument, fn, "embedding = ", s.embedding, " (at least 1)");
    detail::require(s.heads >= 1, errc::invalid_argument, fn, "heads = ", s.heads, " (at least 1)");
    detail::require(s.kv_heads >= 0 && s.kv_heads <= s.heads, errc::invalid_argument, fn, "kv_heads = ", s.kv_heads,
                    " (0..heads = ", s.heads, ")");
    detail::require(s.vocabulary >= 1, errc::invalid_argument, fn, "vocabulary = ", s.vocabulary, " (at least 1)");
    detail::require(s.context_length >= 0, errc::invalid_argument, fn, "context_length = ", s.context_length);
    detail::require(s.experts >= 0 && s.shared_experts >= 0 && s.leading_dense_layers >= 0, errc::invalid_argument, fn,
                    "negative expert counts");
    if (moe)
        detail::require(s.experts_used >= 1 && s.experts_used <= s.experts, errc::invalid_argument, fn,
                        "experts_used = ", s.experts_used, " must be in 1..experts = ", s.experts);
    else
        detail::require(s.experts_used == 0 && s.shared_experts == 0, errc::invalid_argument, fn,
                        "experts_used/shared_experts without experts");
    const bool any_dense_ffn = !moe || s.leading_dense_layers > 0;
    detail::require(!any_dense_ffn || s.feed_forward >= 1, errc::invalid_argument, fn, "feed_forward = ",
                    s.feed_forward, " (dense FFN layers need at least 1)");
    const std::int64_t eff = s.expert_feed_forward > 0 ? s.expert_feed_forward : s.feed_forward;
    detail::require(!moe || eff >= 1, errc::invalid_argument, fn, "expert_feed_forward = ", s.expert_feed_forward,
                    " and feed_forward = ", s.feed_forward, ": experts need a width");
    const std::int64_t head_dim = s.head_dim > 0 ? s.head_dim : s.embedding / s.heads;
    const std::int64_t value_dim = s.value_dim > 0 ? s.value_dim : head_dim;
    detail::require(head_dim >= 1, errc::invalid_argument, fn, "head_dim = ", head_dim);
    const std::int64_t rope = s.rope_dimensions > 0 ? s.rope_dimensions : head_dim;
    if (ds2) {
        detail::require(s.kv_lora_rank >= 1, errc::invalid_argument, fn, "deepseek2 needs kv_lora_rank >= 1");
        detail::require(s.rope_dimensions >= 1 && s.rope_dimensions < head_dim, errc::invalid_argument, fn,
                        "deepseek2 needs 0 < rope_dimensions (", s.rope_dimensions, ") < head_dim (", head_dim, ")");
    }
    const int kv_heads = s.kv_heads > 0 ? s.kv_heads : s.heads;
    const std::int64_t sff = s.shared_expert_feed_forward > 0 ? s.shared_expert_feed_forward : eff * s.shared_experts;

    model_desc m;
    m.name = s.name;
    m.architecture = s.architecture;
    m.layers = s.layers;
    m.embedding = s.embedding;
    m.feed_forward = s.feed_forward;
    m.expert_feed_forward = s.expert_feed_forward;
    m.shared_expert_feed_forward = s.shared_expert_feed_forward;
    m.vocabulary = s.vocabulary;
    m.context_length = s.context_length;
    m.heads = s.heads;
    m.kv_heads = kv_heads;
    m.key_length = head_dim;
    m.value_length = value_dim;
    m.q_lora_rank = ds2 ? s.q_lora_rank : 0;
    m.kv_lora_rank = ds2 ? s.kv_lora_rank : 0;
    m.rope_dimensions = rope;
    m.experts = s.experts;
    m.experts_used = s.experts_used;
    m.shared_experts = s.shared_experts;
    m.leading_dense_layers = s.leading_dense_layers;
    m.tied_embeddings = s.tied_embeddings;

    detail::model_builder b{m, s};
    const std::int64_t E = s.embedding;
    const ggml_type W = s.weight_type, V = s.norm_type;
    b.add("token_embd.weight", s.token_embedding_type, {E, s.vocabulary});
    for (int l = 0; l < s.layers; ++l) {
        b.block(l, "attn_norm", V, {E});
        if (ds2) {
            const std::int64_t nope = head_dim - rope;
            if (s.q_lora_rank > 0) {
                b.block(l, "attn_q_a", W, {E, s.q_lora_rank});
                b.block(l, "attn_q_a_norm", V, {s.q_lora_rank});
                b.block(l, "attn_q_b", W, {s.q_lora_rank, s.heads * head_dim});
            } else {
                b.block(l, "attn_q", W, {E, s.heads * head_dim});
            }
            b.block(l, "attn_kv_a_mqa", W, {E, s.kv_lora_rank + rope});
            b.block(l, "attn_kv_a_norm", V, {s.kv_lora_rank});
            b.block(l, "attn_kv_b", W, {s.kv_lora_rank, s.heads * (nope + value_dim)});
        } else {
            b.block(l, "attn_q", W, {E, s.heads * head_dim});
            b.block(l, "attn_k", W, {E, kv_heads * head_dim});
            b.block(l, "attn_v", W, {E, kv_heads * value_dim});
            if (s.architecture == "qwen2" || s.architecture == "qwen2moe") {
                b.block(l, "attn_q", V, {s.heads * head_dim}, "bias");
                b.block(l, "attn_k", V, {kv_heads * head_dim}, "bias");
                b.block(l, "attn_v", V, {kv_heads * value_dim}, "bias");
            }
            if (s.architecture == "qwen3" || s.architecture == "qwen3moe") {
                b.block(l, "attn_q_norm", V, {head_dim});
                b.block(l, "attn_k_norm", V, {head_dim});
            }
        }
        b.block(l, "attn_output", W, {s.heads * value_dim, E});
        b.block(l, "ffn_norm", V, {E});
        if (!moe || l < s.leading_dense_layers) {
            b.block(l, "ffn_gate", W, {E, s.feed_forward});
            b.block(l, "ffn_up", W, {E, s.feed_forward});
            b.block(l, "ffn_down", W, {s.feed_forward, E});
            continue;
        }
        b.block(l, "ffn_gate_inp", s.router_type, {E, s.experts});
        b.block(l, "ffn_gate_exps", W, {E, eff, s.experts});
        b.block(l, "ffn_up_exps", W, {E, eff, s.experts});
        b.block(l, "ffn_down_exps", W, {eff, E, s.experts});
        if (s.shared_experts > 0) {
            if (s.architecture == "qwen2moe") b.block(l, "ffn_gate_inp_shexp", V, {E});
            b.block(l, "ffn_gate_shexp", W, {E, sff});
            b.block(l, "ffn_up_shexp", W, {E, sff});
            b.block(l, "ffn_down_shexp", W, {sff, E});
        }
    }
    b.add("output_norm.weight", V, {E});
    if (!s.tied_embeddings) b.add("output.weight", s.output_type, {E, s.vocabulary});
    return m;
}

// ---- presets ----------------------------------------------------------------------------------------
// Shapes from the models' published configs; types as llama.cpp's `llama-quantize ... Q4_0` leaves them
// (llama_tensor_get_type): every 2-D weight Q4_0, output.weight Q6_K (the LM head gets Q6_K unless the
// quantization is itself Q8_0 or its K is not a multiple of 256), token_embd Q4_0, norms and the
// ffn_gate_inp router F32 (the converter writes them F32 and quantize skips them); 8-expert models
// (Mixtral) get Q8_0 attn_k/attn_v.

/// Qwen3-30B-A3B: 48 layers, embedding 2048, 32 heads / 4 KV heads of 128, 128 experts top-8 of width
/// 768, vocabulary 151936, context 40960. About 17.3 GB as Q4_0.
inline model_shape qwen3_30b_a3b_q4_0_shape() {
    model_shape s;
    s.name = "Qwen3-30B-A3B Q4_0";
    s.architecture = "qwen3moe";
    s.layers = 48;
    s.embedding = 2048;
    s.feed_forward = 6144;
    s.expert_feed_forward = 768;
    s.vocabulary = 151936;
    s.context_length = 40960;
    s.heads = 32;
    s.kv_heads = 4;
    s.head_dim = 128;
    s.experts = 128;
    s.experts_used = 8;
    return s;
}
inline model_desc qwen3_30b_a3b_q4_0() { return make_model(qwen3_30b_a3b_q4_0_shape()); }

/// Llama-3.1-8B: 32 layers, embedding 4096, FFN 14336, 32 heads / 8 KV heads, vocabulary 128256,
/// context 131072. About 4.7 GB as Q4_0. (Real files also hold a 64-element rope_freqs vector.)
inline model_shape llama3_8b_q4_0_shape() {
    model_shape s;
    s.name = "Llama-3.1-8B Q4_0";
    s.architecture = "llama";
    s.layers = 32;
    s.embedding = 4096;
    s.feed_forward = 14336;
    s.vocabulary = 128256;
    s.context_length = 131072;
    s.heads = 32;
    s.kv_heads = 8;
    s.head_dim = 128;
    return s;
}
inline model_desc llama3_8b_q4_0() { return make_model(llama3_8b_q4_0_shape()); }

/// Qwen3-8B (dense, q/k norms): 36 layers, embedding 4096, FFN 12288, 32 / 8 heads of 128.
inline model_shape qwen3_8b_q4_0_shape() {
    model_shape s;
    s.name = "Qwen3-8B Q4_0";
    s.architecture = "qwen3";
    s.layers = 36;
    s.embedding = 4096;
    s.feed_forward = 12288;
    s.vocabulary = 151936;
    s.context_length = 40960;
    s.heads = 32;
    s.kv_heads = 8;
    s.head_dim = 128;
    return s;
}
inline model_desc qwen3_8b_q4_0() { return make_model(qwen3_8b_q4_0_shape()); }

/// Qwen2.5-7B (q/k/v biases): 28 layers, embedding 3584, FFN 18944, 28 / 4 heads of 128.
inline model_shape qwen2_5_7b_q4_0_shape() {
    model_shape s;
    s.name = "Qwen2.5-7B Q4_0";
    s.architecture = "qwen2";
    s.layers = 28;
    s.embedding = 3584;
    s.feed_forward = 18944;
    s.vocabulary = 152064;
    s.context_length = 32768;
    s.heads = 28;
    s.kv_heads = 4;
    s.head_dim = 128;
    return s;
}
inline model_desc qwen2_5_7b_q4_0() { return make_model(qwen2_5_7b_q4_0_shape()); }

/// Mixtral-8x7B (llama architecture with 8 experts, top-2, expert width = feed_forward_length):
/// 32 layers, embedding 4096, FFN 14336, 32 / 8 heads, vocabulary 32000, context 32768.
inline model_shape mixtral_8x7b_q4_0_shape() {
    model_shape s;
    s.name = "Mixtral-8x7B Q4_0";
    s.architecture = "llama";
    s.layers = 32;
    s.embedding = 4096;
    s.feed_forward = 14336;
    s.vocabulary = 32000;
    s.context_length = 32768;
    s.heads = 32;
    s.kv_heads = 8;
    s.head_dim = 128;
    s.experts = 8;
    s.experts_used = 2;
    s.type_overrides = {{"attn_k", ggml_type::q8_0}, {"attn_v", ggml_type::q8_0}};
    return s;
}
inline model_desc mixtral_8x7b_q4_0() { return make_model(mixtral_8x7b_q4_0_shape()); }

/// DeepSeek-V2-Lite (deepseek2: MLA with kv_lora_rank 512 and 64 rope dims, no q LoRA; 64 experts
/// top-6 of width 1408 plus 2 shared; first layer dense): 27 layers, embedding 2048, 16 heads,
/// key 192 (128 + 64 rope), value 128, vocabulary 102400, context 163840.
inline model_shape deepseek_v2_lite_q4_0_shape() {
    model_shape s;
    s.name = "DeepSeek-V2-Lite Q4_0";
    s.architecture = "deepseek2";
    s.layers = 27;
    s.embedding = 2048;
    s.feed_forward = 10944;
    s.expert_feed_forward = 1408;
    s.vocabulary = 102400;
    s.context_length = 163840;
    s.heads = 16;
    s.kv_heads = 16;
    s.head_dim = 192;
    s.value_dim = 128;
    s.experts = 64;
    s.experts_used = 6;
    s.shared_experts = 2;
    s.leading_dense_layers = 1;
    s.kv_lora_rank = 512;
    s.rope_dimensions = 64;
    return s;
}
inline model_desc deepseek_v2_lite_q4_0() { return make_model(deepseek_v2_lite_q4_0_shape()); }

/// Names accepted by preset_shape / model_preset.
inline std::vector<std::string> preset_names() {
    return {"qwen3-30b-a3b-q4_0", "llama3-8b-q4_0",      "qwen3-8b-q4_0",
            "qwen2.5-7b-q4_0",    "mixtral-8x7b-q4_0",   "deepseek-v2-lite-q4_0"};
}
/// The shape of a preset by name (see preset_names); invalid_argument for other names.
inline model_shape preset_shape(std::string_view name) {
    if (name == "qwen3-30b-a3b-q4_0") return qwen3_30b_a3b_q4_0_shape();
    if (name == "llama3-8b-q4_0") return llama3_8b_q4_0_shape();
    if (name == "qwen3-8b-q4_0") return qwen3_8b_q4_0_shape();
    if (name == "qwen2.5-7b-q4_0") return qwen2_5_7b_q4_0_shape();
    if (name == "mixtral-8x7b-q4_0") return mixtral_8x7b_q4_0_shape();
    if (name == "deepseek-v2-lite-q4_0") return deepseek_v2_lite_q4_0_shape();
    std::string list;
    for (const std::string& n : preset_names()) (list += list.empty() ? "" : ", ") += n;
    detail::fail(errc::invalid_argument, "preset_shape", "unknown model preset \"", name, "\" (known: ", list, ")");
}
inline model_desc model_preset(std::string_view name) { return make_model(preset_shape(name)); }

// ================================================================================================
// JSON.
// ================================================================================================

/// The model as JSON (the schema of model_from_json, with tensors listed; "role", "layer", "bytes"
/// and "total_bytes" are written for readers and checked when read back).
inline json::value to_json(const model_desc& m) {
    json::value o = json::value::object();
    o.set("name", m.name)
        .set("architecture", m.architecture)
        .set("layers", m.layers)
        .set("embedding", m.embedding)
        .set("feed_forward", m.feed_forward)
        .set("expert_feed_forward", m.expert_feed_forward)
        .set("shared_expert_feed_forward", m.shared_expert_feed_forward)
        .set("vocabulary", m.vocabulary)
        .set("context_length", m.context_length)
        .set("heads", m.heads)
        .set("kv_heads", m.kv_heads)
        .set("key_length", m.key_length)
        .set("value_length", m.value_length)
        .set("q_lora_rank", m.q_lora_rank)
        .set("kv_lora_rank", m.kv_lora_rank)
        .set("rope_dimensions", m.rope_dimensions)
        .set("experts", m.experts)
        .set("experts_used", m.experts_used)
        .set("shared_experts", m.shared_experts)
        .set("leading_dense_layers", m.leading_dense_layers)
        .set("tied_embeddings", m.tied_embeddings)
        .set("total_bytes", m.total_bytes());
    if (!m.warnings.empty()) {
        json::value w = json::value::array();
        for (const std::string& s : m.warnings) w.push_back(s);
        o.set("warnings", std::move(w));
    }
    json::value ts = json::value::array();
    for (const tensor_desc& t : m.tensors) {
        json::value dims = json::value::array();
        for (std::int64_t d : ggml_dims(t)) dims.push_back(d);
        json::value j = json::value::object();
        j.set("name", t.name)
            .set("type", std::string(traits_of(t.type).name))
            .set("dims", std::move(dims))
            .set("role", role_name(t.role))
            .set("layer", t.layer)
            .set("bytes", t.bytes);
        ts.push_back(std::move(j));
    }
    o.set("tensors", std::move(ts));
    return o;
}

}  // namespace plan
namespace detail {

inline ggml_type json_ggml_type(const plan::json::value& v) {
    if (v.is_string()) return plan::ggml_type_from_name(v.as_string());
    const std::int64_t raw = v.as_int();
    require(raw >= 0 && raw < 1024 && is_known_ggml_type(static_cast<std::uint32_t>(raw)), errc::malformed_input,
            "ggml type", raw, " is not a ggml type number");
    return static_cast<ggml_type>(raw);
}

inline int json_small_int(const plan::json::value& v) {
    const std::int64_t i = v.as_int();
    require(i >= 0 && i <= (std::int64_t(1) << 30), errc::malformed_input, "json", "expected 0..2^30, found ", i);
    return static_cast<int>(i);
}

inline std::int64_t json_count(const plan::json::value& v) {
    const std::int64_t i = v.as_int();
    require(i >= 0, errc::malformed_input, "json", "expected a non-negative integer, found ", i);
    return i;
}

}  // namespace detail
namespace plan {

/// A model from JSON. Schema (every member optional unless said otherwise; unknown members are errors):
///
///   {
///     "preset": "qwen3-30b-a3b-q4_0",      // start from a preset (preset_names()); the members below
///                                          // then override its hyper-parameters
///     "name": "My model", "architecture": "qwen3moe",
///     "layers": 48, "embedding": 2048, "feed_forward": 6144, "expert_feed_forward": 768,
///     "shared_expert_feed_forward": 0, "vocabulary": 151936, "context_length": 40960,
///     "heads": 32, "kv_heads": 4, "key_length": 128, "value_length": 128,
///     "q_lora_rank": 0, "kv_lora_rank": 0, "rope_dimensions": 128,
///     "experts": 128, "experts_used": 8, "shared_experts": 0, "leading_dense_layers": 0,
///     "tied_embeddings": false,
///     // Without "tensors": the table is synthesized by make_model from the members above and these
///     // types (names as in ggml: "q4_0", "q6_K", "f16", ... or type numbers):
///     "weight_type": "q4_0", "token_embedding_type": "q4_0", "output_type": "q6_K",
///     "norm_type": "f32", "router_type": "f32", "type_overrides": {"attn_v": "q8_0"},
///     // With "tensors": the table as given (hyper-parameters are taken as written, missing ones 0):
///     "tensors": [ {"name": "blk.0.ffn_up_exps.weight", "type": "q4_0", "dims": [2048, 768, 128],
///                   "role": "ffn_up_exps", "layer": 0,   // optional: override what the name says
///                   "bytes": 113246208},                // optional: checked
///                  ... ],
///     "total_bytes": 17280000000,          // optional: checked against the tensors
///     "warnings": ["..."], "notes": "..."  // kept / ignored
///   }
///
/// Throws malformed_input naming the member ("model_from_json: tensors[3].dims: ...").
inline model_desc model_from_json(const json::value& j) {
    const char* fn = "model_from_json";
    detail::json_require_object(
        j,
        {"preset", "name", "architecture", "layers", "embedding", "feed_forward", "expert_feed_forward",
         "shared_expert_feed_forward", "vocabulary", "context_length", "heads", "kv_heads", "key_length",
         "value_length", "q_lora_rank", "kv_lora_rank", "rope_dimensions", "experts", "experts_used", "shared_experts",
         "leading_dense_layers", "tied_embeddings", "weight_type", "token_embedding_type", "output_type", "norm_type",
         "router_type", "type_overrides", "tensors", "total_bytes", "warnings", "notes"},
        fn, "model");
    const bool has_tensors = j.contains("tensors");
    detail::require(!(has_tensors && j.contains("preset")), errc::malformed_input, fn,
                    "\"preset\" and \"tensors\" cannot both be given");

    model_shape s;
    if (j.contains("preset")) {
        detail::json_member(j, "preset", fn, "model", [&](const json::value& v) {
            try {
                s = preset_shape(v.as_string());
            } catch (const error& e) {
                throw error(errc::malformed_input, e.what());
            }
        });
    }
    auto str = [&](const char* key, std::string& out) {
        detail::json_member(j, key, fn, "model", [&](const json::value& v) { out = v.as_string(); });
    };
    auto i64 = [&](const char* key, std::int64_t& out) {
        detail::json_member(j, key, fn, "model", [&](const json::value& v) { out = detail::json_count(v); });
    };
    auto i32 = [&](const char* key, int& out) {
        detail::json_member(j, key, fn, "model", [&](const json::value& v) { out = detail::json_small_int(v); });
    };
    auto type = [&](const char* key, ggml_type& out) {
        detail::json_member(j, key, fn, "model", [&](const json::value& v) { out = detail::json_ggml_type(v); });
    };

    if (!has_tensors) {
        str("name", s.name);
        str("architecture", s.architecture);
        i32("layers", s.layers);
        i64("embedding", s.embedding);
        i64("feed_forward", s.feed_forward);
        i64("expert_feed_forward", s.expert_feed_forward);
        i64("shared_expert_feed_forward", s.shared_expert_feed_forward);
        i64("vocabulary", s.vocabulary);
        i64("context_length", s.context_length);
        i32("heads", s.heads);
        i32("kv_heads", s.kv_heads);
        i64("key_length", s.head_dim);
        i64("value_length", s.value_dim);
        i64("q_lora_rank", s.q_lora_rank);
        i64("kv_lora_rank", s.kv_lora_rank);
        i64("rope_dimensions", s.rope_dimensions);
        i32("experts", s.experts);
        i32("experts_used", s.experts_used);
        i32("shared_experts", s.shared_experts);
        i32("leading_dense_layers", s.leading_dense_layers);
        detail::json_member(j, "tied_embeddings", fn, "model",
                            [&](const json::value& v) { s.tied_embeddings = v.as_bool(); });
        type("weight_type", s.weight_type);
        type("token_embedding_type", s.token_embedding_type);
        type("output_type", s.output_type);
        type("norm_type", s.norm_type);
        type("router_type", s.router_type);
        detail::json_member(j, "type_overrides", fn, "model", [&](const json::value& v) {
            s.type_overrides.clear();
            for (const auto& m : v.members()) s.type_overrides.emplace_back(m.first, detail::json_ggml_type(m.second));
        });
        model_desc m;
        try {
            m = make_model(s);
        } catch (const error& e) {
            throw error(errc::malformed_input, e.what());
        }
        detail::json_member(j, "warnings", fn, "model", [&](const json::value& v) {
            for (const json::value& w : v.items()) m.warnings.push_back(w.as_string());
        });
        detail::json_member(j, "total_bytes", fn, "model", [&](const json::value& v) {
            detail::require(v.as_uint() == m.total_bytes(), errc::malformed_input, "total_bytes", v.as_uint(),
                            " differs from the tensors' sum ", m.total_bytes());
        });
        return m;
    }

    for (const char* k : {"weight_type", "token_embedding_type", "output_type", "norm_type", "router_type", "type_overrides"})
        detail::require(!j.contains(k), errc::malformed_input, fn, "\"", k,
                        "\" only applies when the tensor table is synthesized (no \"tensors\")");
    model_desc m;
    str("name", m.name);
    str("architecture", m.architecture);
    i32("layers", m.layers);
    i64("embedding", m.embedding);
    i64("feed_forward", m.feed_forward);
    i64("expert_feed_forward", m.expert_feed_forward);
    i64("shared_expert_feed_forward", m.shared_expert_feed_forward);
    i64("vocabulary", m.vocabulary);
    i64("context_length", m.context_length);
    i32("heads", m.heads);
    i32("kv_heads", m.kv_heads);
    i64("key_length", m.key_length);
    i64("value_length", m.value_length);
    i64("q_lora_rank", m.q_lora_rank);
    i64("kv_lora_rank", m.kv_lora_rank);
    i64("rope_dimensions", m.rope_dimensions);
    i32("experts", m.experts);
    i32("experts_used", m.experts_used);
    i32("shared_experts", m.shared_experts);
    i32("leading_dense_layers", m.leading_dense_layers);
    detail::json_member(j, "warnings", fn, "model", [&](const json::value& v) {
        for (const json::value& w : v.items()) m.warnings.push_back(w.as_string());
    });
    const json::value& ts = j.at("tensors");
    detail::require(ts.is_array(), errc::malformed_input, fn, "model.tensors: expected an array, found ",
                    json::kind_name(ts.type()));
    for (std::size_t i = 0; i < ts.items().size(); ++i) {
        const json::value& tj = ts.items()[i];
        const std::string where = detail::concat("model.tensors[", i, "]");
        detail::json_require_object(tj, {"name", "type", "dims", "role", "layer", "bytes"}, fn, where);
        for (const char* k : {"name", "type", "dims"})
            detail::require(tj.contains(k), errc::malformed_input, fn, where, ": missing member \"", k, "\"");
        std::string name;
        ggml_type t = ggml_type::f32;
        std::vector<std::int64_t> dims;
        detail::json_member(tj, "name", fn, where, [&](const json::value& v) { name = v.as_string(); });
        detail::json_member(tj, "type", fn, where, [&](const json::value& v) { t = detail::json_ggml_type(v); });
        detail::json_member(tj, "dims", fn, where, [&](const json::value& v) {
            for (const json::value& d : v.items()) dims.push_back(detail::json_count(d));
        });
        tensor_desc td;
        try {
            td = describe_tensor(name, t, dims);
        } catch (const error& e) {
            throw error(e.code(), detail::concat(fn, ": ", where, ": ", e.what()));
        }
        detail::json_member(tj, "role", fn, where, [&](const json::value& v) { td.role = role_from_name(v.as_string()); });
        detail::json_member(tj, "layer", fn, where, [&](const json::value& v) {
            const std::int64_t l = v.as_int();
            detail::require(l >= -1 && l < (std::int64_t(1) << 30), errc::malformed_input, "layer", " = ", l);
            td.layer = static_cast<int>(l);
        });
        detail::json_member(tj, "bytes", fn, where, [&](const json::value& v) {
            detail::require(v.as_uint() == td.bytes, errc::malformed_input, "bytes", " = ", v.as_uint(), ", but ",
                            traits_of(t).name, " with these dims takes ", td.bytes);
        });
        m.tensors.push_back(std::move(td));
    }
    m.tied_embeddings = m.find_tensor("output.weight") == nullptr && m.find_tensor("token_embd.weight") != nullptr;
    detail::json_member(j, "tied_embeddings", fn, "model", [&](const json::value& v) {
        detail::require(v.as_bool() == m.tied_embeddings, errc::malformed_input, "tied_embeddings", " = ",
                        v.as_bool() ? "true" : "false", " disagrees with the tensor table (output.weight ",
                        m.tied_embeddings ? "absent" : "present", ")");
    });
    detail::json_member(j, "total_bytes", fn, "model", [&](const json::value& v) {
        detail::require(v.as_uint() == m.total_bytes(), errc::malformed_input, "total_bytes", " = ", v.as_uint(),
                        " differs from the tensors' sum ", m.total_bytes());
    });
    return m;
}

/// Reads a model JSON file (see model_from_json).
inline model_desc model_from_json_file(const std::string& path) {
    const json::value j = json::parse_file(path);
    try {
        return model_from_json(j);
    } catch (const error& e) {
        throw error(e.code(), path + ": " + e.what());
    }
}

// ================================================================================================
// To a GGUF file (no tensor data).
// ================================================================================================

/// Writes `m` as a GGUF v3 file: general.architecture, general.name, the "<arch>.*" hyper-parameters
/// model_from_gguf reads (MoE / deepseek2 ones only when nonzero), "amxmm.synthesized" = true, and the
/// full tensor table (dims from ggml_dims). The tensor data region is a hole (ftruncate), so the file
/// takes a few hundred KB of disk whatever the model's size, and model_from_gguf(path) == m.
/// Throws invalid_argument when a tensor's bytes disagree with its type and geometry, system on I/O
/// failure.
inline void write_model_gguf(const model_desc& m, const std::string& path) {
    const char* fn = "write_model_gguf";
    detail::require(!m.architecture.empty(), errc::invalid_argument, fn, "the model has no architecture");
    gguf_writer w(3);
    const std::string a = m.architecture + ".";
    auto u = [](std::int64_t v) -> gguf_value {
        if (v >= 0 && v <= std::int64_t(UINT32_MAX)) return gguf_value(static_cast<std::uint32_t>(v));
        return gguf_value(static_cast<std::int64_t>(v));
    };
    w.add("general.architecture", m.architecture);
    w.add("general.name", m.name);
    w.add("amxmm.synthesized", true);
    w.add(a + "block_count", u(m.layers));
    w.add(a + "context_length", u(m.context_length));
    w.add(a + "embedding_length", u(m.embedding));
    w.add(a + "feed_forward_length", u(m.feed_forward));
    w.add(a + "attention.head_count", u(m.heads));
    w.add(a + "attention.head_count_kv", u(m.kv_heads));
    w.add(a + "attention.key_length", u(m.key_length));
    w.add(a + "attention.value_length", u(m.value_length));
    w.add(a + "rope.dimension_count", u(m.rope_dimensions));
    w.add(a + "vocab_size", u(m.vocabulary));
    auto nonzero = [&](const char* key, std::int64_t v) {
        if (v != 0) w.add(a + key, u(v));
    };
    nonzero("expert_count", m.experts);
    nonzero("expert_used_count", m.experts_used);
    nonzero("expert_feed_forward_length", m.expert_feed_forward);
    nonzero("expert_shared_count", m.shared_experts);
    nonzero("expert_shared_feed_forward_length", m.shared_expert_feed_forward);
    nonzero("leading_dense_block_count", m.leading_dense_layers);
    nonzero("attention.q_lora_rank", m.q_lora_rank);
    nonzero("attention.kv_lora_rank", m.kv_lora_rank);
    for (const tensor_desc& t : m.tensors) {
        const std::vector<std::int64_t> dims = ggml_dims(t);
        std::array<std::int64_t, 4> ne{1, 1, 1, 1};
        for (std::size_t d = 0; d < dims.size(); ++d) ne[d] = dims[d];
        const std::uint64_t need = detail::plan_tensor_bytes(t.name, t.type, ne, errc::invalid_argument, fn);
        detail::require(need == t.bytes, errc::invalid_argument, fn, "tensor '", t.name, "': bytes = ", t.bytes,
                        ", but ", traits_of(t.type).name, " with its geometry takes ", need);
        w.add_tensor(t.name, t.type, dims);
    }
    w.write_file(path);
}

}  // namespace plan
AMXMM_NAMESPACE_END
