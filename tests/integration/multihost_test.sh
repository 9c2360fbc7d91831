#!/usr/bin/env bash
# The demo federation with every party on a host of its own: the gateway and
# the nodes of politie, gemeente, zorg and riec each run in their own network
# namespace, and they reach each other only over a virtual Ethernet switch at
# the namespaces' addresses, with mutual TLS and certificates that name those
# addresses (deploy/pki.sh --ip). Nothing listens for the federation on
# 127.0.0.1; only each node's local API does, inside its own namespace, where
# its users' CLI runs (ip netns exec).
#
#   tests/integration/multihost_test.sh [BUILD_DIR]    (default: build)
#
# The network, all of it inside namespaces named smh-<pid>-<random>-*:
#
#   smh-...-switch   bridge br0, and one veth end per host (v-gateway, ...)
#   smh-...-gateway  eth0 10.231.N.1     gateway      :8443
#   smh-...-politie  eth0 10.231.N.11    node         :8443, local API 127.0.0.1:9443
#   smh-...-gemeente eth0 10.231.N.12    node         (same)
#   smh-...-zorg     eth0 10.231.N.13    node         (same)
#   smh-...-riec     eth0 10.231.N.14    node (asks only; not in the directory's endpoints)
#
# (N avoids the routes of the machine, though the namespaces never route
# there). Deleting the namespaces removes every veth and the bridge with
# them; the EXIT trap kills the processes, deletes the namespaces and the
# temporary directory whatever happened (failure, Ctrl-C, SIGTERM).
# Leftovers of a run that was killed (SIGKILL) are removed by the next run.
#
# The configs are written as operators would: `schakel init gateway`,
# `schakel init node` per organisation and `schakel partners register`; the
# demo's convenant and local policies (deploy/demo/) replace the starters.
# No config names another host than the one it reaches (no server_name).
#
# Then what the demo does, on a small data set (SCHAKEL_MH_SIGNALS, default
# 2,000 per node; with fewer no family is known to partners): import at each
# node, wait for publication, the RIEC analyst's family match in a case the
# RIEC director opened (hits at politie or gemeente), and a disclosure from
# zorg to gemeente approved by zorg's privacy officer, its payload delivered. Each step's output is
# checked. Exit 0 when all holds; 77 (skipped) when this machine allows no
# network namespaces (not root, no `ip`, no netns or veth).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build_dir="${1:-$root/build}"
case "$build_dir" in /*) ;; *) build_dir="$PWD/$build_dir" ;; esac
readonly BIN="$build_dir/bin"
readonly ORGS=(politie gemeente zorg riec)
readonly HOSTS=(gateway "${ORGS[@]}")
readonly SIGNALS="${SCHAKEL_MH_SIGNALS:-2000}"
readonly FED_PORT=8443 LOCAL_PORT=9443
PREFIX="smh-$$-$(printf '%04x' $((RANDOM % 65536)))"
readonly PREFIX
readonly SWITCH="$PREFIX-switch"
started=$SECONDS

skip() { echo "multihost_test: skipped: $*"; exit 77; }
say() { printf 'multihost_test: [%3ds] %s\n' $((SECONDS - started)) "$*"; }

# ---- can this machine do it?

[ "$(id -u)" = 0 ] || skip "network namespaces need root (uid is $(id -u))"
command -v ip >/dev/null || skip "the ip command (iproute2) is not installed"
for program in schakel schakel-node schakel-gateway schakel-demo-data; do
  [ -x "$BIN/$program" ] || { echo "multihost_test: $BIN/$program is not built" >&2; exit 1; }
done

ns_of() { echo "$PREFIX-$1"; }

# Every process still in a namespace of ours is one this script started.
kill_in_namespace() {
  local ns="$1" signal="$2" pids
  mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null)
  [ "${#pids[@]}" = 0 ] || kill "-$signal" "${pids[@]}" 2>/dev/null || true
}

delete_namespaces() {  # delete_namespaces PREFIX: its processes, then the namespaces
  local prefix="$1" ns namespaces
  namespaces=$(ip netns list 2>/dev/null | awk -v p="$prefix-" 'index($1, p) == 1 { print $1 }')
  [ -n "$namespaces" ] || return 0
  for ns in $namespaces; do kill_in_namespace "$ns" TERM; done
  for _ in $(seq 1 50); do
    local left=""
    for ns in $namespaces; do left+=$(ip netns pids "$ns" 2>/dev/null); done
    [ -n "$left" ] || break
    sleep 0.1
  done
  for ns in $namespaces; do kill_in_namespace "$ns" KILL; done
  for ns in $namespaces; do ip netns delete "$ns" 2>/dev/null || true; done
}

state=""
cleanup() {
  local status=$?
  set +e
  trap - EXIT INT TERM HUP
  delete_namespaces "$PREFIX"
  [ -z "$state" ] || rm -rf "$state"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Leftovers of runs that were killed outright (their script's pid is gone):
# their processes, namespaces and temporary directory.
for stale in $(ip netns list 2>/dev/null | sed -n 's/^\(smh-\([0-9]*\)-[0-9a-f]*\)-switch\b.*/\2:\1/p'); do
  kill -0 "${stale%%:*}" 2>/dev/null && continue
  delete_namespaces "${stale#*:}"
  rm -rf "${TMPDIR:-/tmp}/${stale#*:}".*
