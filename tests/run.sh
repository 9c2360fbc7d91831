#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds with warnings as
# errors, and runs every test with ctest. Exits non-zero on any failure.
#
#   ./tests/run.sh                 # everything: main build, ASan+UBSan build, fuzz smoke
#   SCHAKEL_SANITIZE=0 ./tests/run.sh   # skip the sanitizer build
#   SCHAKEL_FUZZ_SECONDS=0 ./tests/run.sh  # skip the fuzz smoke run (default: 120 s per target;
#                                        # the long form: ./tests/long.sh fuzz, fuzz/README.md)
#
# The long forms of the fault, attack, fuzz and load tests: ./tests/long.sh
# (docs/testing.md, "Long forms").
#
# Build trees: build/ (RelWithDebInfo), build-asan/ (ASan+UBSan),
# build-fuzz/ (clang + libFuzzer). All are ignored by git.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

JOBS=${SCHAKEL_JOBS:-2}
SANITIZE=${SCHAKEL_SANITIZE:-1}
FUZZ_SECONDS=${SCHAKEL_FUZZ_SECONDS:-120}
start=$(date +%s)

# Each step names the time so far and the disk space left (a full disk once
# failed a CI run halfway through a build).
step() {
  printf '\n==> %s (%ss, %s free)\n' "$*" "$(( $(date +%s) - start ))" \
    "$(df -h --output=avail . | tail -1 | tr -d ' ')"
}

passed=0
# Runs ctest on a build tree and adds its count of passed tests to the total.
run_ctest() {
  local dir=$1 log
  log=$(mktemp)
  shift
  if ! "$@" ctest --test-dir "$dir" --output-on-failure -j "$JOBS" | tee "$log"; then
    rm -f "$log"
    return 1
  fi
  local n
  n=$(sed -n 's/^100% tests passed, 0 tests failed out of \([0-9]*\)$/\1/p' "$log")
  rm -f "$log"
  [ -n "$n" ] || { echo "run.sh: could not read ctest's summary for $dir" >&2; return 1; }
  passed=$((passed + n))
}

step "installing dependencies"
./deploy/install-deps.sh

step "building (build/)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSCHAKEL_WERROR=ON >/dev/null
cmake --build build -j "$JOBS"

step "running the test suite (build/)"
run_ctest build env

if [ "$SANITIZE" != 0 ]; then
  step "building with -fsanitize=address,undefined (build-asan/)"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSCHAKEL_SANITIZE=ON \
    -DSCHAKEL_BUILD_BENCHMARKS=OFF -DSCHAKEL_WERROR=ON >/dev/null
  cmake --build build-asan -j "$JOBS"
  step "running the test suite under ASan+UBSan (build-asan/)"
  run_ctest build-asan env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi

if [ "$FUZZ_SECONDS" != 0 ]; then
  step "building fuzz targets with clang + libFuzzer (build-fuzz/)"
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSCHAKEL_BUILD_FUZZERS=ON -DSCHAKEL_BUILD_TESTS=OFF -DSCHAKEL_BUILD_BENCHMARKS=OFF >/dev/null
  cmake --build build-fuzz -j "$JOBS" --target schakel_fuzzers
  step "fuzzing each target for ${FUZZ_SECONDS}s, two at a time"
  ./fuzz/run.sh build-fuzz "$FUZZ_SECONDS"
fi

step "all tests passed"
echo "tests: ${passed} passed, 0 failed"
