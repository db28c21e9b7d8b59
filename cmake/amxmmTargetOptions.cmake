# Build settings for amxmm's own targets (tests, benchmarks, examples) — never for amxmm::amxmm itself,
# so nothing here reaches a consumer.

# Warnings, and -Werror when AMXMM_WERROR is on.
function(amxmm_target_warnings target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
    if(AMXMM_WERROR)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endif()
endfunction()

# Sanitizers from AMXMM_SANITIZE (e.g. "address,undefined"), on compile and link; any report is fatal.
function(amxmm_target_sanitizers target)
  if(AMXMM_SANITIZE)
    set(_flags -fsanitize=${AMXMM_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
    target_compile_options(${target} PRIVATE ${_flags})
    target_link_options(${target} PRIVATE ${_flags})
  endif()
endfunction()

# add_executable + amxmm::amxmm + warnings + sanitizers: what every test, benchmark and example needs.
function(amxmm_add_executable target)
  add_executable(${target} ${ARGN})
  target_link_libraries(${target} PRIVATE amxmm::amxmm)
  amxmm_target_warnings(${target})
  amxmm_target_sanitizers(${target})
endfunction()