done

ip netns add "$SWITCH" 2>/dev/null || skip "ip netns add fails here (no network namespaces)"
ip netns exec "$SWITCH" true 2>/dev/null || skip "ip netns exec fails here (cannot enter a namespace)"
ip -n "$SWITCH" link add br0 type bridge 2>/dev/null || skip "no bridge devices here"
ip -n "$SWITCH" link set br0 up

# A /24 in 10.231.0.0/16 that the machine's own routes do not name.
routes=$(ip -4 route show)
net=$(( $$ % 256 ))
while grep -q "^10\.231\.$net\." <<<"$routes"; do net=$(( (net + 1) % 256 )); done
readonly SUBNET="10.231.$net"
address_of() {
  case "$1" in
    gateway) echo "$SUBNET.1" ;; politie) echo "$SUBNET.11" ;; gemeente) echo "$SUBNET.12" ;;
    zorg) echo "$SUBNET.13" ;; riec) echo "$SUBNET.14" ;;
  esac
}

for host in "${HOSTS[@]}"; do
  ns=$(ns_of "$host")
  ip netns add "$ns"
  ip -n "$SWITCH" link add "v-$host" type veth peer name eth0 netns "$ns" 2>/dev/null ||
    skip "no veth devices here"
  ip -n "$SWITCH" link set "v-$host" master br0 up
  ip -n "$ns" addr add "$(address_of "$host")/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
done
say "network: ${#HOSTS[@]} namespaces $PREFIX-* on $SUBNET.0/24 behind bridge br0 in $SWITCH"

state="$(mktemp -d "${TMPDIR:-/tmp}/$PREFIX.XXXXXX")"

fail() {  # fail MESSAGE [OUTPUT]: what went wrong, the output and the logs' ends
  echo "multihost_test: FAILED: $1" >&2
  [ -z "${2:-}" ] || printf '%s\n' "$2" | sed 's/^/  | /' >&2
  local host
  for host in "${HOSTS[@]}"; do
    [ -f "$state/$host/$host.log" ] || continue
    echo "  --- last lines of $host's log:" >&2
    tail -n 4 "$state/$host/$host.log" | sed 's/^/  | /' >&2
  done
  exit 1
}

# ---- PKI, keys, configuration

"$root/deploy/pki.sh" "$state/pki" ca >/dev/null
for host in "${HOSTS[@]}"; do
  "$root/deploy/pki.sh" "$state/pki" org "$host" --ip "$(address_of "$host")" >/dev/null
done

# The operators' set-up: `schakel init gateway`, `schakel init node` per
# organisation (its listen address is where the gateway calls it), and
# `schakel partners register` of each partner.json into the gateway's
# directory; then the demo's convenant and local policies over the starters.
setup() {  # setup ARGS...: `schakel ARGS...`, its output kept in setup.log
  "$BIN/schakel" "$@" >>"$state/setup.log" 2>&1 || fail "schakel $* failed" "$(tail -n 20 "$state/setup.log")"
}
setup init gateway --dir "$state/gateway" --listen "$(address_of gateway):$FED_PORT" \
  --ca "$state/pki/ca.pem" --cert "$state/pki/gateway.pem" --key "$state/pki/gateway.key"
gateway_public=$(sed -n 's/^signing_public_key: *//p' "$state/setup.log")
[ -n "$gateway_public" ] || fail "schakel init gateway printed no signing key" "$(cat "$state/setup.log")"
cp "$root/deploy/demo/policy.json" "$state/gateway/policy.json"
for org in "${ORGS[@]}"; do
  case "$org" in politie|riec) domain=safety ;; gemeente) domain=social ;; zorg) domain=care ;; esac
  only_asks=(); [ "$org" != riec ] || only_asks=(--ask-only)
  setup init node --dir "$state/$org" --org "$org" --domain "$domain" "${only_asks[@]}" \
    --display-name "$org (host $(address_of "$org"))" --listen "$(address_of "$org"):$FED_PORT" \
    --local-listen "127.0.0.1:$LOCAL_PORT" \
    --ca "$state/pki/ca.pem" --cert "$state/pki/$org.pem" --key "$state/pki/$org.key" \
    --gateway-endpoint "$(address_of gateway):$FED_PORT" --gateway-signing-key "$gateway_public"
  cp "$root/deploy/demo/$org/local-policy.json" "$state/$org/local-policy.json"
  setup partners register "$state/$org/partner.json" --directory "$state/gateway/directory.json"
