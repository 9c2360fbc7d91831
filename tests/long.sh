#!/usr/bin/env bash
# The long forms of issue 6's tests, from one command (docs/testing.md, "Long
# forms"). ./tests/run.sh runs every one of them in its short form through
# ctest; this runs the same test programs with the long counts, without
# ctest's time limits, one part at a time.
#
#   ./tests/long.sh              # every part below, one after the other (hours)
#   ./tests/long.sh PART...      # only these parts, e.g. ./tests/long.sh crash damage
#
# Parts, with what they scale (environment variable, long-form default):
#   crash     power loss under the exchange log and damaged store files, in-process:
#             ExchangeLogCrashTest (SCHAKEL_CRASH_CYCLES=2000) and
#             LogCorruptionTest (SCHAKEL_CORRUPTION_TRIALS=2000)
#   damage    damaged store files of a real gateway: refused at start or named by
#             `schakel audit verify` (SCHAKEL_STORE_DAMAGE_TRIALS=100)
#   elements  random 32-byte strings as group elements (SCHAKEL_RANDOM_ELEMENTS=10000000)
#   replays   one authorisation sent again at once to a real node (SCHAKEL_REPLAYS=10000)
#   kill      kill -9 of the gateway and of two nodes under load (SCHAKEL_FAULT_CYCLES=50)
#   partner   a hanging and a dead partner under load
#   soak      steady load with faults mixed in (SCHAKEL_SOAK_MINUTES=30;
#             SCHAKEL_SOAK_GATEWAY_FAULTS=0 never restarts the gateway)
#   fuzz      every libFuzzer target (SCHAKEL_FUZZ_SECONDS=600 per target, two at a
#             time; SCHAKEL_FUZZ_TARGETS="policy import" for some) in the fuzz tree
#             FUZZ_BUILD (default build-fuzz), which this part configures (clang,
#             fuzz/README.md) when it does not exist yet, and builds
#   load      ./deploy/loadtest.sh: a fresh federation under load, the figures of
#             docs/performance.md (its own SCHAKEL_LOADTEST_* settings)
#
# Environment: BUILD (the build tree, default build; build-asan runs them under
# the sanitizers), JOBS (parallel build jobs, default 2). Each part first builds
# the programs it runs in BUILD (nothing to do when they are up to date), then
# prints its counts, the date and the load average. Seeds: every randomised
# test prints its seed; SCHAKEL_CRASH_SEED, SCHAKEL_STORE_DAMAGE_SEED and
# SCHAKEL_FAULT_SEED replay a run. Exits non-zero when any part fails (the
# others still run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

readonly PARTS=(crash damage elements replays kill partner soak fuzz load)
export BUILD=${BUILD:-build}
export JOBS=${JOBS:-2}
export FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
export SCHAKEL_CRASH_CYCLES=${SCHAKEL_CRASH_CYCLES:-2000}
export SCHAKEL_CORRUPTION_TRIALS=${SCHAKEL_CORRUPTION_TRIALS:-2000}
export SCHAKEL_STORE_DAMAGE_TRIALS=${SCHAKEL_STORE_DAMAGE_TRIALS:-100}
export SCHAKEL_RANDOM_ELEMENTS=${SCHAKEL_RANDOM_ELEMENTS:-10000000}
export SCHAKEL_REPLAYS=${SCHAKEL_REPLAYS:-10000}
export SCHAKEL_FAULT_CYCLES=${SCHAKEL_FAULT_CYCLES:-50}
export SCHAKEL_SOAK_MINUTES=${SCHAKEL_SOAK_MINUTES:-30}
export SCHAKEL_FUZZ_SECONDS=${SCHAKEL_FUZZ_SECONDS:-600}

usage() {
  echo "usage: ./tests/long.sh [all | PART...]; parts: ${PARTS[*]} (./tests/long.sh --help)" >&2
  exit 2
}

