#!/usr/bin/env bash
# The federation under load (issue 6; docs/performance.md, "Federation under
# load"): a fresh gateway and four nodes on loopback with synthetic data,
# then schakel-load in every mode, then everything stopped again.
#
#   ./deploy/loadtest.sh          build what is missing, set up, load data, run
#                                 single, family and batch, print the figures
#   ./deploy/loadtest.sh stop     stop a federation a run left behind
#
# The federation is set up as deploy/demo.sh sets up its own (the PKI of
# deploy/pki.sh, `schakel init gateway`, `schakel init node`, `schakel
# partners register`), with a load-test convenant written here: three
# purposes (load-single, load-family, load-batch) that the RIEC's analyst may
# ask and politie, gemeente and zorg answer, up to 10,000 subjects per
# exchange, quotas high enough for the run. Each answering node imports
# $SCHAKEL_LOADTEST_SIGNALS synthetic signals (schakel-demo-data); the load
# draws its subjects from the same seeded population, so some of them hit.
# Every process writes its log, and the gateway and nodes serve /metrics so
# schakel-load can split the time spent (log writes, partner calls).
#
# The load, as the RIEC analyst through the RIEC node's local API (the path
# a user's `schakel match` takes):
#   single  $RATE matches/s from $CLIENTS clients for $SECONDS s (open loop)
#   family  $FAMILY_RATE household matches/s for $SECONDS s
#   batch   $BATCHES batches of $SUBJECTS subjects, one after the other, with
#           the same batch's crypto run in-process afterwards (--crypto-baseline)
# Reports go to $VAR/results/{single,family,batch}.json (schakel-load --json)
# and, as tables, to the terminal; a header records the machine, the date,
# the load average and the exact commands.
#
# Settings (environment):
#   SCHAKEL_BUILD_DIR            build tree (default build/); SCHAKEL_LOADTEST_SKIP_BUILD=1
#                                uses the programs already built there
#   SCHAKEL_LOADTEST_DIR         state (default var/loadtest/; cleared at each run)
#   SCHAKEL_LOADTEST_PORT_BASE   ports BASE (gateway), BASE+11.. (nodes), BASE+21..
#                                (local APIs), BASE+30.. (metrics); default 7600
#   SCHAKEL_LOADTEST_SIGNALS     signals per answering node (default 20000)
#   SCHAKEL_LOADTEST_RATE, _CLIENTS, _SECONDS   single mode (default 100, 16, 30)
#   SCHAKEL_LOADTEST_FAMILY_RATE                family mode (default 10)
#   SCHAKEL_LOADTEST_SUBJECTS, _BATCHES         batch mode (default 10000, 1: a node's
#                                               built-in quota is 60,000 elements a day
#                                               per requester and purpose, and a batch
#                                               of 10,000 people sends about 31,600)
#   SCHAKEL_LOADTEST_PARTNER_DEADLINE_MS        the gateway's partner deadline for one
#                                               element (default 5000, the gateway's own;
#                                               it adds 0.5 ms per element, so a batch of
#                                               10,000 people gets about 20.8 s)
#   SCHAKEL_LOADTEST_MODES       which modes, default "single family batch"
#   SCHAKEL_LOADTEST_KEEP=1      leave the federation running afterwards
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
umask 077