done
grep -q '"server_name"' "$state"/*/node.json && fail "a node config names the gateway by another name"

cli_config() {  # cli_config ORG USER: the user's CLI config, for the local API in ORG's namespace
  printf '{ "endpoint": "127.0.0.1:%s", "ca": "../pki/ca.pem", "credential_file": "%s.credential" }\n' \
    "$LOCAL_PORT" "$2" >"$state/$1/cli-$2.json"
}
"$BIN/schakel-demo-data" --out "$state/data" --signals "$SIGNALS" >/dev/null ||
  fail "schakel-demo-data failed"
say "PKI (certificates naming each host's address), schakel init and partners register, $SIGNALS signals per node"

# ---- start

start() {  # start HOST PROGRAM ARGS...: in HOST's namespace, its log in HOST/HOST.log
  local host="$1"; shift
  ip netns exec "$(ns_of "$host")" "$@" </dev/null >"$state/$host/$host.log" 2>&1 &
}
wait_started() {  # wait_started HOST READY-TEXT
  for _ in $(seq 1 200); do
    grep -q "$2" "$state/$1/$1.log" && return
    sleep 0.05
  done
  fail "$1 did not start"
}
start gateway "$BIN/schakel-gateway" --config "$state/gateway/gateway.json"
wait_started gateway "serving on"
for org in "${ORGS[@]}"; do start "$org" "$BIN/schakel-node" --config "$state/$org/node.json"; done
for org in "${ORGS[@]}"; do
  wait_started "$org" "listening on"
  grep -q "^listening on $(address_of "$org"):$FED_PORT\$" "$state/$org/$org.log" ||
    fail "$org does not listen at its host's address" "$(cat "$state/$org/$org.log")"
done
say "gateway and 4 nodes started, each in its own namespace"

as_user() {  # as_user ORG USER ARGS...: the CLI as that user, inside ORG's namespace
  local org="$1" user="$2"; shift 2
  SCHAKEL_CONFIG="$state/$org/cli-$user.json" timeout --foreground -k 5 60 \
    ip netns exec "$(ns_of "$org")" "$BIN/schakel" "$@"
}

# The people of the test: org user role.
readonly PEOPLE="politie p.devries professional
gemeente g.bakker professional
gemeente g.smit analyst
zorg z.yilmaz professional
zorg z.fg approver
riec r.hendriks professional
riec r.analist analyst
riec r.directeur director"
while read -r org user role; do
  out=$(as_user "$org" admin users create "$user" --role "$role" \
        --credential-out "$state/$org/$user.credential" 2>&1) || fail "creating $org/$user" "$out"
  cli_config "$org" "$user"
done <<<"$PEOPLE"
professional_of() { awk -v o="$1" '$1 == o && $3 == "professional" { print $2; exit }' <<<"$PEOPLE"; }

# ---- import and publication

for org in "${ORGS[@]}"; do
  out=$(as_user "$org" "$(professional_of "$org")" signals import "$state/data/$org.csv" 2>&1) ||
    fail "the import at $org failed" "$out"
  grep -qE "stored: +$(sed ':a; s/\B[0-9]\{3\}\>/,&/; ta' <<<"$SIGNALS") signals" <<<"$out" ||
    fail "the import at $org did not store $SIGNALS signals" "$out"
done
for org in politie gemeente zorg; do
  out=$(as_user "$org" admin node status --wait-published --wait-for 45 --poll-interval 0.5 2>&1) ||
    fail "$org did not publish its index to the gateway at $(address_of gateway)" "$out"
done
say "imported at 4 nodes; politie, gemeente and zorg published their index"

# ---- 1. the RIEC analyst's family match in a case of the RIEC director

out=$(as_user riec r.directeur cases open --purpose riec-ondermijning --title "Casus multihost" \
      --goal "Zicht op gezinnen rond een verdachte onderneming" --ground "Meldingen bij twee partners" \
      --ends "$(date -u -d '+30 days' +%Y-%m-%d)" --json 2>&1) || fail "the RIEC director could not open a case" "$out"
case_id=$(sed -n 's/.*"case_id": *"\([^"]*\)".*/\1/p' <<<"$out" | head -n 1)
[ -n "$case_id" ] || fail "no case id in the answer" "$out"
match=$(as_user riec r.analist match --purpose riec-ondermijning --case "$case_id" \
        --subjects "$state/data/families.csv" 2>&1) || fail "the RIEC family match failed" "$match"
