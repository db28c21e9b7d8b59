/* A consumer of amxmm's C API (FetchContent and pkg-config builds in .ci/run): checks the API version
 * and reports the back end. */
#include <amxmm/c/amxmm.h>

#include <stdio.h>

int main(void) {
    amxmm_isa isa;
    const char* reason;
    if (amxmm_c_api_version() != AMXMM_C_API_VERSION) {
        fprintf(stderr, "amxmm C API %u, built against %u\n", (unsigned)amxmm_c_api_version(), (unsigned)AMXMM_C_API_VERSION);
        return 1;
    }
    if (amxmm_best_isa(&isa, &reason) != AMXMM_OK) {
        fprintf(stderr, "amxmm: %s\n", amxmm_last_error());
        return 1;
    }
    printf("amxmm %s, C API %u: %s\n", amxmm_version_string(), (unsigned)amxmm_c_api_version(), reason);
    return 0;
}