readonly ROOT="$PWD"
readonly VAR="${SCHAKEL_LOADTEST_DIR:-$ROOT/var/loadtest}"
readonly BUILD="${SCHAKEL_BUILD_DIR:-build}"
case "$BUILD" in /*) readonly BIN="$BUILD/bin" ;; *) readonly BIN="$ROOT/$BUILD/bin" ;; esac
readonly ORGS=(politie gemeente zorg riec)
readonly ANSWERING=(politie gemeente zorg)
readonly BASE="${SCHAKEL_LOADTEST_PORT_BASE:-7600}"
readonly SIGNALS="${SCHAKEL_LOADTEST_SIGNALS:-20000}"
readonly RATE="${SCHAKEL_LOADTEST_RATE:-100}"
readonly CLIENTS="${SCHAKEL_LOADTEST_CLIENTS:-16}"
readonly SECONDS_EACH="${SCHAKEL_LOADTEST_SECONDS:-30}"
readonly FAMILY_RATE="${SCHAKEL_LOADTEST_FAMILY_RATE:-10}"
readonly SUBJECTS="${SCHAKEL_LOADTEST_SUBJECTS:-10000}"
readonly BATCHES="${SCHAKEL_LOADTEST_BATCHES:-1}"
readonly DEADLINE_MS="${SCHAKEL_LOADTEST_PARTNER_DEADLINE_MS:-5000}"
readonly MODES="${SCHAKEL_LOADTEST_MODES:-single family batch}"
readonly SEED=20261124

readonly SHOWN="${VAR#"$ROOT"/}"
readonly SCRIPT=loadtest PORT_HINT="SCHAKEL_LOADTEST_PORT_BASE=7700"
# shellcheck source=deploy/lib.sh
source deploy/lib.sh

metrics_port() {  # gateway: BASE+30, nodes BASE+31..
  [ "$1" = gateway ] && { echo $((BASE + 30)); return; }
  echo $((BASE + 30 + $(org_index "$1")))
}

stop_all() { stop_processes >/dev/null || true; }

# The load-test convenant: three purposes, RIEC asks, three partners answer.
write_policy() {
  local purposes="" id max
  for id in load-single load-family load-batch; do
    case "$id" in load-single) max=1 ;; load-family) max=25 ;; load-batch) max=10000 ;; esac
    purposes+="${purposes:+,}
    { \"purpose_id\": \"$id\", \"title\": \"Load test ($id)\",
      \"description\": \"Synthetic load on a test federation (deploy/loadtest.sh).\",
      \"lawful_basis\": { \"reference\": \"test\", \"text\": \"Synthetic data only.\" },
      \"valid_from\": \"2025-01-01\", \"valid_until\": \"2029-12-31\",
      \"may_ask\": [ { \"org_id\": \"riec\", \"roles\": [\"analyst\"] } ],
      \"may_answer_org_ids\": [\"politie\", \"gemeente\", \"zorg\"],
      \"case_required\": false,
      \"key_types\": [\"bsn\", \"name_dob\", \"address\"],
      \"max_subjects_per_exchange\": $max,
      \"daily_exchange_quota\": 100000, \"daily_subject_quota\": 100000,
      \"notify_on_hit\": false, \"disclosure_rules\": [],
      \"approval_timeout\": \"1h\", \"disclosure_window\": \"1d\" }"
  done
  cat >"$1" <<EOF
{ "version": "loadtest-1", "title": "Load test convenant (synthetic data)",
  "parties": [ { "org_id": "riec", "name": "RIEC" }, { "org_id": "politie", "name": "Politie" },
               { "org_id": "gemeente", "name": "Gemeente" }, { "org_id": "zorg", "name": "Zorg" } ],
  "purposes": [ $purposes ] }
EOF
}

# The demo's local policy of ORG with the load-test purposes added, every
# category of the organisation matchable under them.
write_local_policy() {
  local org="$1" categories
  categories=$(grep -o '"category": "[^"]*"' "deploy/demo/$org/local-policy.json" |
    sed 's/"category": //' | paste -sd, -)
  sed 's|"purposes": \[|"purposes": [\
    { "purpose_id": "load-single", "matchable_categories": ['"$categories"'] },\
    { "purpose_id": "load-family", "matchable_categories": ['"$categories"'] },\
    { "purpose_id": "load-batch", "matchable_categories": ['"$categories"'] },|' \
    "deploy/demo/$org/local-policy.json" >"$VAR/$org/local-policy.json"
}

set_up() {
  mkdir -p "$VAR/pki" "$VAR/data" "$VAR/results"
  ./deploy/pki.sh "$VAR/pki" ca >/dev/null
  ./deploy/pki.sh "$VAR/pki" org gateway >/dev/null
  local org
  for org in "${ORGS[@]}"; do ./deploy/pki.sh "$VAR/pki" org "$org" >/dev/null; done
  write_policy "$VAR/policy.json"
  local gateway_public
  gateway_public=$("$BIN/schakel" init gateway --dir "$VAR/gateway" --listen "127.0.0.1:$(gateway_port)" \
    --policy "$VAR/policy.json" --ca "$VAR/pki/ca.pem" --cert "$VAR/pki/gateway.pem" \
    --key "$VAR/pki/gateway.key" | sed -n 's/^signing_public_key: *//p')
  [ -n "$gateway_public" ] || die "schakel init gateway failed"
  sed -i -e 's|"partner_deadline_ms": [0-9]*|"partner_deadline_ms": '"$DEADLINE_MS"'|' \
    -e 's|// "metrics": { "listen": "[^"]*" },|"metrics": { "listen": "127.0.0.1:'"$(metrics_port gateway)"'" },|' \
    "$VAR/gateway/gateway.json"
  for org in "${ORGS[@]}"; do
    local domain role=(--advertise "127.0.0.1:$(node_port "$org")")
    case "$org" in
      politie) domain=safety ;; gemeente) domain=social ;; zorg) domain=care ;;
      riec) domain=safety; role=(--ask-only) ;;
    esac
    "$BIN/schakel" init node --org "$org" --domain "$domain" --display-name "$org" \
      --dir "$VAR/$org" --listen "127.0.0.1:$(node_port "$org")" "${role[@]}" \
      --local-listen "127.0.0.1:$(local_port "$org")" \
      --gateway-endpoint "127.0.0.1:$(gateway_port)" --gateway-signing-key "$gateway_public" \
      --ca "$VAR/pki/ca.pem" --cert "$VAR/pki/$org.pem" --key "$VAR/pki/$org.key" >/dev/null
    if [ "$org" = riec ]; then
      cp deploy/demo/riec/local-policy.json "$VAR/riec/local-policy.json"  # asks only
    else
      write_local_policy "$org"
    fi
    sed -i -e 's|"daily_subject_quota": [0-9]*|"daily_subject_quota": 10000000|' \
      -e 's|// "metrics": { "listen": "[^"]*" },|"metrics": { "listen": "127.0.0.1:'"$(metrics_port "$org")"'" },|' \
      "$VAR/$org/node.json"
    "$BIN/schakel" partners register "$VAR/$org/partner.json" \
      --directory "$VAR/gateway/directory.json" >/dev/null
  done
  grep -q '"metrics": { "listen"' "$VAR/gateway/gateway.json" ||
    die "could not switch on the gateway's metrics in $VAR/gateway/gateway.json"
}