# Both partners the purpose lets answer did, over their links; at least one
# of them knows a member of a family; the last family is known to no one.
for partner in politie gemeente; do
  grep -qE "^$partner +[a-z]+ +OK +[0-9]+" <<<"$match" || fail "$partner did not answer the match" "$match"
done
grep -qF "2 partners answered, 0 did not" <<<"$match" || fail "not every partner answered" "$match"
hits=$(awk '$3 == "OK" && ($1 == "politie" || $1 == "gemeente") { n += $4 } END { print n + 0 }' <<<"$match")
[ "$hits" -gt 0 ] || fail "no hit at politie or gemeente" "$match"
grep -qE "^family gezin-[0-9]+: [1-9][0-9]* of [0-9]+ members known" <<<"$match" ||
  fail "no family known to a partner" "$match"
grep -qE "^family gezin-[0-9]+: 0 of [0-9]+ members known" <<<"$match" || fail "no family known to no one" "$match"
say "the RIEC analyst's family match in case $case_id: $hits subjects hit (politie and gemeente together)"

# ---- 2. a disclosure from zorg to gemeente, approved by zorg's FG

out=$(as_user gemeente g.smit match --purpose verwijsindex-signalering --subjects "$state/data/families.csv" \
      --save "$state/gemeente/match.json" 2>&1) || fail "the municipality's match failed" "$out"
grep -qE "^zorg +care +OK +[1-9]" <<<"$out" || fail "no hit at zorg in the municipality's match" "$out"
# The first family that hit at zorg (disclose refuses, exit 3, a family without a hit there).
disclosure_id=""
for family in $(awk -F, 'NR > 1 { print $10 }' "$state/data/families.csv" | sort -u); do
  status=0
  out=$(as_user gemeente g.smit disclose --match "$state/gemeente/match.json" --partner zorg \
        --family "$family" --fields contact_name,contact_phone \
        --reason "afstemming hulpverlening aan het gezin" 2>&1) || status=$?
  [ "$status" = 0 ] || [ "$status" = 3 ] || fail "disclose failed (exit $status)" "$out"
  if [ "$status" = 0 ]; then
    disclosure_id=$(sed -n 's/^disclosure: *//p' <<<"$out" | head -n 1)
    break
  fi
done
[ -n "$disclosure_id" ] || fail "no family hit at zorg; nothing to disclose" "$out"
out=$(as_user zorg z.fg approvals approve "$disclosure_id" --reason "betrokkenheid bevestigd" 2>&1) ||
  fail "zorg's FG could not approve $disclosure_id" "$out"
out=$(as_user gemeente g.smit disclosures show "$disclosure_id" --wait --wait-for 45 --poll-interval 0.5 2>&1) ||
  fail "the disclosure was not delivered" "$out"
for expected in "state:             delivered" "decided by:        z.fg" \
    "fields disclosed:  contact_name, contact_phone"; do
  grep -qF -- "$expected" <<<"$out" || fail "the delivered disclosure lacks \"$expected\"" "$out"
done
disclosed=$(sed -n 's/^signals disclosed: *\([0-9]*\)$/\1/p' <<<"$out")
if [ "${disclosed:-0}" = 0 ] || [ "$(grep -cE '^contact_phone +[+0-9]' <<<"$out")" != "$disclosed" ]; then
  fail "the delivered payload does not show a phone number for each of its signals" "$out"
fi
say "disclosure $disclosure_id ($family): zorg's FG approved; $disclosed signals' contact fields delivered to gemeente"

# ---- the traffic went over the links: the gateway holds connections to the
# nodes' addresses, and each node one to the gateway's.
connections() {  # the established TCP connections in HOST's namespace (IPv4-mapped written as IPv4)
  ip netns exec "$(ns_of "$1")" ss -Htn state established 2>/dev/null | sed 's/\[::ffff:\([0-9.]*\)\]/\1/g'
}
gateway_connections=$(connections gateway)
for org in politie gemeente zorg; do
  grep -qF "$(address_of "$org"):$FED_PORT" <<<"$gateway_connections" ||
    fail "the gateway has no connection to $org's node at $(address_of "$org"):$FED_PORT" "$gateway_connections"
  node_connections=$(connections "$org")
  grep -qF "$(address_of gateway):$FED_PORT" <<<"$node_connections" ||
    fail "$org has no connection to the gateway at $(address_of gateway):$FED_PORT" "$node_connections"
done
say "passed: the federation ran over $SUBNET.0/24 with mutual TLS, in $((SECONDS - started)) s"
