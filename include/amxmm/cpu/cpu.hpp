// The cpu layer: what this machine can run and how amxmm chooses among its back ends.
//   features.hpp           CPUID + XCR0 detection (cpu_features, detected_cpu_features)
//   amx_permission.hpp     Linux AMX permission request (request_amx_permission)
//   isa.hpp                isa enum, AMXMM_ISA cap, choose_isa / default_isa / supported_isas
//   tile_config_guard.hpp  AMX tile configuration bytes and the borrow-and-restore guard (x86-64 only)
#pragma once

#include "features.hpp"
#include "amx_permission.hpp"
#include "cache.hpp"
#include "isa.hpp"
#include "tile_config_guard.hpp"
