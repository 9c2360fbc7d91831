#!/usr/bin/env bash
# The main job: build Schakel and run its demonstration.
#
#   ./deploy/demo.sh         install what is missing, build, run the demo
#   ./deploy/demo.sh stop    stop what the demo started
#
# Until schakel-node and schakel-gateway exist (issue 3), this runs a smaller,
# in-process demonstration of the crypto core: four partners, a purpose-bound
# family match, and what each party gets to see. It starts no servers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

case "${1:-}" in
  stop)
    echo "demo: nothing to stop (the current demonstration runs in one process and exits)"
    exit 0 ;;
  ""|start) ;;
  *) echo "usage: ./deploy/demo.sh [stop]" >&2; exit 2 ;;
esac

./deploy/install-deps.sh
echo "demo: building (build/)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "${SCHAKEL_JOBS:-2}" --target schakel-crypto-demo schakel

echo
echo "================================================================================"
echo " This is a demonstration of the crypto core only, in one process: the partner"
echo " nodes and the gateway are not built yet. No data leaves this machine."
echo "================================================================================"
echo
./build/bin/schakel-crypto-demo

echo
echo "Why do two records match? 'schakel keys derive' shows the canonical keys:"
echo
echo "  \$ schakel keys derive --given-names 'Kevin' --surname 'Berg, van der' --birth-date 12-4-1978"
./build/bin/schakel keys derive --given-names 'Kevin' --surname 'Berg, van der' --birth-date 12-4-1978
echo
echo "  \$ schakel keys derive --given-names 'K.' --surname 'v.d. Berg' --birth-date 1978-04-12 --json"
./build/bin/schakel keys derive --given-names 'K.' --surname 'v.d. Berg' --birth-date 1978-04-12 --json
echo
echo "Try it yourself: ./build/bin/schakel keys derive --help"
