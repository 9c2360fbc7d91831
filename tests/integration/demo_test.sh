#!/usr/bin/env bash
# The README's main command, end to end on a small data set: runs
# deploy/demo.sh with the programs of this build (BUILD_DIR, the first
# argument), its state in a temporary directory and 2,000 signals per node,
# then checks what each step must show, and stops the federation whatever
# happened. Exit 0 when every check holds.
set -euo pipefail
build_dir="$1"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
state="$(mktemp -d)"
log="$state.log"
export SCHAKEL_DEMO_DIR="$state/demo" SCHAKEL_BUILD_DIR="$build_dir" SCHAKEL_DEMO_SKIP_BUILD=1 \
       SCHAKEL_DEMO_SIGNALS=2000 SCHAKEL_DEMO_PORT_BASE="${SCHAKEL_DEMO_PORT_BASE:-18400}"
cleanup() {
  "$root/deploy/demo.sh" stop >/dev/null 2>&1 || true
  rm -rf "$state" "$log"
}
trap cleanup EXIT

fail() { echo "demo_test: $*" >&2; sed 's/^/  | /' "$log" >&2; exit 1; }

"$root/deploy/demo.sh" >"$log" 2>&1 || fail "deploy/demo.sh failed"
for expected in \
    "stored:      2,000 signals" \
    "family gezin-1:" \
    "state:             delivered" \
    "decided by:        z.fg" \
    "chain intact:" \
    "riec-ondermijning  " \
    "The federation is running"; do
  grep -qF -- "$expected" "$log" || fail "the output lacks \"$expected\""
done
# The last family of families.csv is known to no partner.
grep -qE "family gezin-[0-9]+: 0 of [0-9]+ members known" "$log" || fail "no family known to no one"
# A second run reuses everything and runs the steps again.
"$root/deploy/demo.sh" >"$log" 2>&1 || fail "the second run failed"
grep -qF "reusing" "$log" || fail "the second run did not reuse the state"
grep -qF "imported before" "$log" || fail "the second run imported again"
grep -qF "chain intact:" "$log" || fail "the second run's audit check failed"
[[ "$("$root/deploy/demo.sh" status)" == *"gateway: running"* ]] || fail "the gateway is not running"
"$root/deploy/demo.sh" stop >/dev/null
[[ "$("$root/deploy/demo.sh" status)" == *"gateway: not running"* ]] || fail "stop left the gateway running"
echo "demo_test: the demo ran twice and stopped"