cli_config() {  # cli_config ORG USER
  cat >"$VAR/$1/cli-$2.json" <<EOF
{ "endpoint": "127.0.0.1:$(local_port "$1")", "ca": "../pki/ca.pem",
  "server_name": "localhost", "credential_file": "$2.credential" }
EOF
}

schakel_as() {  # schakel_as ORG USER ARGS...
  local org="$1" user="$2"; shift 2
  SCHAKEL_CONFIG="$VAR/$org/cli-$user.json" "$BIN/schakel" "$@"
}

add_user() {  # add_user ORG USER ROLE
  schakel_as "$1" admin users create "$2" --role "$3" --credential-out "$VAR/$1/$2.credential" >/dev/null
  cli_config "$1" "$2"
}

case "${1:-run}" in
  stop) stop_all; echo "loadtest: stopped"; exit 0 ;;
  run) ;;
  -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
  *) echo "usage: ./deploy/loadtest.sh [run|stop]" >&2; exit 2 ;;
esac

say "Programs ($BUILD/)"
if [ "${SCHAKEL_LOADTEST_SKIP_BUILD:-0}" = 1 ]; then
  note "using the programs in $BIN"
else
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD" -j "${SCHAKEL_JOBS:-2}" --target schakel schakel-node schakel-gateway \
    schakel-demo-data schakel-load
fi

say "A fresh federation ($VAR)"
stop_all
if [ -d "$VAR" ] && [ ! -f "$VAR/.schakel-loadtest" ] && [ -n "$(ls -A "$VAR")" ]; then
  die "$VAR exists, is not empty and is not a load-test folder; choose another SCHAKEL_LOADTEST_DIR"
fi
rm -rf "$VAR"
mkdir -p "$VAR" && touch "$VAR/.schakel-loadtest"
check_port_free "$(gateway_port)" gateway
check_port_free "$(metrics_port gateway)" "gateway metrics"
for org in "${ORGS[@]}"; do
  check_port_free "$(node_port "$org")" "$org"; check_port_free "$(local_port "$org")" "$org, local"
  check_port_free "$(metrics_port "$org")" "$org metrics"
done
set_up
start gateway "schakel-gateway: serving on" "$BIN/schakel-gateway" --config "$VAR/gateway/gateway.json"
for org in "${ORGS[@]}"; do
  start "$org" "listening on" "$BIN/schakel-node" --config "$VAR/$org/node.json"
done
[ "${SCHAKEL_LOADTEST_KEEP:-0}" = 1 ] || trap stop_all EXIT
add_user riec r.analist analyst
for org in "${ANSWERING[@]}"; do add_user "$org" importer professional; done

