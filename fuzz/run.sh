#!/usr/bin/env bash
# Runs every fuzz target for a while over its committed corpus.
#   fuzz/run.sh [BUILD_DIR] [SECONDS_PER_TARGET]
# Defaults: build-fuzz, 300 s (the long form; tests/run.sh uses 20 s).
# New inputs that increase coverage are written to a scratch corpus, not to
# the committed one; a crash leaves its input as crash-* in that directory
# and makes this script fail.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD=${1:-build-fuzz}
SECONDS_PER_TARGET=${2:-300}
status=0
for bin in "$BUILD"/fuzz/schakel-fuzz-*; do
  name=${bin##*/schakel-fuzz-}
  corpus=fuzz/corpus/$name
  scratch=$BUILD/fuzz/scratch/$name
  mkdir -p "$scratch"
  echo "fuzz: $name for ${SECONDS_PER_TARGET}s (corpus: $(ls "$corpus" 2>/dev/null | wc -l) files)"
  if ! "$bin" -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 -artifact_prefix="$scratch/" \
      "$scratch" "$corpus" >"$scratch.log" 2>&1; then
    echo "fuzz: $name FAILED; see $scratch.log" >&2
    tail -40 "$scratch.log" >&2
    status=1
  else
    grep -E 'stat::number_of_executed_units|cov:' "$scratch.log" | tail -2 | sed 's/^/  /'
  fi
done
exit $status
