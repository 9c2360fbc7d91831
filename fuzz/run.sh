#!/usr/bin/env bash
# Runs every fuzz target over its committed corpus, two at a time (CI has
# two cores), and fails on any finding.
#
#   fuzz/run.sh [BUILD_DIR] [SECONDS_PER_TARGET]   # fuzz (defaults: build-fuzz, 1800: the long form)
#   fuzz/run.sh merge [BUILD_DIR] SEED_DIR          # minimise corpus + SEED_DIR/<target>/ + scratch into fuzz/corpus/
#   SCHAKEL_FUZZ_TARGETS="policy import" fuzz/run.sh build-fuzz 60   # only these targets
#
# tests/run.sh runs the short form (SCHAKEL_FUZZ_SECONDS, default 120 s per
# target; fuzz/README.md says why). Inputs that add coverage go to a scratch
# corpus (BUILD_DIR/fuzz/scratch/<target>/), never to the committed one: add
# them with `merge` when they are worth keeping. A finding (crash, leak,
# undefined behaviour, timeout, out of memory) makes this script fail and
# names the reproducer; run it again with
#   BUILD_DIR/fuzz/schakel-fuzz-<target> <reproducer>
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=fuzz
if [ "${1:-}" = merge ]; then
  mode=merge
  shift
fi
BUILD=${1:-build-fuzz}
if [ "$mode" = merge ]; then
  SEEDS=${2:?usage: fuzz/run.sh merge BUILD_DIR SEED_DIR}
else
  SECONDS_PER_TARGET=${2:-1800}
fi
# UBSan stops at the first report (libFuzzer then keeps the input); ASan's
# leak check runs after every input that allocated.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

targets=()
for bin in "$BUILD"/fuzz/schakel-fuzz-*; do
  [ -x "$bin" ] || continue
  name=${bin##*/schakel-fuzz-}
  if [ -n "${SCHAKEL_FUZZ_TARGETS:-}" ] && [[ " $SCHAKEL_FUZZ_TARGETS " != *" $name "* ]]; then continue; fi
  targets+=("$name")
done
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no targets in $BUILD/fuzz (cmake --build $BUILD --target schakel_fuzzers)" >&2; exit 1; }

# Minimises the committed corpus of $1 together with its seeds: the corpus
# is replaced by the smallest set of inputs with the same coverage.
merge_one() {
  local name=$1 corpus=fuzz/corpus/$1 merged=$BUILD/fuzz/merged/$1
  rm -rf "$merged"
  mkdir -p "$merged" "$corpus"
  local inputs=("$corpus") d
  for d in "$SEEDS/$name" "$BUILD/fuzz/scratch/$name"; do [ -d "$d" ] && inputs+=("$d"); done
  "$BUILD/fuzz/schakel-fuzz-$name" -set_cover_merge=1 "$merged" "${inputs[@]}" \
    >"$BUILD/fuzz/merged/$name.log" 2>&1 || { echo "fuzz: merge of $name failed, see $BUILD/fuzz/merged/$name.log" >&2; return 1; }
  # Inputs that were already committed keep their names, and regression
  # inputs (regression-*: a finding's reproducer) stay whatever they add.
  find "$corpus" -type f | while read -r f; do
    h=$(sha1sum "$f" | cut -c1-40)
    if [ "$(basename "$f")" = "$h" ]; then
      :
    elif [ -e "$merged/$h" ]; then
      mv "$merged/$h" "$merged/$(basename "$f")"
    elif [[ $(basename "$f") == regression-* ]]; then
      cp "$f" "$merged/"
    fi
  done
  rm -rf "$corpus"
  mv "$merged" "$corpus"
  echo "fuzz: $name: $(ls "$corpus" | wc -l) files in $corpus"
}

# Fuzzes $1 for SECONDS_PER_TARGET; returns non-zero on a finding.
fuzz_one() {
  local name=$1 corpus=fuzz/corpus/$1 scratch=$BUILD/fuzz/scratch/$1
  local log=$scratch.log
  mkdir -p "$scratch" "$corpus"
  if "$BUILD/fuzz/schakel-fuzz-$name" -max_total_time="$SECONDS_PER_TARGET" -timeout=30 -rss_limit_mb=3072 \
      -print_final_stats=1 -artifact_prefix="$scratch/" "$scratch" "$corpus" >"$log" 2>&1; then
    echo "fuzz: $name ok: $(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 | sed -E 's/^#([0-9]+)[[:space:]]+DONE[[:space:]]+/\1 runs, /')"
    return 0
  fi
  echo "fuzz: $name FAILED (log: $log)" >&2
  grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|fuzz check failed)' "$log" | head -5 >&2 || true
  local reproducer
  reproducer=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
  if [ -n "$reproducer" ]; then
    echo "fuzz: reproducer: $reproducer (run: $BUILD/fuzz/schakel-fuzz-$name $reproducer)" >&2
  else
    tail -20 "$log" >&2
  fi
  return 1
}

status=0
if [ "$mode" = merge ]; then
  for name in "${targets[@]}"; do merge_one "$name" || status=1; done
  exit $status
fi

echo "fuzz: ${#targets[@]} targets, ${SECONDS_PER_TARGET}s each, two at a time"
running=0
for name in "${targets[@]}"; do
  if [ $running -ge 2 ]; then
    wait -n || status=1
    running=$((running - 1))
  fi
  fuzz_one "$name" &
  running=$((running + 1))
done
while [ $running -gt 0 ]; do
  wait -n || status=1
  running=$((running - 1))
done
exit $status
