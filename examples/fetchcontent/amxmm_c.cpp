// The one C++ file of the C consumer: the C API's implementation.
#define AMXMM_C_IMPLEMENTATION
#include <amxmm/c/amxmm.h>
