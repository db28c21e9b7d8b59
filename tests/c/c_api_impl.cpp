// The C API's implementation for amxmm_c_tests: the one C++ translation unit a C program needs.
#define AMXMM_C_IMPLEMENTATION
#include <amxmm/c/amxmm.h>
