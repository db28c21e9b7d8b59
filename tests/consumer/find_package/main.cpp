// Minimal amxmm consumer: the umbrella header compiles as C++17 and the target's definitions arrive.
#include <amxmm/amxmm.hpp>

#include <cstdio>

#if !defined(AMXMM_HAVE_TBB) || !defined(AMXMM_HAVE_HWLOC)
#error "amxmm::amxmm did not pass on its compile definitions"
#endif

int main() {
  std::printf("amxmm %s\n", amxmm::version_string());
  return 0;
}
