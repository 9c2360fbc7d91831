# Shared settings for Schakel's own targets (not for generated code).
function(schakel_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
    -Wunused -Woverloaded-virtual -Wdouble-promotion
    -Wformat=2 -Wimplicit-fallthrough)
  if(SCHAKEL_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# schakel_library(NAME SOURCES ... DEPS ...): a static library per folder.
function(schakel_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PUBLIC_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_DEPS})
  schakel_warnings(${name})
endfunction()

# schakel_test(NAME SOURCES ... DEPS ... [LABELS ...]): a GoogleTest binary
# registered with ctest, one ctest entry per test case.
function(schakel_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  schakel_warnings(${name})
  gtest_discover_tests(${name}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    PROPERTIES LABELS "${ARG_LABELS}"
    DISCOVERY_TIMEOUT 60)
endfunction()

# schakel_server_allocator(TARGET): link a long-running server (and the
# benchmarks that measure its code) with jemalloc, the allocator RocksDB
# recommends: glibc's malloc spends a tenth of an import's CPU consolidating
# the many small blocks a commit frees (docs/performance.md). Its options
# (background purging, small thread caches) are in
# common/server_allocator.cc. Sanitizer builds keep their own allocator.
function(schakel_server_allocator target)
  if(NOT SCHAKEL_SANITIZER_RUNTIME)
    target_link_libraries(${target} PRIVATE PkgConfig::JEMALLOC)
    target_sources(${target} PRIVATE ${PROJECT_SOURCE_DIR}/common/server_allocator.cc)
  endif()
endfunction()
