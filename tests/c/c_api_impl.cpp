// The C API's implementation for amxmm_c_tests: the one C++ translation unit a C program needs.
#define AMXMM_C_IMPLEMENTATION
#include <amxmm/c/amxmm.h>

// Test-only helper (C++, because it uses the planner's GGUF writer): writes the model described by
// `model_json` (amxmm::plan::model_from_json's schema) to `path` as a GGUF file with metadata and a tensor
// table but no tensor data (a sparse hole), as amxmm-plan's synthesized models are. 0 on success; else -1
// with the reason in `message` (capacity bytes, NUL-terminated).
#include <cstdio>

extern "C" int amxmm_test_write_model_gguf(const char* model_json, const char* path, char* message,
                                           std::size_t capacity) {
    try {
        amxmm::plan::write_model_gguf(amxmm::plan::model_from_json(amxmm::plan::json::parse(model_json)), path);
        return 0;
    } catch (const std::exception& e) {
        std::snprintf(message, capacity, "%s", e.what());
        return -1;
    }
}
