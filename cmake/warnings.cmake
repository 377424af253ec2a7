# SPDX-License-Identifier: GPL-3.0-or-later
# Warnings for our own targets only (third-party headers are system includes).
add_library(freehold_warnings INTERFACE)
target_compile_options(freehold_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                       -Wold-style-cast -Wcast-align -Woverloaded-virtual -Wformat=2
                       -Wimplicit-fallthrough)
if(FREEHOLD_WERROR)
  target_compile_options(freehold_warnings INTERFACE -Werror)
endif()
# GCC 12 reports -Wrestrict false positives inside libstdc++'s string concatenation (GCC bug 105329).
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  # It also misreads coroutine frame allocation in Asio awaitables as mismatched new/delete (GCC bug 109224).
  target_compile_options(freehold_warnings INTERFACE -Wno-restrict -Wno-mismatched-new-delete)
endif()
# With -fsanitize=address GCC's flow analysis reports -Wmaybe-uninitialized inside libstdc++ (<regex>,
# std::function) that a normal build does not; GCC's manual warns that sanitizers cause such false positives.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND FREEHOLD_SANITIZE)
  target_compile_options(freehold_warnings INTERFACE -Wno-maybe-uninitialized)
endif()
