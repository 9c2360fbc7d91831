#!/usr/bin/env bash
# The long forms of the fault tests under load (issue 6; docs/testing.md,
# "Faults under load"). ./tests/run.sh runs their short forms through ctest;
# this runs the same test program with larger counts, without ctest's time
# limits. Build first: cmake --build build --target schakel_faults_tests
#
#   ./tests/long.sh          # kill -9 x50 (gateway, node), partner faults, 30-minute soak
#   ./tests/long.sh kill     # only KillNineTest.* (SCHAKEL_FAULT_CYCLES, default 50)
#   ./tests/long.sh partner  # only PartnerFaultTest.*
#   ./tests/long.sh soak     # only SoakTest.* (SCHAKEL_SOAK_MINUTES, default 30)
#
# Environment: BUILD (the build tree, default build), SCHAKEL_FAULT_CYCLES,
# SCHAKEL_SOAK_MINUTES, SCHAKEL_FAULT_SEED (replays the kill moments of a
# run: every test prints its seed). Takes about 10 min plus the soak on 2
# quiet cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BUILD=${BUILD:-build}
program="$BUILD/tests/integration/schakel_faults_tests"
[ -x "$program" ] || { echo "long.sh: $program not built (cmake --build $BUILD --target schakel_faults_tests)" >&2; exit 2; }
export SCHAKEL_FAULT_CYCLES=${SCHAKEL_FAULT_CYCLES:-50}
export SCHAKEL_SOAK_MINUTES=${SCHAKEL_SOAK_MINUTES:-30}

case "${1:-all}" in
  all) filter='KillNineTest.*:PartnerFaultTest.*:SoakTest.*' ;;
  kill) filter='KillNineTest.*' ;;
  partner) filter='PartnerFaultTest.*' ;;
  soak) filter='SoakTest.*' ;;
  *) echo "long.sh: unknown part '$1' (all, kill, partner, soak)" >&2; exit 2 ;;
esac
echo "long.sh: $filter, SCHAKEL_FAULT_CYCLES=$SCHAKEL_FAULT_CYCLES SCHAKEL_SOAK_MINUTES=$SCHAKEL_SOAK_MINUTES ($(date -u +%FT%TZ), load: $(cut -d' ' -f1-3 /proc/loadavg))"
exec "$program" --gtest_filter="$filter"