# header PART WHAT: the line that starts a part.
header() {
  printf '\n== long.sh %s: %s\n   %s, BUILD=%s, load average %s\n' "$1" "$2" \
    "$(date -u +%FT%TZ)" "$BUILD" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

# Stops unless BUILD is a configured build tree.
require_tree() {
  [ -f "$BUILD/CMakeCache.txt" ] || {
    echo "long.sh: $BUILD is not a configured build tree; configure it first, e.g." >&2
    echo "  cmake -S . -B $BUILD -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo" >&2
    exit 2
  }
}

# build TARGET...: brings the test programs in BUILD up to date.
build() {
  require_tree
  cmake --build "$BUILD" -j "$JOBS" --target "$@"
}

# gtest PROGRAM FILTER: runs a test program of BUILD with a gtest filter.
gtest() {
  local program="$BUILD/$1"
  echo "   $program --gtest_filter='$2'"
  "$program" --gtest_filter="$2"
}

# run_part PART: one part; set -e stops it at its first failure.
run_part() {
  case "$1" in
    crash)
      build schakel_gateway_tests
      header crash "ExchangeLogCrashTest SCHAKEL_CRASH_CYCLES=$SCHAKEL_CRASH_CYCLES, LogCorruptionTest SCHAKEL_CORRUPTION_TRIALS=$SCHAKEL_CORRUPTION_TRIALS"
      gtest tests/schakel_gateway_tests 'ExchangeLogCrashTest.*:LogCorruptionTest.*'
      ;;
    damage)
      build schakel_corruption_tests
      header damage "GatewayStoreDamageTest SCHAKEL_STORE_DAMAGE_TRIALS=$SCHAKEL_STORE_DAMAGE_TRIALS"
      gtest tests/integration/schakel_corruption_tests 'GatewayStoreDamageTest.*'
      ;;
    elements)
      build schakel_crypto_tests
      header elements "ElementTest.RandomStringsAreRefusedOrValidNeverCrash SCHAKEL_RANDOM_ELEMENTS=$SCHAKEL_RANDOM_ELEMENTS"
      gtest tests/schakel_crypto_tests 'ElementTest.RandomStringsAreRefusedOrValidNeverCrash'
      ;;
    replays)
      build schakel_node_process_tests
      header replays "NodeProcessTest.OneAuthorisationIsAcceptedExactlyOnceWhateverHappens SCHAKEL_REPLAYS=$SCHAKEL_REPLAYS"
      gtest tests/integration/schakel_node_process_tests 'NodeProcessTest.OneAuthorisationIsAcceptedExactlyOnceWhateverHappens'
      ;;
    kill)
      build schakel_faults_tests
      header kill "KillNineTest.* SCHAKEL_FAULT_CYCLES=$SCHAKEL_FAULT_CYCLES"
      gtest tests/integration/schakel_faults_tests 'KillNineTest.*'
      ;;
    partner)
      build schakel_faults_tests
      header partner "PartnerFaultTest.*"
      gtest tests/integration/schakel_faults_tests 'PartnerFaultTest.*'
      ;;
    soak)
      build schakel_faults_tests
      header soak "SoakTest.* SCHAKEL_SOAK_MINUTES=$SCHAKEL_SOAK_MINUTES"
      gtest tests/integration/schakel_faults_tests 'SoakTest.*'
      ;;
    fuzz)
      if [ ! -f "$FUZZ_BUILD/CMakeCache.txt" ]; then
        echo "long.sh: configuring the fuzz tree $FUZZ_BUILD (clang, fuzz/README.md)"
        launcher=()
        command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
        CC=clang CXX=clang++ cmake -S . -B "$FUZZ_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
          -DSCHAKEL_BUILD_FUZZERS=ON -DSCHAKEL_BUILD_TESTS=OFF -DSCHAKEL_BUILD_BENCHMARKS=OFF "${launcher[@]}"
      fi
      # Every target, or those of SCHAKEL_FUZZ_TARGETS ("policy import"). From
      # clean, all of them take 10 minutes or more on 2 cores (fuzz/README.md).
      fuzzers=(schakel_fuzzers)
      if [ -n "${SCHAKEL_FUZZ_TARGETS:-}" ]; then
        fuzzers=()
        for t in $SCHAKEL_FUZZ_TARGETS; do fuzzers+=("schakel-fuzz-$t"); done
      fi
      cmake --build "$FUZZ_BUILD" -j "$JOBS" --target "${fuzzers[@]}"
      header fuzz "every target of $FUZZ_BUILD, SCHAKEL_FUZZ_SECONDS=$SCHAKEL_FUZZ_SECONDS each${SCHAKEL_FUZZ_TARGETS:+ (SCHAKEL_FUZZ_TARGETS=$SCHAKEL_FUZZ_TARGETS)}"
      echo "   fuzz/run.sh $FUZZ_BUILD $SCHAKEL_FUZZ_SECONDS"
      ./fuzz/run.sh "$FUZZ_BUILD" "$SCHAKEL_FUZZ_SECONDS"
      ;;
    load)
      # deploy/loadtest.sh builds what it needs in the same tree.
      require_tree
      header load "deploy/loadtest.sh, SCHAKEL_BUILD_DIR=$BUILD$( (env | grep '^SCHAKEL_LOADTEST_' || true) | sort | sed 's/^/ /' | tr -d '\n')"
      SCHAKEL_BUILD_DIR="$BUILD" ./deploy/loadtest.sh
      ;;
    *) usage ;;
  esac
}

case "${1:-all}" in
  -h | --help) sed -n '2,/^set -euo/p' tests/long.sh | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
esac
[ $# -gt 0 ] || set -- all
if [ "$1" = all ]; then
  [ $# -eq 1 ] || usage
  set -- "${PARTS[@]}"
fi
for part in "$@"; do
  [[ " ${PARTS[*]} " == *" $part "* ]] || { echo "long.sh: unknown part '$part'" >&2; usage; }
done

if [ $# -eq 1 ]; then
  run_part "$1"
  exit
fi

# Several parts: each in a process of its own (so that set -e stops only
# that part), then a summary.
failed=()
summary=()
for part in "$@"; do
  started=$(date +%s)
  if "$PWD/tests/long.sh" "$part"; then status=ok; else status=FAILED; failed+=("$part"); fi
  summary+=("$(printf '%-9s %-6s %5ss' "$part" "$status" $(($(date +%s) - started)))")
done
printf '\n== long.sh: %d parts, %s\n' $# "$(date -u +%FT%TZ)"
printf '   %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "long.sh: failed: ${failed[*]}" >&2
  exit 1
fi
