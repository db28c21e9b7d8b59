// One include for every test: Catch2 v3 when AMXMM_CATCH2_V3 is defined (tests/CMakeLists.txt sets it),
// else Catch2 v2. Write v3 spellings; this header makes the few that differ work on v2 as well:
//   Approx / Catch::Approx                         (v2 has only the global, v3 only Catch::Approx)
//   Catch::Matchers::ContainsSubstring             (v2 calls it Contains)
// Same in both already: TEST_CASE, SECTION, GENERATE, REQUIRE_THROWS_WITH/_MATCHES, INFO, CAPTURE,
// Catch::Matchers::WithinAbs/WithinRel/WithinULP/Message.
#pragma once

#if defined(AMXMM_CATCH2_V3)

#include <catch2/catch_all.hpp>
using Catch::Approx;

#else

#include <catch2/catch.hpp>
#include <string>
namespace Catch {
using Detail::Approx;
namespace Matchers {
inline StdString::ContainsMatcher ContainsSubstring(std::string const& str,
                                                   CaseSensitive::Choice cs = CaseSensitive::Yes) {
  return Contains(str, cs);
}
}  // namespace Matchers
}  // namespace Catch

#endif
