// amxmm — implementation of the C API (<amxmm/c/amxmm.h>). Do not include this file directly:
// define AMXMM_C_IMPLEMENTATION and include <amxmm/c/amxmm.h> in exactly one C++17 translation unit.
//
// Every function: checks its handles and enums, converts the C arguments to the C++ API's, calls it,
// and turns any exception into a status plus a thread-local message (guarded() below). The handles
// are plain structs that own the C++ objects.
#pragma once

#if !defined(AMXMM_C_AMXMM_H) || !defined(__cplusplus)
#error "include <amxmm/c/amxmm.h> with AMXMM_C_IMPLEMENTATION defined, from a C++ file"
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../amxmm.hpp"
#include "../plan.hpp"

#if defined(AMXMM_C_WITH_CUDA)
#include "../cuda.cuh"  // compiled by nvcc: the GPU functions below
#endif

static_assert(AMXMM_C_VERSION_MAJOR == AMXMM_VERSION_MAJOR && AMXMM_C_VERSION_MINOR == AMXMM_VERSION_MINOR &&
                  AMXMM_C_VERSION_PATCH == AMXMM_VERSION_PATCH,
              "amxmm/c/amxmm.h and amxmm/core/version.hpp disagree on the version");
static_assert(int(amxmm::isa::scalar) == AMXMM_ISA_SCALAR && int(amxmm::isa::avx2) == AMXMM_ISA_AVX2 &&
                  int(amxmm::isa::avx512_vnni) == AMXMM_ISA_AVX512_VNNI && int(amxmm::isa::amx) == AMXMM_ISA_AMX &&
                  int(amxmm::isa::amx_emulated) == AMXMM_ISA_AMX_EMULATED,
              "amxmm_isa must mirror amxmm::isa");
static_assert(sizeof(amxmm::block_q4_0) == 18, "GGUF Q4_0 blocks are 18 bytes");

// ---- the handles ---------------------------------------------------------------------------------

struct amxmm_executor {
#if defined(AMXMM_HAVE_TBB)
    explicit amxmm_executor(int threads) : tbb(threads) {}
    amxmm::tbb_executor tbb;
#endif
};

struct amxmm_sync {
    explicit amxmm_sync(int nth) : sync(nth) {}
    amxmm::caller_threads_sync sync;
};

struct amxmm_packed_weight {
    amxmm::packed_q4_0_vnni packed;
};

struct amxmm_packed_experts {
    amxmm::packed_q4_0_vnni_experts experts;  // plain experts (gate_up == false)
    amxmm::packed_q4_0_vnni_gate_up gate_up;  // gate and up packed together (gate_up == true)
    bool is_gate_up = false;
};

struct amxmm_gguf {
    amxmm::gguf_file file;
};

/// A solved plan: the cost model it was solved with (which owns the model, hardware and workload
/// descriptions) and the solver's result. Immutable after creation; the text reports are computed on
/// first request, once (std::call_once), so concurrent queries are safe.
struct amxmm_plan {
    enum text_kind { text_json, text_table, text_explain, text_llama_cpp, text_count };

    explicit amxmm_plan(amxmm::plan::cost_model model) : cm(std::move(model)), result(amxmm::plan::solve(cm)) {}

    amxmm::plan::cost_model cm;
    amxmm::plan::solve_result result;
    mutable std::once_flag text_once[text_count];
    mutable std::string texts[text_count];
};

#if defined(AMXMM_C_WITH_CUDA)
struct amxmm_gpu_context {
    explicit amxmm_gpu_context(std::size_t workspace_bytes) : ctx(workspace_bytes) {}
    amxmm::cuda::context ctx;
};

struct amxmm_gpu_weight {
    amxmm::cuda::q4_0_weight weight;
};

static_assert(int(amxmm::cuda::gemm_path::automatic) == AMXMM_GPU_PATH_AUTO &&
                  int(amxmm::cuda::gemm_path::gemv) == AMXMM_GPU_PATH_GEMV &&
                  int(amxmm::cuda::gemm_path::mma) == AMXMM_GPU_PATH_MMA &&
                  int(amxmm::cuda::gemm_path::dequant_cublas) == AMXMM_GPU_PATH_DEQUANT_CUBLAS &&
                  int(amxmm::cuda::gemm_path::wgmma) == AMXMM_GPU_PATH_WGMMA,
              "amxmm_gpu_path must mirror amxmm::cuda::gemm_path");
static_assert(int(amxmm::cuda::moe_gemv_grouping::automatic) == AMXMM_GPU_MOE_GROUPING_AUTO &&
                  int(amxmm::cuda::moe_gemv_grouping::per_pair) == AMXMM_GPU_MOE_GROUPING_PER_PAIR &&
                  int(amxmm::cuda::moe_gemv_grouping::by_expert) == AMXMM_GPU_MOE_GROUPING_BY_EXPERT,
              "amxmm_gpu_moe_grouping must mirror amxmm::cuda::moe_gemv_grouping");
#endif

