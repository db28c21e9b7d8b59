// Capturing an amxmm::error in tests that check its code and message.
#pragma once

#include <amxmm/core/error.hpp>

#include <string>

namespace amxmm_test {

struct caught {
    bool thrown = false;
    amxmm::errc code = amxmm::errc::system;
    std::string what;
};

/// Runs f and reports the amxmm::error it threw, if any (any other exception propagates and fails
/// the test).
template <class F>
caught catch_error(F&& f) {
    caught c;
    try {
        f();
    } catch (const amxmm::error& e) {
        c.thrown = true;
        c.code = e.code();
        c.what = e.what();
    }
    return c;
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace amxmm_test
