// Catch2 v2 gets its main() here; with v3 the test executable links Catch2::Catch2WithMain instead.
#if !defined(AMXMM_CATCH2_V3)
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
#endif
