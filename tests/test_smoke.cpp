// Smoke tests of the build itself: the version macros, version_string() and the CMake project version
// agree, and catch_compat.hpp's spellings work on whichever Catch2 this build found.
#include "catch_compat.hpp"

#include <amxmm/core/version.hpp>

#include <stdexcept>
#include <string>

TEST_CASE("version_string matches the version macros", "[core][version]") {
  const std::string expected = std::to_string(AMXMM_VERSION_MAJOR) + "." +
                               std::to_string(AMXMM_VERSION_MINOR) + "." +
                               std::to_string(AMXMM_VERSION_PATCH);
  CHECK(std::string(amxmm::version_string()) == expected);
  CHECK(std::string(AMXMM_VERSION_STRING) == expected);
  CHECK(std::string(AMXMM_TEST_PROJECT_VERSION) == expected);  // project(amxmm VERSION ...) in CMake
  CHECK(AMXMM_VERSION ==
        AMXMM_VERSION_MAJOR * 10000 + AMXMM_VERSION_MINOR * 100 + AMXMM_VERSION_PATCH);
  STATIC_REQUIRE(amxmm::version_string()[0] != '\0');  // usable in constant expressions
}

TEST_CASE("catch_compat.hpp spellings work with this Catch2", "[test-infra]") {
  using Catch::Matchers::ContainsSubstring;
  CHECK(0.1 + 0.2 == Approx(0.3));
  CHECK(0.1 + 0.2 == Catch::Approx(0.3));
  CHECK_THAT(0.1 + 0.2, Catch::Matchers::WithinRel(0.3, 1e-12) && Catch::Matchers::WithinAbs(0.3, 1e-12));
  CHECK_THROWS_WITH(throw std::invalid_argument("K = 33 is not a multiple of 32"),
                    ContainsSubstring("K = 33"));
  CHECK_THROWS_MATCHES(throw std::invalid_argument("bad N"), std::invalid_argument,
                       Catch::Matchers::Message("bad N"));
}