namespace amxmm_c_detail {

using amxmm::errc;
using amxmm::detail::require;

// ---- errors --------------------------------------------------------------------------------------

inline constexpr std::size_t error_capacity = 2048;

/// The calling thread's last error message (a fixed buffer: recording an error never allocates).
inline char* error_buffer() noexcept {
    thread_local char buffer[error_capacity] = "";
    return buffer;
}

/// Copies up to (capacity - 1) bytes of the parts into `to`, NUL-terminated (truncating quietly).
inline void copy_truncated(char* to, std::size_t capacity, std::initializer_list<const char*> parts) noexcept {
    std::size_t used = 0;
    for (const char* p : parts) {
        if (!p) continue;
        const std::size_t n = std::min(std::strlen(p), capacity - 1 - used);
        std::memcpy(to + used, p, n);
        used += n;
    }
    to[used] = '\0';
}

inline amxmm_status status_of(errc code) noexcept {
    switch (code) {
        case errc::invalid_argument: return AMXMM_INVALID_ARGUMENT;
        case errc::out_of_range: return AMXMM_OUT_OF_RANGE;
        case errc::buffer_too_small: return AMXMM_BUFFER_TOO_SMALL;
        case errc::unsupported: return AMXMM_UNSUPPORTED;
        case errc::malformed_input: return AMXMM_MALFORMED_INPUT;
        case errc::system: return AMXMM_SYSTEM;
    }
    return AMXMM_INTERNAL;
}

/// Runs body(); every exception becomes a status and the thread's message. `fn` (the C function's
/// name) prefixes the messages amxmm::error does not write itself.
template <class Body>
amxmm_status guarded(const char* fn, Body&& body) noexcept {
    try {
        body();
        return AMXMM_OK;
    } catch (const amxmm::error& e) {
        copy_truncated(error_buffer(), error_capacity, {e.what()});
        return status_of(e.code());
    } catch (const std::bad_alloc&) {
        copy_truncated(error_buffer(), error_capacity, {fn, ": out of memory"});
        return AMXMM_SYSTEM;
    } catch (const std::exception& e) {
        copy_truncated(error_buffer(), error_capacity, {fn, ": internal error: ", e.what()});
        return AMXMM_INTERNAL;
    } catch (...) {
        copy_truncated(error_buffer(), error_capacity, {fn, ": internal error: unknown exception"});
        return AMXMM_INTERNAL;
    }
}

/// Throws invalid_argument "fn: name is null" for a null handle or pointer.
template <class T>
T* need(T* p, const char* fn, const char* name) {
    require(p != nullptr, errc::invalid_argument, fn, name, " is null");
    return p;
}

// ---- argument conversion -------------------------------------------------------------------------

/// The int a C caller stored in an enum argument or field, read without loading it as the enum type.
/// In C++ an enum without negative members (all of amxmm's but amxmm_isa) has the range [0, 2^31 - 1],
/// so loading the -1 a C caller may pass would be undefined; its bytes are read as an int instead, and
/// every C enum is validated as that int before it is converted. Take the enum by reference: passing it
/// by value would load it.
template <class E>
inline int enum_int(const E& e) noexcept {
    static_assert(std::is_enum_v<E> && sizeof(E) == sizeof(int), "the C API's enums are int-sized");
    int v;
    std::memcpy(&v, &e, sizeof v);
    return v;
}

inline std::optional<amxmm::isa> to_isa(const amxmm_isa& isa, const char* fn, const char* name) {
    const int i = enum_int(isa);
    if (i == AMXMM_ISA_AUTO) return std::nullopt;
    require(i >= AMXMM_ISA_SCALAR && i <= AMXMM_ISA_AMX_EMULATED, errc::invalid_argument, fn, name, " = ", i,
            " is not an amxmm_isa value");
    return static_cast<amxmm::isa>(i);
}

/// options->mode and options->activation (CPU and GPU options alike).
inline amxmm::compute_mode to_mode(const amxmm_mode& mode, const char* fn) {
    const int m = enum_int(mode);
    switch (m) {
        case AMXMM_MODE_AUTO: return amxmm::compute_mode::automatic;
        case AMXMM_MODE_EXACT: return amxmm::compute_mode::exact;
        case AMXMM_MODE_FAST: return amxmm::compute_mode::fast;
        default: amxmm::detail::fail(errc::invalid_argument, fn, "options->mode = ", m, " is not an amxmm_mode value");
    }
}
inline amxmm::ffn_activation to_activation(const amxmm_activation& activation, const char* fn) {
    const int a = enum_int(activation);
    switch (a) {
        case AMXMM_ACTIVATION_SILU: return amxmm::ffn_activation::silu;
        case AMXMM_ACTIVATION_GELU_TANH: return amxmm::ffn_activation::gelu_tanh;
        default:
            amxmm::detail::fail(errc::invalid_argument, fn, "options->activation = ", a,
                                " is not an amxmm_activation value");
    }
}

/// The C++ options of a call (moe_ffn_options: gemm_options plus the activation). NULL: defaults.
inline amxmm::moe_ffn_options to_options(const amxmm_gemm_options* o, const char* fn) {
    amxmm::moe_ffn_options r;
    if (!o) return r;
    require(o->struct_size == sizeof(amxmm_gemm_options), errc::invalid_argument, fn, "options->struct_size = ",
            o->struct_size, " is not sizeof(amxmm_gemm_options) = ", sizeof(amxmm_gemm_options),
            " (initialise options with AMXMM_GEMM_OPTIONS_INIT or amxmm_gemm_options_init)");
    r.mode = to_mode(o->mode, fn);
    r.force_isa = to_isa(o->force_isa, fn, "options->force_isa");
    require(o->kc_blocks >= 0, errc::invalid_argument, fn, "options->kc_blocks = ", o->kc_blocks, " is negative");
    r.kc_blocks = o->kc_blocks;
    r.workspace = o->workspace;
    r.workspace_bytes = o->workspace_bytes;
    r.activation = to_activation(o->activation, fn);
    return r;
}

inline void fill_plan(amxmm_gemm_plan* out, const amxmm::gemm_plan& p) noexcept {
    if (!out) return;
    out->isa = static_cast<amxmm_isa>(int(p.backend));
    out->mode = p.mode == amxmm::compute_mode::fast ? AMXMM_MODE_FAST : AMXMM_MODE_EXACT;
    copy_truncated(out->reason, sizeof(out->reason), {p.reason.c_str()});
}

/// Calls fn(executor&) with the handle's oneTBB executor, or a serial one for NULL.
template <class Fn>
decltype(auto) with_executor(amxmm_executor* ex, Fn&& fn) {
#if defined(AMXMM_HAVE_TBB)
    if (ex) return fn(ex->tbb);
#else
    (void)ex;
#endif
    amxmm::serial_executor serial;
    return fn(serial);
}

/// The executor of thread ith of nth sharing `sync`. A bad (ith, nth) is left to the executor: it fails
/// every thread of the call at the end of the first phase, where a refusal here would fail this thread
/// alone and leave the others waiting for it.
inline amxmm::caller_threads_executor caller_threads(int ith, int nth, amxmm_sync* sync, const char* fn) {
    need(sync, fn, "sync");
    return amxmm::caller_threads_executor{ith, nth, &sync->sync};
}

inline const amxmm::block_q4_0* q4_0_blocks(const void* p, const char* fn, const char* name) {
    need(p, fn, name);
    require(reinterpret_cast<std::uintptr_t>(p) % alignof(amxmm::block_q4_0) == 0, errc::invalid_argument, fn, name,
            " = ", p, " is not ", alignof(amxmm::block_q4_0), "-byte aligned (GGUF Q4_0 blocks hold an fp16)");
    return static_cast<const amxmm::block_q4_0*>(p);
}

inline amxmm::packed_q4_0_vnni_experts_view plain_experts(const amxmm_packed_experts* p, const char* fn,
                                                          const char* name) {
    need(p, fn, name);
    require(!p->is_gate_up, errc::invalid_argument, fn, name,
            " holds gate and up packed together (amxmm_pack_q4_0_vnni_gate_up): pass it as moe_ffn's gate, "
            "with up = NULL");
    return p->experts.view();
}

inline amxmm::moe_routing to_routing(const amxmm_moe_routing* r, const char* fn) {
    need(r, fn, "routing");
    return amxmm::moe_routing{r->m, r->top_k, r->ids, r->ld_ids};
}

inline amxmm::moe_input_rows to_rows(const amxmm_moe_input_rows& input_rows, const char* fn) {
    const int rows = enum_int(input_rows);
    require(rows == AMXMM_MOE_ROWS_PER_TOKEN || rows == AMXMM_MOE_ROWS_PER_SLOT, errc::invalid_argument, fn,
            "rows = ", rows, " is not an amxmm_moe_input_rows value");
    return rows == AMXMM_MOE_ROWS_PER_TOKEN ? amxmm::moe_input_rows::per_token : amxmm::moe_input_rows::per_slot;
}

/// Sizes are bounded so that the workspace arithmetic cannot overflow (as the packers bound N and K).
inline void require_size_args(const char* fn, std::int64_t m, std::int64_t k, const char* k_name = "K") {
    constexpr std::int64_t limit = std::int64_t(1) << 40;
    require(m >= 0 && m <= limit, errc::invalid_argument, fn, "m = ", m, " must be in [0, 2^40]");
    require(k > 0 && k % 32 == 0 && k <= limit, errc::invalid_argument, fn, k_name, " = ", k,
            " must be a positive multiple of 32, at most 2^40");
    require(m + 32 <= (std::int64_t(1) << 56) / k, errc::invalid_argument, fn, "m x ", k_name, " = ", m, " x ", k,
            " is too large");
}

/// The (token, slot) pairs of a MoE workspace query (CPU and GPU): top_k in [1, E], m·top_k rows of `k`
/// within require_size_args' limits (m checked before it is multiplied).
inline void require_pairs(const char* fn, std::int64_t m, std::int64_t top_k, std::int64_t experts, std::int64_t k) {
    require(top_k >= 1 && top_k <= experts, errc::invalid_argument, fn, "top_k = ", top_k, " must be in [1, E = ",
            experts, "]");
    require(m >= 0 && m <= (std::int64_t(1) << 40) / top_k, errc::invalid_argument, fn, "m = ", m, " with top_k = ",
            top_k, " must give at most 2^40 pairs");
    require_size_args(fn, m * top_k, k);
}

/// moe_ffn with the weights resolved: gate (+ up) or gate_up, and down.
template <class Executor>
amxmm::gemm_plan run_moe_ffn(const amxmm_packed_experts* gate, const amxmm_packed_experts* up,
                             const amxmm_packed_experts* down, const amxmm_moe_routing* routing, const float* weights,
                             std::int64_t ld_weights, const float* x, std::int64_t ldx, float* y, std::int64_t ldy,
                             const amxmm_gemm_options* options, Executor&& ex, const char* fn) {
    need(gate, fn, "gate");
    const amxmm::packed_q4_0_vnni_experts_view down_view = plain_experts(down, fn, "down");
    const amxmm::moe_routing r = to_routing(routing, fn);
    const amxmm::moe_ffn_options opt = to_options(options, fn);
    if (gate->is_gate_up) {
        require(up == nullptr, errc::invalid_argument, fn,
                "up must be NULL: gate holds gate and up packed together (amxmm_pack_q4_0_vnni_gate_up)");
        return amxmm::moe_ffn(gate->gate_up.view(), down_view, r, weights, ld_weights, x, ldx, y, ldy, opt, ex);
    }
    const amxmm::packed_q4_0_vnni_experts_view up_view = plain_experts(up, fn, "up");
    return amxmm::moe_ffn(gate->experts.view(), up_view, down_view, r, weights, ld_weights, x, ldx, y, ldy, opt, ex);
}

#if defined(AMXMM_C_WITH_CUDA)
/// sizeof(amxmm_gpu_options) in the first release, which ended at `activation` (rounded up to the struct's
/// alignment, as sizeof rounds it).
inline constexpr std::size_t gpu_options_first_size =
    (offsetof(amxmm_gpu_options, moe_grouping) + alignof(amxmm_gpu_options) - 1) / alignof(amxmm_gpu_options) *
    alignof(amxmm_gpu_options);
static_assert(gpu_options_first_size < sizeof(amxmm_gpu_options), "the first release's size must stay distinct");

/// The C++ options of a GPU call (NULL: defaults).
inline amxmm::cuda::moe_ffn_options to_gpu_options(const amxmm_gpu_options* o, const char* fn) {
    amxmm::cuda::moe_ffn_options r;
    if (!o) return r;
    // The first release's struct ended at `activation`: its callers get the later members' defaults.
    const bool first_release = o->struct_size == gpu_options_first_size;
    require(o->struct_size == sizeof(amxmm_gpu_options) || first_release, errc::invalid_argument, fn,
            "options->struct_size = ", o->struct_size, " is not sizeof(amxmm_gpu_options) = ", sizeof(amxmm_gpu_options),
            " (nor the first release's ", gpu_options_first_size,
            "; initialise options with AMXMM_GPU_OPTIONS_INIT or amxmm_gpu_options_init)");
    const int path = enum_int(o->path);
    require(path >= AMXMM_GPU_PATH_AUTO && path <= AMXMM_GPU_PATH_WGMMA, errc::invalid_argument, fn,
            "options->path = ", path, " is not an amxmm_gpu_path value");
    if (!first_release) {
        const int grouping = enum_int(o->moe_grouping);
        require(grouping >= AMXMM_GPU_MOE_GROUPING_AUTO && grouping <= AMXMM_GPU_MOE_GROUPING_BY_EXPERT,
                errc::invalid_argument, fn, "options->moe_grouping = ", grouping,
                " is not an amxmm_gpu_moe_grouping value");
        require(o->reserved == 0, errc::invalid_argument, fn, "options->reserved = ", o->reserved, " must be 0");
        r.moe_grouping = static_cast<amxmm::cuda::moe_gemv_grouping>(grouping);
    }
    r.path = static_cast<amxmm::cuda::gemm_path>(path);
    r.mode = to_mode(o->mode, fn);  // exact: the CUDA gemv and mma paths
    r.workspace = o->workspace;
    r.workspace_bytes = o->workspace_bytes;
    r.activation = to_activation(o->activation, fn);
    return r;
}

inline void fill_gpu_plan(amxmm_gpu_plan* out, const amxmm::cuda::gemm_plan& p) noexcept {
    if (!out) return;
    out->path = static_cast<amxmm_gpu_path>(int(p.path));
    out->mode = p.mode == amxmm::compute_mode::fast ? AMXMM_MODE_FAST : AMXMM_MODE_EXACT;
    out->tile_rows = p.tile_rows;
    out->k_splits = p.k_splits;
    out->workspace_bytes = p.workspace_bytes;
    copy_truncated(out->reason, sizeof(out->reason), {p.reason.c_str()});
}
#else
[[noreturn]] inline void no_cuda(const char* fn) {
    amxmm::detail::fail(errc::unsupported, fn,
                        "this build of amxmm's C API was built without CUDA (compile the implementation file with "
                        "nvcc, AMXMM_C_WITH_CUDA defined, and link amxmm::cuda)");
}
#endif

// ---- placement plans -----------------------------------------------------------------------------

static_assert(int(amxmm::plan::placement_kind::cpu_amx) == AMXMM_PLACE_CPU_AMX &&
                  int(amxmm::plan::placement_kind::cpu_host) == AMXMM_PLACE_CPU_HOST &&
                  int(amxmm::plan::placement_kind::gpu) == AMXMM_PLACE_GPU,
              "amxmm_placement_kind must mirror amxmm::plan::placement_kind");

/// Runs fn(); an amxmm::error it throws gets "fn: what: " in front of its message (same code), so a
/// message from a JSON parser or a file reader also says which argument of which C function it was.
template <class Fn>
decltype(auto) naming(const char* fn, const char* what, Fn&& body) {
    try {
        return body();
    } catch (const amxmm::error& e) {
        throw amxmm::error(e.code(), amxmm::detail::concat(fn, ": ", what, ": ", e.what()));
    }
}

inline amxmm::plan::json::value parse_json_arg(const char* text, const char* fn, const char* name) {
    return naming(fn, name, [&] { return amxmm::plan::json::parse(text); });
}

/// The C++ workload and objective of a C workload (NULL: defaults).
inline std::pair<amxmm::plan::workload_desc, amxmm::plan::objective_weights> to_workload(const amxmm_plan_workload* w,
                                                                                         const char* fn) {
    amxmm::plan::workload_desc wl;
    amxmm::plan::objective_weights ow;
    if (!w) return {wl, ow};
    require(w->struct_size == sizeof(amxmm_plan_workload), errc::invalid_argument, fn, "workload->struct_size = ",
            w->struct_size, " is not sizeof(amxmm_plan_workload) = ", sizeof(amxmm_plan_workload),
            " (initialise it with AMXMM_PLAN_WORKLOAD_INIT or amxmm_plan_workload_init)");
    if (w->prompt_batches) {
        require(w->prompt_batch_count >= 1 && w->prompt_batch_count <= 4096, errc::invalid_argument, fn,
                "workload->prompt_batch_count = ", w->prompt_batch_count, " must be in [1, 4096]");
        wl.prompt_batches.assign(w->prompt_batches, w->prompt_batches + w->prompt_batch_count);
    } else {
        require(w->prompt_batch_count == 0, errc::invalid_argument, fn, "workload->prompt_batches is null but "
                "workload->prompt_batch_count = ", w->prompt_batch_count);
    }
    for (std::size_t i = 0; i < wl.prompt_batches.size(); ++i)
        require(wl.prompt_batches[i] >= 1 && wl.prompt_batches[i] <= (std::int64_t(1) << 40), errc::invalid_argument, fn,
                "workload->prompt_batches[", i, "] = ", wl.prompt_batches[i], " must be in [1, 2^40]");
    require(w->decode_batch >= 1 && w->decode_batch <= (std::int64_t(1) << 40), errc::invalid_argument, fn,
            "workload->decode_batch = ", w->decode_batch, " must be in [1, 2^40]");
    require(w->context >= 1 && w->context <= (std::int64_t(1) << 40), errc::invalid_argument, fn,
            "workload->context = ", w->context, " must be in [1, 2^40]");
    require(amxmm::is_known_ggml_type(w->kv_cache_type), errc::invalid_argument, fn, "workload->kv_cache_type = ",
            w->kv_cache_type, " is not a ggml type");
    wl.decode_batch = w->decode_batch;
    wl.context = w->context;
    wl.kv_cache_type = static_cast<amxmm::ggml_type>(w->kv_cache_type);
    require(std::isfinite(w->objective_prompt_tokens) && w->objective_prompt_tokens >= 0, errc::invalid_argument, fn,
            "workload->objective_prompt_tokens = ", w->objective_prompt_tokens, " must be finite and >= 0");
    require(std::isfinite(w->objective_decode_tokens) && w->objective_decode_tokens >= 0, errc::invalid_argument, fn,
            "workload->objective_decode_tokens = ", w->objective_decode_tokens, " must be finite and >= 0");
    ow.prompt_tokens = w->objective_prompt_tokens;
    ow.decode_tokens = w->objective_decode_tokens;
    if (w->routing_stats_json) {
        const amxmm::plan::json::value j = parse_json_arg(w->routing_stats_json, fn, "workload->routing_stats_json");
        wl.expert_frequency =
            naming(fn, "workload->routing_stats_json", [&] { return amxmm::plan::load_routing_stats(j); });
    }
    return {wl, ow};
}

/// Builds and solves the plan of `model` under the other arguments of amxmm_plan_create*.
inline amxmm_plan* make_plan(amxmm::plan::model_desc model, const char* hardware_json,
                             const amxmm_plan_workload* workload, const char* calibration_path, const char* fn) {
    namespace P = amxmm::plan;
    // Named members, not a structured binding: the lambda below captures them, which C++17 allows only for variables.
    auto workload_and_objective = to_workload(workload, fn);
    P::workload_desc& wl = workload_and_objective.first;
    P::objective_weights& ow = workload_and_objective.second;
    P::hardware_desc hw;
    if (hardware_json) {
        const P::json::value j = parse_json_arg(hardware_json, fn, "hardware_json");
        hw = naming(fn, "hardware_json", [&] { return P::hardware_from_json(j); });
    } else {
        hw = P::detect_hardware();
    }
    // Calibration is a measurement of one machine: used when named, or when planning for this machine.
    P::calibration_data calib;
    if (calibration_path) {
        calib = naming(fn, "calibration_path", [&] {
            return P::calibration_from_json(P::json::parse_file(calibration_path));
        });
    } else if (!hardware_json) {
        const std::string path = P::default_calibration_path();
        if (auto c = naming(fn, path.c_str(), [&] { return P::load_calibration(path, P::machine_key()); })) calib = *c;
    }
    // The model and workload are checked together by cost_model (routing rows against the experts).
    P::cost_model cm = naming(fn, "workload", [&] {
        return P::cost_model(std::move(model), std::move(hw), std::move(wl), std::move(calib), P::cost_params{}, ow);
    });
    return new amxmm_plan(std::move(cm));
}

inline const amxmm_plan& need_plan(const amxmm_plan* p, const char* fn) { return *need(p, fn, "plan"); }

inline std::size_t tensor_index(const amxmm_plan& p, std::size_t index, const char* fn) {
    const std::size_t count = p.cm.model().tensors.size();
    require(index < count, errc::out_of_range, fn, "index = ", index, " is not a tensor index: the model has ",
            count, " tensors");
    return index;
}

inline void put_placement(const amxmm::plan::placement& where, amxmm_placement_kind* kind, int* gpu) noexcept {
    if (kind) *kind = static_cast<amxmm_placement_kind>(int(where.kind));
    if (gpu) *gpu = where.kind == amxmm::plan::placement_kind::gpu ? where.gpu : -1;
}

/// The text report `k` of plan p (computed once).
inline const std::string& plan_text(const amxmm_plan& p, amxmm_plan::text_kind k) {
    namespace P = amxmm::plan;
    std::call_once(p.text_once[k], [&] {
        switch (k) {
            case amxmm_plan::text_json: p.texts[k] = P::json::dump(P::to_json(p.cm, p.result)) + "\n"; break;
            case amxmm_plan::text_table: p.texts[k] = P::format_table(p.cm, p.result.best, p.result.score); break;
            case amxmm_plan::text_explain: p.texts[k] = P::explain(p.cm, p.result); break;
            case amxmm_plan::text_llama_cpp: p.texts[k] = P::to_llama_flags(p.cm, p.result.best).command_line(); break;
            case amxmm_plan::text_count: break;
        }
    });
    return p.texts[k];
}

/// Copies text k of `plan` into buffer (snprintf-like sizing; nothing written when it does not fit).
inline amxmm_status copy_plan_text(const amxmm_plan* plan, amxmm_plan::text_kind k, char* buffer, std::size_t size,
                                   std::size_t* required, const char* fn) {
    return guarded(fn, [&] {
        need(required, fn, "required");
        const std::string& text = plan_text(need_plan(plan, fn), k);
        *required = text.size() + 1;
        if (!buffer) {
            require(size == 0, errc::invalid_argument, fn, "buffer is null but size = ", size,
                    " (pass NULL and 0 to ask for the size)");
            return;
        }
        require(size >= text.size() + 1, errc::buffer_too_small, fn, "size = ", size, " bytes is too small: the text needs ",
                text.size() + 1, " (terminating NUL included; *required says so)");
        std::memcpy(buffer, text.c_str(), text.size() + 1);
    });
}

}  // namespace amxmm_c_detail