say "Data: $SIGNALS synthetic signals at each of ${ANSWERING[*]}"
"$BIN/schakel-demo-data" --out "$VAR/data" --signals "$SIGNALS" --seed "$SEED" >/dev/null
for org in "${ANSWERING[@]}"; do
  schakel_as "$org" importer signals import "$VAR/data/$org.csv" >/dev/null ||
    die "the import at $org failed"
done
for org in "${ANSWERING[@]}"; do
  schakel_as "$org" admin node status --wait-published --wait-for 900 >/dev/null ||
    die "$org did not finish publishing its index; see $VAR/$org/$org.log"
done
note "imported and published"

METRICS=(--metrics "gateway=127.0.0.1:$(metrics_port gateway)")
for org in "${ORGS[@]}"; do METRICS+=(--metrics "$org=127.0.0.1:$(metrics_port "$org")"); done
COMMON=(--config "$VAR/riec/cli-r.analist.json" --seed "$SEED" --population $((2 * SIGNALS)))

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
       "$(. /etc/os-release && echo "$PRETTY_NAME") (Debian $(cat /etc/debian_version))"
  echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
} | tee "$VAR/results/machine.txt"

# CPU time (user + system) a process of the federation has used, in ms.
cpu_ms() {
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%d", ($14 + $15) * 1000 / hz }' "/proc/$(cat "$VAR/$1/pid")/stat"
}

# run_mode NAME ARGS...: prints the command, runs it, keeps its JSON, and
# shows the CPU each process of the federation spent per acknowledged call
# (a figure the machine's other load disturbs far less than latency).
run_mode() {
  local name="$1"; shift
  say "$name"
  printf '   \033[2m$ schakel-load %s\033[0m\n' "$*"
  echo "schakel-load $*" >>"$VAR/results/commands.txt"
  local status=0 dir
  declare -A before
  for dir in gateway "${ORGS[@]}"; do before[$dir]=$(cpu_ms "$dir"); done
  "$BIN/schakel-load" "$@" --json-out "$VAR/results/$name.json" | sed 's/^/   /' || status=$?
  local ok line="$name: CPU ms per OK call:" total=0
  ok=$(sed -n 's/^  "ok": \([0-9]*\),$/\1/p' "$VAR/results/$name.json")
  if [ "${ok:-0}" -gt 0 ]; then
    for dir in gateway "${ORGS[@]}"; do
      local used=$(( $(cpu_ms "$dir") - ${before[$dir]} ))
      total=$((total + used))
      line+=" $dir $(awk -v u="$used" -v n="$ok" 'BEGIN { printf "%.2f", u / n }')"
    done
    line+="; federation $(awk -v u="$total" -v n="$ok" 'BEGIN { printf "%.2f", u / n }')"
    # Against the crypto alone (the baseline's CPU): a ratio the machine's
    # other load hardly moves, unlike wall times.
    local crypto_cpu
    crypto_cpu=$(sed -n 's/^    "crypto_cpu_ms": \([0-9.e+-]*\),\{0,1\}$/\1/p' "$VAR/results/$name.json")
    if [ -n "$crypto_cpu" ]; then
      line+="; = $(awk -v u="$total" -v n="$ok" -v c="$crypto_cpu" 'BEGIN { printf "%.3f", u / n / c }') x the crypto's CPU alone"
    fi
    echo "   $line" | tee -a "$VAR/results/cpu.txt"
  fi
  echo "   load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  return "$status"
}

failed=0
for mode in $MODES; do
  case "$mode" in
    single) run_mode single single "${COMMON[@]}" --purpose load-single --rate "$RATE" \
              --clients "$CLIENTS" --seconds "$SECONDS_EACH" --crypto-baseline "${METRICS[@]}" || failed=1 ;;
    family) run_mode family family "${COMMON[@]}" --purpose load-family --rate "$FAMILY_RATE" \
              --clients "$CLIENTS" --seconds "$SECONDS_EACH" --crypto-baseline "${METRICS[@]}" || failed=1 ;;
    batch) run_mode batch batch "${COMMON[@]}" --purpose load-batch --subjects "$SUBJECTS" \
             --calls "$BATCHES" --crypto-baseline "${METRICS[@]}" || failed=1 ;;
    *) die "unknown mode $mode (single, family, batch)" ;;
  esac
done

say "Done"
note "reports: $VAR/results/ (machine.txt, commands.txt, single.json, family.json, batch.json)"
note "process logs: $VAR/*/*.log"
[ "${SCHAKEL_LOADTEST_KEEP:-0}" = 1 ] && note "still running: ./deploy/loadtest.sh stop ends it"
exit "$failed"
