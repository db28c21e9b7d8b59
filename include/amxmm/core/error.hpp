// amxmm::error — the one exception type every public amxmm function throws on bad input or a
// refused resource. The message names the function, the argument and the offending value.
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

#include "version.hpp"

AMXMM_NAMESPACE_BEGIN

/// Category of an amxmm::error, for callers that want to branch without parsing the message.
enum class errc {
    invalid_argument,  ///< a shape, pointer, alignment or enum argument is not acceptable
    out_of_range,      ///< an index (e.g. an expert id) is outside its valid range
    buffer_too_small,  ///< a caller-provided buffer cannot hold what the call needs
    unsupported,       ///< the requested path is not available on this machine / build
    malformed_input,   ///< a file or blob does not follow its format
    system,            ///< the OS or a runtime refused (allocation, mmap, CUDA, ...)
};

class error : public std::runtime_error {
public:
    error(errc code, const std::string& what) : std::runtime_error(what), code_(code) {}
    errc code() const noexcept { return code_; }

private:
    errc code_;
};

namespace detail {

template <class... Parts>
std::string concat(Parts&&... parts) {
    std::ostringstream os;
    (os << ... << std::forward<Parts>(parts));
    return os.str();
}

/// Throws amxmm::error with "function: message" built from the parts.
template <class... Parts>
[[noreturn]] void fail(errc code, const char* function, Parts&&... parts) {
    throw error(code, concat(function, ": ", std::forward<Parts>(parts)...));
}

/// Precondition check used at the opening of public functions.
template <class... Parts>
inline void require(bool ok, errc code, const char* function, Parts&&... parts) {
    if (!ok) fail(code, function, std::forward<Parts>(parts)...);
}

}  // namespace detail

AMXMM_NAMESPACE_END