// ---- the C functions -----------------------------------------------------------------------------

extern "C" {

AMXMM_C_API const char* amxmm_last_error(void) noexcept { return amxmm_c_detail::error_buffer(); }

AMXMM_C_API const char* amxmm_status_name(amxmm_status status) noexcept {
    switch (amxmm_c_detail::enum_int(status)) {
        case AMXMM_OK: return "AMXMM_OK";
        case AMXMM_INVALID_ARGUMENT: return "AMXMM_INVALID_ARGUMENT";
        case AMXMM_OUT_OF_RANGE: return "AMXMM_OUT_OF_RANGE";
        case AMXMM_BUFFER_TOO_SMALL: return "AMXMM_BUFFER_TOO_SMALL";
        case AMXMM_UNSUPPORTED: return "AMXMM_UNSUPPORTED";
        case AMXMM_MALFORMED_INPUT: return "AMXMM_MALFORMED_INPUT";
        case AMXMM_SYSTEM: return "AMXMM_SYSTEM";
        case AMXMM_INTERNAL: return "AMXMM_INTERNAL";
        default: break;
    }
    return "AMXMM_UNKNOWN_STATUS";
}

AMXMM_C_API const char* amxmm_version_string(void) noexcept { return AMXMM_VERSION_STRING; }
AMXMM_C_API uint32_t amxmm_version(void) noexcept { return AMXMM_VERSION; }
AMXMM_C_API uint32_t amxmm_c_api_version(void) noexcept { return AMXMM_C_API_VERSION; }

AMXMM_C_API const char* amxmm_isa_name(amxmm_isa isa) noexcept {
    const int i = amxmm_c_detail::enum_int(isa);
    if (i == AMXMM_ISA_AUTO) return "auto";
    if (i < AMXMM_ISA_SCALAR || i > AMXMM_ISA_AMX_EMULATED) return nullptr;
    return amxmm::to_string(static_cast<amxmm::isa>(i));
}

AMXMM_C_API amxmm_status amxmm_best_isa(amxmm_isa* isa, const char** reason) noexcept {
    constexpr const char* fn = "amxmm_best_isa";
    return amxmm_c_detail::guarded(fn, [&] {
        amxmm_c_detail::need(isa, fn, "isa");
        const amxmm::isa_choice& c = amxmm::default_isa();
        *isa = static_cast<amxmm_isa>(int(c.chosen));
        if (reason) *reason = c.reason.c_str();
    });
}

AMXMM_C_API int amxmm_isa_supported(amxmm_isa isa) noexcept {
    const int i = amxmm_c_detail::enum_int(isa);
    if (i < AMXMM_ISA_SCALAR || i > AMXMM_ISA_AMX_EMULATED) return 0;
    int ok = 0;
    amxmm_c_detail::guarded("amxmm_isa_supported", [&] { ok = amxmm::isa_supported(static_cast<amxmm::isa>(i)); });
    return ok;
}

AMXMM_C_API void amxmm_gemm_options_init(amxmm_gemm_options* options) noexcept {
    if (options) *options = amxmm_gemm_options AMXMM_GEMM_OPTIONS_INIT;
}

// ---- executors, sync, memory

AMXMM_C_API amxmm_status amxmm_executor_create(int threads, amxmm_executor** executor) noexcept {
    constexpr const char* fn = "amxmm_executor_create";
    return amxmm_c_detail::guarded(fn, [&] {
        amxmm_c_detail::need(executor, fn, "executor");
        *executor = nullptr;
#if defined(AMXMM_HAVE_TBB)
        *executor = new amxmm_executor(std::max(threads, 0));
#else
        (void)threads;
        amxmm::detail::fail(amxmm::errc::unsupported, fn, "amxmm was built without oneTBB (AMXMM_HAVE_TBB)");
#endif
    });
}

AMXMM_C_API void amxmm_executor_free(amxmm_executor* executor) noexcept { delete executor; }

AMXMM_C_API int amxmm_executor_threads(const amxmm_executor* executor) noexcept {
#if defined(AMXMM_HAVE_TBB)
    if (executor) return const_cast<amxmm_executor*>(executor)->tbb.concurrency();
#else
    (void)executor;
#endif
    return 1;
}

AMXMM_C_API amxmm_status amxmm_sync_create(int nth, amxmm_sync** sync) noexcept {
    constexpr const char* fn = "amxmm_sync_create";
    return amxmm_c_detail::guarded(fn, [&] {
        amxmm_c_detail::need(sync, fn, "sync");
        *sync = nullptr;
        amxmm::detail::require(nth > 0 && nth <= amxmm::caller_threads_sync::max_threads, amxmm::errc::invalid_argument, fn,
                               "nth = ", nth, " must be in 1 .. ", amxmm::caller_threads_sync::max_threads);
        *sync = new amxmm_sync(nth);
    });
}

AMXMM_C_API void amxmm_sync_free(amxmm_sync* sync) noexcept { delete sync; }

AMXMM_C_API amxmm_status amxmm_aligned_alloc(size_t bytes, void** memory) noexcept {
    constexpr const char* fn = "amxmm_aligned_alloc";
    return amxmm_c_detail::guarded(fn, [&] {
        amxmm_c_detail::need(memory, fn, "memory");
        *memory = nullptr;
        amxmm::detail::require(bytes > 0 && bytes <= SIZE_MAX - amxmm::cache_line_bytes, amxmm::errc::invalid_argument,
                               fn, "bytes = ", bytes, " must be positive and representable");
        void* p = std::aligned_alloc(amxmm::cache_line_bytes, amxmm::round_up(bytes, amxmm::cache_line_bytes));
        amxmm::detail::require(p != nullptr, amxmm::errc::system, fn, "allocation of ", bytes, " bytes failed");
        *memory = p;
    });
}

AMXMM_C_API void amxmm_aligned_free(void* memory) noexcept { std::free(memory); }

// ---- packed weights

AMXMM_C_API amxmm_status amxmm_pack_q4_0_vnni(const void* blocks, int64_t n, int64_t k, amxmm_executor* executor,
                                              amxmm_packed_weight** weight) noexcept {
    constexpr const char* fn = "amxmm_pack_q4_0_vnni";
    return amxmm_c_detail::guarded(fn, [&] {
        amxmm_c_detail::need(weight, fn, "weight");
        *weight = nullptr;
        amxmm::validate_q4_0_vnni_shape(n, k, fn);
        const amxmm::q4_0_matrix_view src{amxmm_c_detail::q4_0_blocks(blocks, fn, "blocks"), n, k};
        auto* w = new amxmm_packed_weight;
        try {
            amxmm_c_detail::with_executor(executor, [&](auto& ex) { w->packed = amxmm::pack_q4_0_vnni(src, ex); });
        } catch (...) {
            delete w;
            throw;
        }
        *weight = w;
    });
}

AMXMM_C_API void amxmm_packed_weight_free(amxmm_packed_weight* weight) noexcept { delete weight; }

AMXMM_C_API amxmm_status amxmm_packed_weight_info(const amxmm_packed_weight* weight, int64_t* n, int64_t* k,
                                                  size_t* bytes) noexcept {
    constexpr const char* fn = "amxmm_packed_weight_info";
    return amxmm_c_detail::guarded(fn, [&] {
        amxmm_c_detail::need(weight, fn, "weight");
        if (n) *n = weight->packed.rows();
        if (k) *k = weight->packed.cols();
        if (bytes) *bytes = weight->packed.size_bytes();
    });
}

AMXMM_C_API amxmm_status amxmm_pack_q4_0_vnni_experts(const void* blocks, int64_t experts, int64_t n, int64_t k,
                                                      amxmm_executor* executor,
                                                      amxmm_packed_experts** packed) noexcept {
    constexpr const char* fn = "amxmm_pack_q4_0_vnni_experts";
    return amxmm_c_detail::guarded(fn, [&] {
        amxmm_c_detail::need(packed, fn, "packed");
        *packed = nullptr;
        const amxmm::block_q4_0* src = amxmm_c_detail::q4_0_blocks(blocks, fn, "blocks");
        auto* p = new amxmm_packed_experts;
        try {
            amxmm_c_detail::with_executor(executor, [&](auto& ex) {
                p->experts = amxmm::pack_q4_0_vnni_experts(src, experts, n, k, ex);
            });
        } catch (...) {
            delete p;
            throw;
        }
        *packed = p;
    });
}

AMXMM_C_API amxmm_status amxmm_pack_q4_0_vnni_gate_up(const void* gate_blocks, const void* up_blocks, int64_t experts,
                                                      int64_t f, int64_t k, amxmm_executor* executor,
                                                      amxmm_packed_experts** packed) noexcept {
    constexpr const char* fn = "amxmm_pack_q4_0_vnni_gate_up";
    return amxmm_c_detail::guarded(fn, [&] {
        amxmm_c_detail::need(packed, fn, "packed");
        *packed = nullptr;
        const amxmm::block_q4_0* gate = amxmm_c_detail::q4_0_blocks(gate_blocks, fn, "gate_blocks");
        const amxmm::block_q4_0* up = amxmm_c_detail::q4_0_blocks(up_blocks, fn, "up_blocks");
        auto* p = new amxmm_packed_experts;
        p->is_gate_up = true;
        try {
            amxmm_c_detail::with_executor(executor, [&](auto& ex) {
                p->gate_up = amxmm::pack_q4_0_vnni_gate_up(gate, up, experts, f, k, ex);
            });
        } catch (...) {
            delete p;
            throw;
        }
        *packed = p;
    });
}

AMXMM_C_API void amxmm_packed_experts_free(amxmm_packed_experts* packed) noexcept { delete packed; }

AMXMM_C_API amxmm_status amxmm_packed_experts_info(const amxmm_packed_experts* packed, int64_t* experts, int64_t* n,
                                                   int64_t* k, size_t* bytes, int* gate_up) noexcept {
    constexpr const char* fn = "amxmm_packed_experts_info";
    return amxmm_c_detail::guarded(fn, [&] {
        amxmm_c_detail::need(packed, fn, "packed");
        if (packed->is_gate_up) {
            if (experts) *experts = packed->gate_up.experts();
            if (n) *n = packed->gate_up.f();
            if (k) *k = packed->gate_up.cols();
            if (bytes) *bytes = packed->gate_up.size_bytes();
        } else {
            if (experts) *experts = packed->experts.experts();
            if (n) *n = packed->experts.rows();
            if (k) *k = packed->experts.cols();
            if (bytes) *bytes = packed->experts.size_bytes();
        }
        if (gate_up) *gate_up = packed->is_gate_up ? 1 : 0;
    });
}

// ---- dense GEMM

AMXMM_C_API size_t amxmm_gemm_workspace_bytes(int64_t m, int64_t k) noexcept {
    constexpr const char* fn = "amxmm_gemm_workspace_bytes";
    std::size_t bytes = 0;
    amxmm_c_detail::guarded(fn, [&] {
        amxmm_c_detail::require_size_args(fn, m, k);
        bytes = amxmm::gemm_workspace_bytes(m, k);
    });
    return bytes;
}

AMXMM_C_API amxmm_status amxmm_gemm_q4_0(const amxmm_packed_weight* weight, int64_t m, const float* x, int64_t ldx,
                                         float* y, int64_t ldy, const amxmm_gemm_options* options,
                                         amxmm_executor* executor, amxmm_gemm_plan* plan) noexcept {
    constexpr const char* fn = "amxmm_gemm_q4_0";
    return amxmm_c_detail::guarded(fn, [&] {
        amxmm_c_detail::need(weight, fn, "weight");
        const amxmm::moe_ffn_options opt = amxmm_c_detail::to_options(options, fn);
        const amxmm::gemm_plan p = amxmm_c_detail::with_executor(executor, [&](auto& ex) {
            return amxmm::gemm_q4_0(weight->packed.view(), m, x, ldx, y, ldy, opt, ex);
        });
        amxmm_c_detail::fill_plan(plan, p);
    });
}

AMXMM_C_API amxmm_status amxmm_gemm_q4_0_ith(const amxmm_packed_weight* weight, int64_t m, const float* x,
                                             int64_t ldx, float* y, int64_t ldy, const amxmm_gemm_options* options,
                                             int ith, int nth, amxmm_sync* sync, amxmm_gemm_plan* plan) noexcept {
    constexpr const char* fn = "amxmm_gemm_q4_0_ith";
    return amxmm_c_detail::guarded(fn, [&] {
        amxmm_c_detail::need(weight, fn, "weight");
        const amxmm::moe_ffn_options opt = amxmm_c_detail::to_options(options, fn);
        const amxmm::gemm_plan p = amxmm::gemm_q4_0(weight->packed.view(), m, x, ldx, y, ldy, opt,
                                                    amxmm_c_detail::caller_threads(ith, nth, sync, fn));
        amxmm_c_detail::fill_plan(plan, p);
    });
}

// ---- mixture of experts

AMXMM_C_API size_t amxmm_moe_gemm_workspace_bytes(int64_t m, int64_t top_k, int64_t experts, int64_t k) noexcept {
    constexpr const char* fn = "amxmm_moe_gemm_workspace_bytes";
    std::size_t bytes = 0;
    amxmm_c_detail::guarded(fn, [&] {
        amxmm::detail::require(top_k >= 1 && experts >= 1 && top_k <= experts && experts <= (int64_t(1) << 31),
                               amxmm::errc::invalid_argument, fn, "top_k = ", top_k, " and experts = ", experts,
                               " must satisfy 1 <= top_k <= experts <= 2^31");
        amxmm_c_detail::require_size_args(fn, m, k);
        amxmm_c_detail::require_pairs(fn, m, top_k, experts, k);  // m bounded before m x top_k is formed
        bytes = amxmm::moe_gemm_workspace_bytes(m, top_k, experts, k);
    });
    return bytes;
}

AMXMM_C_API size_t amxmm_moe_ffn_workspace_bytes(int64_t m, int64_t top_k, int64_t experts, int64_t k,
                                                 int64_t f) noexcept {
    constexpr const char* fn = "amxmm_moe_ffn_workspace_bytes";
    std::size_t bytes = 0;
    amxmm_c_detail::guarded(fn, [&] {
        amxmm::detail::require(top_k >= 1 && experts >= 1 && top_k <= experts && experts <= (int64_t(1) << 31),
                               amxmm::errc::invalid_argument, fn, "top_k = ", top_k, " and experts = ", experts,
                               " must satisfy 1 <= top_k <= experts <= 2^31");
        amxmm_c_detail::require_size_args(fn, m, k);
        amxmm_c_detail::require_size_args(fn, m, f, "F");
        amxmm_c_detail::require_pairs(fn, m, top_k, experts, k);  // m bounded before m x top_k is formed
        amxmm_c_detail::require_size_args(fn, m * top_k, f, "F");
        bytes = amxmm::moe_ffn_workspace_bytes(m, top_k, experts, k, f);
    });
    return bytes;
}

AMXMM_C_API amxmm_status amxmm_moe_gemm(const amxmm_packed_experts* weights, const amxmm_moe_routing* routing,
                                        const float* x, amxmm_moe_input_rows rows, int64_t ldx_token,
                                        int64_t ldx_slot, float* y, int64_t ldy_token, int64_t ldy_slot,
                                        const amxmm_gemm_options* options, amxmm_executor* executor,
                                        amxmm_gemm_plan* plan) noexcept {
    constexpr const char* fn = "amxmm_moe_gemm";
    return amxmm_c_detail::guarded(fn, [&] {
        const amxmm::packed_q4_0_vnni_experts_view w = amxmm_c_detail::plain_experts(weights, fn, "weights");
        const amxmm::moe_routing r = amxmm_c_detail::to_routing(routing, fn);
        const amxmm::moe_input_rows ir = amxmm_c_detail::to_rows(rows, fn);
        const amxmm::moe_ffn_options opt = amxmm_c_detail::to_options(options, fn);
        const amxmm::gemm_plan p = amxmm_c_detail::with_executor(executor, [&](auto& ex) {
            return amxmm::moe_gemm(w, r, x, ir, ldx_token, ldx_slot, y, ldy_token, ldy_slot, opt, ex);
        });
        amxmm_c_detail::fill_plan(plan, p);
    });
}

AMXMM_C_API amxmm_status amxmm_moe_gemm_ith(const amxmm_packed_experts* weights, const amxmm_moe_routing* routing,
                                            const float* x, amxmm_moe_input_rows rows, int64_t ldx_token,
                                            int64_t ldx_slot, float* y, int64_t ldy_token, int64_t ldy_slot,
                                            const amxmm_gemm_options* options, int ith, int nth, amxmm_sync* sync,
                                            amxmm_gemm_plan* plan) noexcept {
    constexpr const char* fn = "amxmm_moe_gemm_ith";
    return amxmm_c_detail::guarded(fn, [&] {
        const amxmm::packed_q4_0_vnni_experts_view w = amxmm_c_detail::plain_experts(weights, fn, "weights");
        const amxmm::moe_routing r = amxmm_c_detail::to_routing(routing, fn);
        const amxmm::moe_input_rows ir = amxmm_c_detail::to_rows(rows, fn);
        const amxmm::moe_ffn_options opt = amxmm_c_detail::to_options(options, fn);
        const amxmm::gemm_plan p = amxmm::moe_gemm(w, r, x, ir, ldx_token, ldx_slot, y, ldy_token, ldy_slot, opt,
                                                   amxmm_c_detail::caller_threads(ith, nth, sync, fn));
        amxmm_c_detail::fill_plan(plan, p);
    });
}

AMXMM_C_API amxmm_status amxmm_moe_ffn(const amxmm_packed_experts* gate, const amxmm_packed_experts* up,
                                       const amxmm_packed_experts* down, const amxmm_moe_routing* routing,
                                       const float* weights, int64_t ld_weights, const float* x, int64_t ldx,
                                       float* y, int64_t ldy, const amxmm_gemm_options* options,
                                       amxmm_executor* executor, amxmm_gemm_plan* plan) noexcept {
    constexpr const char* fn = "amxmm_moe_ffn";
    return amxmm_c_detail::guarded(fn, [&] {
        const amxmm::gemm_plan p = amxmm_c_detail::with_executor(executor, [&](auto& ex) {
            return amxmm_c_detail::run_moe_ffn(gate, up, down, routing, weights, ld_weights, x, ldx, y, ldy, options,
                                               ex, fn);
        });
        amxmm_c_detail::fill_plan(plan, p);
    });
}

AMXMM_C_API amxmm_status amxmm_moe_ffn_ith(const amxmm_packed_experts* gate, const amxmm_packed_experts* up,
                                           const amxmm_packed_experts* down, const amxmm_moe_routing* routing,
                                           const float* weights, int64_t ld_weights, const float* x, int64_t ldx,
                                           float* y, int64_t ldy, const amxmm_gemm_options* options, int ith, int nth,
                                           amxmm_sync* sync, amxmm_gemm_plan* plan) noexcept {
    constexpr const char* fn = "amxmm_moe_ffn_ith";
    return amxmm_c_detail::guarded(fn, [&] {
        const amxmm::gemm_plan p =
            amxmm_c_detail::run_moe_ffn(gate, up, down, routing, weights, ld_weights, x, ldx, y, ldy, options,
                                        amxmm_c_detail::caller_threads(ith, nth, sync, fn), fn);
        amxmm_c_detail::fill_plan(plan, p);
    });
}

// ---- GGUF

AMXMM_C_API amxmm_status amxmm_gguf_open(const char* path, amxmm_gguf** file) noexcept {
    constexpr const char* fn = "amxmm_gguf_open";
    return amxmm_c_detail::guarded(fn, [&] {
        amxmm_c_detail::need(file, fn, "file");
        *file = nullptr;
        amxmm_c_detail::need(path, fn, "path");
        *file = new amxmm_gguf{amxmm::gguf_file::open(path)};
    });
}

AMXMM_C_API void amxmm_gguf_close(amxmm_gguf* file) noexcept { delete file; }

AMXMM_C_API amxmm_status amxmm_gguf_q4_0_matrix(const amxmm_gguf* file, const char* name, const void** blocks,
                                                int64_t* rows, int64_t* cols) noexcept {
    constexpr const char* fn = "amxmm_gguf_q4_0_matrix";
    return amxmm_c_detail::guarded(fn, [&] {
        amxmm_c_detail::need(file, fn, "file");
        amxmm_c_detail::need(name, fn, "name");
        amxmm_c_detail::need(blocks, fn, "blocks");
        const amxmm::q4_0_matrix_view v = file->file.q4_0_matrix(name);
        *blocks = v.blocks;
        if (rows) *rows = v.rows;
        if (cols) *cols = v.cols;
    });
}

AMXMM_C_API amxmm_status amxmm_gguf_tensor_info(const amxmm_gguf* file, const char* name, uint32_t* ggml_type,
                                                uint32_t* n_dims, int64_t dims[4]) noexcept {
    constexpr const char* fn = "amxmm_gguf_tensor_info";
    return amxmm_c_detail::guarded(fn, [&] {
        amxmm_c_detail::need(file, fn, "file");
        amxmm_c_detail::need(name, fn, "name");
        const amxmm::gguf_tensor_info& t = file->file.tensor(name);
        if (ggml_type) *ggml_type = static_cast<uint32_t>(t.type);
        if (n_dims) *n_dims = t.n_dims;
        if (dims) std::copy(t.dims.begin(), t.dims.end(), dims);
    });
}

// ---- placement plans

AMXMM_C_API const char* amxmm_placement_kind_name(amxmm_placement_kind kind) noexcept {
    switch (amxmm_c_detail::enum_int(kind)) {
        case AMXMM_PLACE_CPU_AMX: return "cpu_amx";
        case AMXMM_PLACE_CPU_HOST: return "cpu_host";
        case AMXMM_PLACE_GPU: return "gpu";
        case AMXMM_PLACE_SPLIT: return "split";
        default: return nullptr;
    }
}

AMXMM_C_API void amxmm_plan_workload_init(amxmm_plan_workload* workload) noexcept {
    if (workload) *workload = amxmm_plan_workload AMXMM_PLAN_WORKLOAD_INIT;
}

AMXMM_C_API amxmm_status amxmm_plan_create(const char* gguf_path, const char* hardware_json,
                                           const amxmm_plan_workload* workload, const char* calibration_path,
                                           amxmm_plan** plan) noexcept {
    constexpr const char* fn = "amxmm_plan_create";
    return amxmm_c_detail::guarded(fn, [&] {
        amxmm_c_detail::need(plan, fn, "plan");
        *plan = nullptr;
        amxmm_c_detail::need(gguf_path, fn, "gguf_path");
        amxmm::plan::model_desc model =
            amxmm_c_detail::naming(fn, "gguf_path", [&] { return amxmm::plan::model_from_gguf(std::string(gguf_path)); });
        *plan = amxmm_c_detail::make_plan(std::move(model), hardware_json, workload, calibration_path, fn);
    });
}

AMXMM_C_API amxmm_status amxmm_plan_create_from_model_json(const char* model_json, const char* hardware_json,
                                                           const amxmm_plan_workload* workload,
                                                           const char* calibration_path, amxmm_plan** plan) noexcept {
    constexpr const char* fn = "amxmm_plan_create_from_model_json";
    return amxmm_c_detail::guarded(fn, [&] {
        amxmm_c_detail::need(plan, fn, "plan");
        *plan = nullptr;
        amxmm_c_detail::need(model_json, fn, "model_json");
        const amxmm::plan::json::value j = amxmm_c_detail::parse_json_arg(model_json, fn, "model_json");
        amxmm::plan::model_desc model =
            amxmm_c_detail::naming(fn, "model_json", [&] { return amxmm::plan::model_from_json(j); });
        *plan = amxmm_c_detail::make_plan(std::move(model), hardware_json, workload, calibration_path, fn);
    });
}

AMXMM_C_API void amxmm_plan_destroy(amxmm_plan* plan) noexcept { delete plan; }

AMXMM_C_API amxmm_status amxmm_plan_info(const amxmm_plan* plan, int* layers, int* gpus, double* objective_seconds,
                                         int* valid, int* calibrated) noexcept {
    constexpr const char* fn = "amxmm_plan_info";
    return amxmm_c_detail::guarded(fn, [&] {
        const amxmm_plan& p = amxmm_c_detail::need_plan(plan, fn);
        if (layers) *layers = p.cm.model().layers;
        if (gpus) *gpus = p.cm.gpus();
        if (objective_seconds) *objective_seconds = p.result.score.objective_s;
        if (valid) *valid = p.result.score.valid ? 1 : 0;
        if (calibrated) *calibrated = p.cm.calibrated() ? 1 : 0;
    });
}

AMXMM_C_API amxmm_status amxmm_plan_tensor_count(const amxmm_plan* plan, size_t* count) noexcept {
    constexpr const char* fn = "amxmm_plan_tensor_count";
    return amxmm_c_detail::guarded(fn, [&] {
        const amxmm_plan& p = amxmm_c_detail::need_plan(plan, fn);
        *amxmm_c_detail::need(count, fn, "count") = p.cm.model().tensors.size();
    });
}

AMXMM_C_API amxmm_status amxmm_plan_find_tensor(const amxmm_plan* plan, const char* name, size_t* index) noexcept {
    constexpr const char* fn = "amxmm_plan_find_tensor";
    return amxmm_c_detail::guarded(fn, [&] {
        const amxmm_plan& p = amxmm_c_detail::need_plan(plan, fn);
        amxmm_c_detail::need(name, fn, "name");
        amxmm_c_detail::need(index, fn, "index");
        const auto& ts = p.cm.model().tensors;
        for (std::size_t i = 0; i < ts.size(); ++i)
            if (ts[i].name == name) {
                *index = i;
                return;
            }
        amxmm::detail::fail(amxmm::errc::out_of_range, fn, "the model has no tensor named '", name, "'");
    });
}

AMXMM_C_API amxmm_status amxmm_plan_tensor_info(const amxmm_plan* plan, size_t index, const char** name, int* layer,
                                                uint32_t* ggml_type, int64_t* experts, uint64_t* bytes) noexcept {
    constexpr const char* fn = "amxmm_plan_tensor_info";
    return amxmm_c_detail::guarded(fn, [&] {
        const amxmm_plan& p = amxmm_c_detail::need_plan(plan, fn);
        const amxmm::plan::tensor_desc& t = p.cm.model().tensors[amxmm_c_detail::tensor_index(p, index, fn)];
        if (name) *name = t.name.c_str();
        if (layer) *layer = t.layer;
        if (ggml_type) *ggml_type = static_cast<uint32_t>(t.type);
        if (experts) *experts = t.experts;
        if (bytes) *bytes = amxmm::detail::plan_cost::tensor_bytes(t);
    });
}

AMXMM_C_API amxmm_status amxmm_plan_tensor_placement(const amxmm_plan* plan, size_t index, amxmm_placement_kind* kind,
                                                     int* gpu) noexcept {
    constexpr const char* fn = "amxmm_plan_tensor_placement";
    return amxmm_c_detail::guarded(fn, [&] {
        const amxmm_plan& p = amxmm_c_detail::need_plan(plan, fn);
        const amxmm::plan::tensor_placement& tp = p.result.best.tensors[amxmm_c_detail::tensor_index(p, index, fn)];
        if (tp.split()) {
            if (kind) *kind = AMXMM_PLACE_SPLIT;
            if (gpu) *gpu = -1;
            return;
        }
        amxmm_c_detail::put_placement(tp.where, kind, gpu);
    });
}

AMXMM_C_API amxmm_status amxmm_plan_expert_placement(const amxmm_plan* plan, size_t index, int64_t expert,
                                                     amxmm_placement_kind* kind, int* gpu) noexcept {
    constexpr const char* fn = "amxmm_plan_expert_placement";
    return amxmm_c_detail::guarded(fn, [&] {
        const amxmm_plan& p = amxmm_c_detail::need_plan(plan, fn);
        const std::size_t i = amxmm_c_detail::tensor_index(p, index, fn);
        const amxmm::plan::tensor_desc& t = p.cm.model().tensors[i];
        amxmm::detail::require(t.is_expert(), amxmm::errc::invalid_argument, fn, "tensor ", index, " ('", t.name,
                               "') has no experts (use amxmm_plan_tensor_placement)");
        amxmm::detail::require(expert >= 0 && expert < t.experts, amxmm::errc::out_of_range, fn, "expert = ", expert,
                               " is not in [0, ", t.experts, ") for tensor '", t.name, "'");
        amxmm_c_detail::put_placement(p.result.best.tensors[i].of_expert(expert), kind, gpu);
    });
}

AMXMM_C_API amxmm_status amxmm_plan_attention_gpu(const amxmm_plan* plan, int layer, int* gpu) noexcept {
    constexpr const char* fn = "amxmm_plan_attention_gpu";
    return amxmm_c_detail::guarded(fn, [&] {
        const amxmm_plan& p = amxmm_c_detail::need_plan(plan, fn);
        amxmm_c_detail::need(gpu, fn, "gpu");
        const int layers = p.cm.model().layers;
        amxmm::detail::require(layer >= 0 && layer < layers, amxmm::errc::out_of_range, fn, "layer = ", layer,
                               " is not in [0, ", layers, ")");
        *gpu = p.result.best.attention_gpu[std::size_t(layer)];
    });
}

AMXMM_C_API amxmm_status amxmm_plan_phase_count(const amxmm_plan* plan, size_t* count) noexcept {
    constexpr const char* fn = "amxmm_plan_phase_count";
    return amxmm_c_detail::guarded(fn, [&] {
        const amxmm_plan& p = amxmm_c_detail::need_plan(plan, fn);
        *amxmm_c_detail::need(count, fn, "count") = p.result.score.phases.size();
    });
}

AMXMM_C_API amxmm_status amxmm_plan_phase(const amxmm_plan* plan, size_t index, int* decode, int64_t* batch,
                                          double* seconds, double* tokens_per_s) noexcept {
    constexpr const char* fn = "amxmm_plan_phase";
    return amxmm_c_detail::guarded(fn, [&] {
        const amxmm_plan& p = amxmm_c_detail::need_plan(plan, fn);
        const auto& phases = p.result.score.phases;
        amxmm::detail::require(index < phases.size(), amxmm::errc::out_of_range, fn, "index = ", index,
                               " is not a phase index: the plan has ", phases.size(), " phases");
        const amxmm::plan::phase_score& ph = phases[index];
        if (decode) *decode = ph.ph.decode ? 1 : 0;
        if (batch) *batch = ph.ph.m;
        if (seconds) *seconds = ph.seconds;
        if (tokens_per_s) *tokens_per_s = ph.tokens_per_s;
    });
}

AMXMM_C_API amxmm_status amxmm_plan_binding_constraint(const amxmm_plan* plan, const char** text) noexcept {
    constexpr const char* fn = "amxmm_plan_binding_constraint";
    return amxmm_c_detail::guarded(fn, [&] {
        const amxmm_plan& p = amxmm_c_detail::need_plan(plan, fn);
        *amxmm_c_detail::need(text, fn, "text") = p.result.binding.c_str();
    });
}

AMXMM_C_API amxmm_status amxmm_plan_to_json(const amxmm_plan* plan, char* buffer, size_t size,
                                            size_t* required) noexcept {
    return amxmm_c_detail::copy_plan_text(plan, amxmm_plan::text_json, buffer, size, required, "amxmm_plan_to_json");
}

AMXMM_C_API amxmm_status amxmm_plan_table(const amxmm_plan* plan, char* buffer, size_t size, size_t* required) noexcept {
    return amxmm_c_detail::copy_plan_text(plan, amxmm_plan::text_table, buffer, size, required, "amxmm_plan_table");
}

AMXMM_C_API amxmm_status amxmm_plan_explain(const amxmm_plan* plan, char* buffer, size_t size,
                                            size_t* required) noexcept {
    return amxmm_c_detail::copy_plan_text(plan, amxmm_plan::text_explain, buffer, size, required, "amxmm_plan_explain");
}

AMXMM_C_API amxmm_status amxmm_plan_llama_cpp_flags(const amxmm_plan* plan, char* buffer, size_t size,
                                                    size_t* required) noexcept {
    return amxmm_c_detail::copy_plan_text(plan, amxmm_plan::text_llama_cpp, buffer, size, required,
                                          "amxmm_plan_llama_cpp_flags");
}

// ---- GPU

AMXMM_C_API int amxmm_gpu_available(void) noexcept {
#if defined(AMXMM_C_WITH_CUDA)
    int count = 0;
    return cudaGetDeviceCount(&count) == cudaSuccess && count > 0 ? 1 : 0;
#else
    return 0;
#endif
}

AMXMM_C_API void amxmm_gpu_options_init(amxmm_gpu_options* options) noexcept {
    if (options) *options = amxmm_gpu_options AMXMM_GPU_OPTIONS_INIT;
}

#if defined(AMXMM_C_WITH_CUDA)

AMXMM_C_API amxmm_status amxmm_gpu_context_create(size_t workspace_bytes, amxmm_gpu_context** context) noexcept {
    constexpr const char* fn = "amxmm_gpu_context_create";
    return amxmm_c_detail::guarded(fn, [&] {
        amxmm_c_detail::need(context, fn, "context");
        *context = nullptr;
        *context = new amxmm_gpu_context(workspace_bytes);
    });
}

AMXMM_C_API void amxmm_gpu_context_free(amxmm_gpu_context* context) noexcept { delete context; }

AMXMM_C_API amxmm_status amxmm_gpu_context_reserve(amxmm_gpu_context* context, size_t bytes) noexcept {
    constexpr const char* fn = "amxmm_gpu_context_reserve";
    return amxmm_c_detail::guarded(fn, [&] { amxmm_c_detail::need(context, fn, "context")->ctx.reserve(bytes); });
}

AMXMM_C_API amxmm_status amxmm_gpu_weight_upload_q4_0(const void* blocks, int64_t experts, int64_t n, int64_t k,
                                                      void* stream, amxmm_gpu_weight** weight) noexcept {
    constexpr const char* fn = "amxmm_gpu_weight_upload_q4_0";
    return amxmm_c_detail::guarded(fn, [&] {
        amxmm_c_detail::need(weight, fn, "weight");
        *weight = nullptr;
        // The CPU packers' bounds (E in [1, 2^31], N and K in [1, 2^40], E x N x K too large): E x N cannot
        // overflow below, and a wrapped row count cannot pass upload_experts' rows % experts test.
        amxmm::detail::validate_experts_shape(experts, n, k, fn);
        const amxmm::q4_0_matrix_view src{amxmm_c_detail::q4_0_blocks(blocks, fn, "blocks"), experts * n, k};
        auto* w = new amxmm_gpu_weight;
        try {
            w->weight = amxmm::cuda::q4_0_weight::upload_experts(src, experts, static_cast<cudaStream_t>(stream));
        } catch (...) {
            delete w;
            throw;
        }
        *weight = w;
    });
}

AMXMM_C_API void amxmm_gpu_weight_free(amxmm_gpu_weight* weight) noexcept { delete weight; }

AMXMM_C_API amxmm_status amxmm_gpu_weight_info(const amxmm_gpu_weight* weight, int64_t* experts, int64_t* n,
                                               int64_t* k, size_t* bytes) noexcept {
    constexpr const char* fn = "amxmm_gpu_weight_info";
    return amxmm_c_detail::guarded(fn, [&] {
        const amxmm::cuda::q4_0_device_layout& L = amxmm_c_detail::need(weight, fn, "weight")->weight.layout();
        if (experts) *experts = L.experts;
        if (n) *n = L.n;
        if (k) *k = L.k;
        if (bytes) *bytes = L.total_bytes();
    });
}

AMXMM_C_API amxmm_status amxmm_gpu_gemm_workspace_bytes(const amxmm_gpu_weight* weight, int64_t m,
                                                        const amxmm_gpu_options* options, size_t* bytes) noexcept {
    constexpr const char* fn = "amxmm_gpu_gemm_workspace_bytes";
    return amxmm_c_detail::guarded(fn, [&] {
        const amxmm::cuda::q4_0_device_layout& L = amxmm_c_detail::need(weight, fn, "weight")->weight.layout();
        amxmm_c_detail::need(bytes, fn, "bytes");
        amxmm_c_detail::require_size_args(fn, m, L.k);
        *bytes = amxmm::cuda::gemm_workspace_bytes(m, L, amxmm_c_detail::to_gpu_options(options, fn));
    });
}

AMXMM_C_API amxmm_status amxmm_gpu_gemm_q4_0(amxmm_gpu_context* context, const amxmm_gpu_weight* weight, int64_t m,
                                             const float* x, int64_t ldx, float* y, int64_t ldy,
                                             const amxmm_gpu_options* options, void* stream,
                                             amxmm_gpu_plan* plan) noexcept {
    constexpr const char* fn = "amxmm_gpu_gemm_q4_0";
    return amxmm_c_detail::guarded(fn, [&] {
        amxmm_c_detail::need(context, fn, "context");
        amxmm_c_detail::need(weight, fn, "weight");
        const amxmm::cuda::moe_ffn_options opt = amxmm_c_detail::to_gpu_options(options, fn);
        amxmm_c_detail::fill_gpu_plan(plan, amxmm::cuda::gemm_q4_0(context->ctx, weight->weight.view(), m, x, ldx, y,
                                                                   ldy, opt, static_cast<cudaStream_t>(stream)));
    });
}

AMXMM_C_API amxmm_status amxmm_gpu_context_check_routing(amxmm_gpu_context* context, void* stream) noexcept {
    constexpr const char* fn = "amxmm_gpu_context_check_routing";
    return amxmm_c_detail::guarded(
        fn, [&] { amxmm_c_detail::need(context, fn, "context")->ctx.check_routing(static_cast<cudaStream_t>(stream)); });
}

AMXMM_C_API amxmm_status amxmm_gpu_moe_gemm_workspace_bytes(const amxmm_gpu_weight* weights, int64_t m, int64_t top_k,
                                                            amxmm_moe_input_rows rows, const amxmm_gpu_options* options,
                                                            size_t* bytes) noexcept {
    constexpr const char* fn = "amxmm_gpu_moe_gemm_workspace_bytes";
    return amxmm_c_detail::guarded(fn, [&] {
        const amxmm::cuda::q4_0_device_layout& L = amxmm_c_detail::need(weights, fn, "weights")->weight.layout();
        amxmm_c_detail::need(bytes, fn, "bytes");
        amxmm_c_detail::require_pairs(fn, m, top_k, L.experts, L.k);
        *bytes = amxmm::cuda::moe_gemm_workspace_bytes(m, top_k, L, amxmm_c_detail::to_rows(rows, fn),
                                                       amxmm_c_detail::to_gpu_options(options, fn));
    });
}

AMXMM_C_API amxmm_status amxmm_gpu_moe_gemm(amxmm_gpu_context* context, const amxmm_gpu_weight* weights,
                                            const amxmm_moe_routing* routing, const float* x,
                                            amxmm_moe_input_rows rows, int64_t ldx_token, int64_t ldx_slot, float* y,
                                            int64_t ldy_token, int64_t ldy_slot, const amxmm_gpu_options* options,
                                            void* stream, amxmm_gpu_plan* plan) noexcept {
    constexpr const char* fn = "amxmm_gpu_moe_gemm";
    return amxmm_c_detail::guarded(fn, [&] {
        amxmm_c_detail::need(context, fn, "context");
        amxmm_c_detail::need(weights, fn, "weights");
        const amxmm::moe_routing r = amxmm_c_detail::to_routing(routing, fn);
        const amxmm::moe_input_rows ir = amxmm_c_detail::to_rows(rows, fn);
        const amxmm::cuda::moe_ffn_options opt = amxmm_c_detail::to_gpu_options(options, fn);
        amxmm_c_detail::fill_gpu_plan(plan, amxmm::cuda::moe_gemm(context->ctx, weights->weight.view(), r, x, ir,
                                                                  ldx_token, ldx_slot, y, ldy_token, ldy_slot, opt,
                                                                  static_cast<cudaStream_t>(stream)));
    });
}

AMXMM_C_API amxmm_status amxmm_gpu_moe_ffn_workspace_bytes(const amxmm_gpu_weight* gate, int64_t m, int64_t top_k,
                                                           const amxmm_gpu_options* options, size_t* bytes) noexcept {
    constexpr const char* fn = "amxmm_gpu_moe_ffn_workspace_bytes";
    return amxmm_c_detail::guarded(fn, [&] {
        const amxmm::cuda::q4_0_device_layout& L = amxmm_c_detail::need(gate, fn, "gate")->weight.layout();
        amxmm_c_detail::need(bytes, fn, "bytes");
        amxmm_c_detail::require_pairs(fn, m, top_k, L.experts, std::max(L.k, L.n));
        *bytes = amxmm::cuda::moe_ffn_workspace_bytes(m, top_k, L, amxmm_c_detail::to_gpu_options(options, fn));
    });
}

AMXMM_C_API amxmm_status amxmm_gpu_moe_ffn(amxmm_gpu_context* context, const amxmm_gpu_weight* gate,
                                           const amxmm_gpu_weight* up, const amxmm_gpu_weight* down,
                                           const amxmm_moe_routing* routing, const float* weights, int64_t ld_weights,
                                           const float* x, int64_t ldx, float* y, int64_t ldy,
                                           const amxmm_gpu_options* options, void* stream,
                                           amxmm_gpu_plan* plan) noexcept {
    constexpr const char* fn = "amxmm_gpu_moe_ffn";
    return amxmm_c_detail::guarded(fn, [&] {
        amxmm_c_detail::need(context, fn, "context");
        amxmm_c_detail::need(gate, fn, "gate");
        amxmm_c_detail::need(up, fn, "up");
        amxmm_c_detail::need(down, fn, "down");
        const amxmm::moe_routing r = amxmm_c_detail::to_routing(routing, fn);
        const amxmm::cuda::moe_ffn_options opt = amxmm_c_detail::to_gpu_options(options, fn);
        amxmm_c_detail::fill_gpu_plan(plan, amxmm::cuda::moe_ffn(context->ctx, gate->weight.view(), up->weight.view(),
                                                                 down->weight.view(), r, weights, ld_weights, x, ldx,
                                                                 y, ldy, opt, static_cast<cudaStream_t>(stream)));
    });
}

#else  // no CUDA: every GPU call says so

AMXMM_C_API amxmm_status amxmm_gpu_context_create(size_t, amxmm_gpu_context** context) noexcept {
    if (context) *context = nullptr;
    return amxmm_c_detail::guarded("amxmm_gpu_context_create", [] { amxmm_c_detail::no_cuda("amxmm_gpu_context_create"); });
}
AMXMM_C_API void amxmm_gpu_context_free(amxmm_gpu_context*) noexcept {}  // no context can exist
AMXMM_C_API amxmm_status amxmm_gpu_context_reserve(amxmm_gpu_context*, size_t) noexcept {
    return amxmm_c_detail::guarded("amxmm_gpu_context_reserve", [] { amxmm_c_detail::no_cuda("amxmm_gpu_context_reserve"); });
}
AMXMM_C_API amxmm_status amxmm_gpu_weight_upload_q4_0(const void*, int64_t, int64_t, int64_t, void*,
                                                      amxmm_gpu_weight** weight) noexcept {
    if (weight) *weight = nullptr;
    return amxmm_c_detail::guarded("amxmm_gpu_weight_upload_q4_0",
                                   [] { amxmm_c_detail::no_cuda("amxmm_gpu_weight_upload_q4_0"); });
}
AMXMM_C_API void amxmm_gpu_weight_free(amxmm_gpu_weight*) noexcept {}  // no weight can exist
AMXMM_C_API amxmm_status amxmm_gpu_weight_info(const amxmm_gpu_weight*, int64_t*, int64_t*, int64_t*, size_t*) noexcept {
    return amxmm_c_detail::guarded("amxmm_gpu_weight_info", [] { amxmm_c_detail::no_cuda("amxmm_gpu_weight_info"); });
}
AMXMM_C_API amxmm_status amxmm_gpu_gemm_workspace_bytes(const amxmm_gpu_weight*, int64_t, const amxmm_gpu_options*,
                                                        size_t*) noexcept {
    return amxmm_c_detail::guarded("amxmm_gpu_gemm_workspace_bytes",
                                   [] { amxmm_c_detail::no_cuda("amxmm_gpu_gemm_workspace_bytes"); });
}
AMXMM_C_API amxmm_status amxmm_gpu_gemm_q4_0(amxmm_gpu_context*, const amxmm_gpu_weight*, int64_t, const float*, int64_t,
                                             float*, int64_t, const amxmm_gpu_options*, void*,
                                             amxmm_gpu_plan*) noexcept {
    return amxmm_c_detail::guarded("amxmm_gpu_gemm_q4_0", [] { amxmm_c_detail::no_cuda("amxmm_gpu_gemm_q4_0"); });
}
AMXMM_C_API amxmm_status amxmm_gpu_context_check_routing(amxmm_gpu_context*, void*) noexcept {
    return amxmm_c_detail::guarded("amxmm_gpu_context_check_routing",
                                   [] { amxmm_c_detail::no_cuda("amxmm_gpu_context_check_routing"); });
}
AMXMM_C_API amxmm_status amxmm_gpu_moe_gemm_workspace_bytes(const amxmm_gpu_weight*, int64_t, int64_t,
                                                            amxmm_moe_input_rows, const amxmm_gpu_options*,
                                                            size_t*) noexcept {
    return amxmm_c_detail::guarded("amxmm_gpu_moe_gemm_workspace_bytes",
                                   [] { amxmm_c_detail::no_cuda("amxmm_gpu_moe_gemm_workspace_bytes"); });
}
AMXMM_C_API amxmm_status amxmm_gpu_moe_gemm(amxmm_gpu_context*, const amxmm_gpu_weight*, const amxmm_moe_routing*,
                                            const float*, amxmm_moe_input_rows, int64_t, int64_t, float*, int64_t,
                                            int64_t, const amxmm_gpu_options*, void*, amxmm_gpu_plan*) noexcept {
    return amxmm_c_detail::guarded("amxmm_gpu_moe_gemm", [] { amxmm_c_detail::no_cuda("amxmm_gpu_moe_gemm"); });
}
AMXMM_C_API amxmm_status amxmm_gpu_moe_ffn_workspace_bytes(const amxmm_gpu_weight*, int64_t, int64_t,
                                                           const amxmm_gpu_options*, size_t*) noexcept {
    return amxmm_c_detail::guarded("amxmm_gpu_moe_ffn_workspace_bytes",
                                   [] { amxmm_c_detail::no_cuda("amxmm_gpu_moe_ffn_workspace_bytes"); });
}
AMXMM_C_API amxmm_status amxmm_gpu_moe_ffn(amxmm_gpu_context*, const amxmm_gpu_weight*, const amxmm_gpu_weight*,
                                           const amxmm_gpu_weight*, const amxmm_moe_routing*, const float*, int64_t,
                                           const float*, int64_t, float*, int64_t, const amxmm_gpu_options*, void*,
                                           amxmm_gpu_plan*) noexcept {
    return amxmm_c_detail::guarded("amxmm_gpu_moe_ffn", [] { amxmm_c_detail::no_cuda("amxmm_gpu_moe_ffn"); });
}

#endif  // AMXMM_C_WITH_CUDA

}  // extern "C"
