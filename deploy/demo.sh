#!/usr/bin/env bash
# The main job: a real Schakel federation on this machine.
#
#   ./deploy/demo.sh          install what is missing, build, set up and start
#                             the federation, load its data, run the demo
#   ./deploy/demo.sh stop     stop the gateway and the nodes
#   ./deploy/demo.sh status   show what runs
#
# A gateway and four partner nodes (politie, gemeente, zorg, riec) run as
# separate processes on loopback, talking mutual TLS with certificates from a
# demo CA. Each node imports 100,000 synthetic signals (SCHAKEL_DEMO_SIGNALS
# to change that) made by a seeded generator (demo/synthetic.h): Dutch names
# with tussenvoegsels, valid BSNs, households sharing addresses, and the
# spelling differences real registrations have. Nothing in it is real data.
#
# Then, each step printed with the command behind it:
#   1. the RIEC analyst runs a family match for a RIEC case;
#   2. the municipality asks the care partner for a contact, and the care
#      partner's privacy officer (FG) approves it;
#   3. the RIEC's auditor checks the exchange log (audit verify, audit stats).
# The federation keeps running afterwards, with instructions to use it.
#
# All state lives under var/demo/ (a folder per organisation, the PKI, and
# the generated source files under var/demo/data/). A second run reuses what
# exists and starts what is not running; `rm -rf var/demo` (after stop)
# starts over. Ports: 7400 (gateway), 7411-7414 (nodes, for the gateway),
# 7421-7424 (nodes, for their users); SCHAKEL_DEMO_PORT_BASE moves them all.
# SCHAKEL_BUILD_DIR builds elsewhere than build/; SCHAKEL_DEMO_SKIP_BUILD=1
# uses the programs already built there (the test suite runs the demo so);
# SCHAKEL_DEMO_DIR keeps the state elsewhere than var/demo/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
umask 077

readonly ROOT="$PWD"
readonly VAR="${SCHAKEL_DEMO_DIR:-$ROOT/var/demo}"
readonly SHOWN="${VAR#"$ROOT"/}"  # as the commands shown name it (relative when inside)
readonly BUILD="${SCHAKEL_BUILD_DIR:-build}"
case "$BUILD" in /*) readonly BIN="$BUILD/bin" ;; *) readonly BIN="$ROOT/$BUILD/bin" ;; esac
readonly ORGS=(politie gemeente zorg riec)
readonly BASE="${SCHAKEL_DEMO_PORT_BASE:-7400}"
readonly SIGNALS="${SCHAKEL_DEMO_SIGNALS:-100000}"

readonly SCRIPT=demo PORT_HINT="SCHAKEL_DEMO_PORT_BASE=8400"
# shellcheck source=deploy/lib.sh
source deploy/lib.sh

# ---- processes

stop_all() { stop_processes || echo "demo: nothing was running"; }

show_status() {
  local dir
  for dir in gateway "${ORGS[@]}"; do
    if pid_alive "$VAR/$dir/pid"; then
      echo "$dir: running (pid $(cat "$VAR/$dir/pid"), log $VAR/$dir/$dir.log)"
    else
      echo "$dir: not running"
    fi
  done
}

# ---- set-up (once)

# With the operator's own commands (docs/operations.md): `schakel init
# gateway`, `schakel init node` per organisation and `schakel partners
# register` of each node's partner.json; each writes its configs with a
# comment per setting.
set_up() {
  mkdir -p "$VAR/pki" "$VAR/data"
  ./deploy/pki.sh "$VAR/pki" ca >/dev/null
  ./deploy/pki.sh "$VAR/pki" org gateway >/dev/null
  for org in "${ORGS[@]}"; do ./deploy/pki.sh "$VAR/pki" org "$org" >/dev/null; done
  note "PKI: a demo CA and a certificate per organisation ($SHOWN/pki)"

  local gateway_public
  gateway_public=$("$BIN/schakel" init gateway --dir "$VAR/gateway" --listen "127.0.0.1:$(gateway_port)" \
    --policy deploy/demo/policy.json --ca "$VAR/pki/ca.pem" --cert "$VAR/pki/gateway.pem" \
    --key "$VAR/pki/gateway.key" | sed -n 's/^signing_public_key: *//p')
  [ -n "$gateway_public" ] || die "schakel init gateway failed"
  local org
  for org in "${ORGS[@]}"; do
    local name domain role=(--advertise "127.0.0.1:$(node_port "$org")")
    case "$org" in
      politie) name="Politie, eenheid Zeeland-West-Brabant"; domain=safety ;;
      gemeente) name="Gemeente Tilburg"; domain=social ;;
      zorg) name="Veilig Thuis en GGZ Midden-Brabant"; domain=care ;;
      riec) name="RIEC Zeeland-West-Brabant"; domain=safety; role=(--ask-only) ;;
    esac
    "$BIN/schakel" init node --org "$org" --domain "$domain" --display-name "$name" \
      --dir "$VAR/$org" --listen "127.0.0.1:$(node_port "$org")" "${role[@]}" \
      --local-listen "127.0.0.1:$(local_port "$org")" \
      --gateway-endpoint "127.0.0.1:$(gateway_port)" --gateway-signing-key "$gateway_public" \
      --ca "$VAR/pki/ca.pem" --cert "$VAR/pki/$org.pem" --key "$VAR/pki/$org.key" >/dev/null
    # The demo's own categories and matchable purposes, instead of the starter.
    cp "deploy/demo/$org/local-policy.json" "$VAR/$org/local-policy.json"
    "$BIN/schakel" partners register "$VAR/$org/partner.json" \
      --directory "$VAR/gateway/directory.json" >/dev/null
  done
  note "keys, configs and the directory: schakel init gateway, init node, partners register ($SHOWN/*/)"
  note "the convenant: 3 purposes (deploy/demo/policy.json)"
}

cli_config() {  # cli_config ORG USER: ORG/cli-USER.json in the state directory
  cat >"$VAR/$1/cli-$2.json" <<EOF
{ "endpoint": "127.0.0.1:$(local_port "$1")", "ca": "../pki/ca.pem",
  "server_name": "localhost", "credential_file": "$2.credential" }
EOF
}

# The demo's people, per organisation: "user role name".
users_of() {
  case "$1" in
    politie) printf '%s\n' "p.devries professional P. de Vries (wijkagent)" "p.auditor auditor FG politie" ;;
    gemeente) printf '%s\n' "g.bakker professional G. Bakker (wijkteam)" "g.smit analyst G. Smit (procesregisseur)" \
                            "g.jansen director G. Jansen (ketenregisseur ZVH)" ;;
    zorg) printf '%s\n' "z.yilmaz professional Z. Yılmaz (Veilig Thuis)" "z.fg approver Z. de Boer (functionaris gegevensbescherming)" ;;
    riec) printf '%s\n' "r.hendriks professional R. Hendriks (casusregisseur)" "r.analist analyst R. Visser (analist)" \
                        "r.directeur director R. Mulder (programmamanager)" "r.auditor auditor R. Kok (privacy officer)" ;;
  esac
}
professional_of() { users_of "$1" | awk '$2 == "professional" { print $1; exit }'; }

schakel_as() {  # schakel_as ORG USER ARGS...: run the CLI as that user
  local org="$1" user="$2"; shift 2
  SCHAKEL_CONFIG="$VAR/$org/cli-$user.json" "$BIN/schakel" "$@"
}

# The arguments as one would type them: those with spaces or ; in quotes.
quoted() {
  local a out=""
  for a in "$@"; do
    case "$a" in *[[:space:]\;\'\"\&\|]*) a="\"$a\"" ;; esac
    out+="${out:+ }$a"
  done
  printf '%s' "$out"
}

# show_and_run ORG USER ARGS...: prints the command, then runs it and shows
# what it printed (at most $SHOW_LINES lines of it, when set).
show_and_run() {
  local org="$1" user="$2"; shift 2
  printf '\n   \033[2m$ SCHAKEL_CONFIG=%s/%s/cli-%s.json schakel %s\033[0m\n' "$SHOWN" "$org" "$user" "$(quoted "$@")"
  local out status=0
  out=$(schakel_as "$org" "$user" "$@" 2>&1) || status=$?
  local lines; lines=$(printf '%s\n' "$out" | wc -l)
  if [ -n "${SHOW_LINES:-}" ] && [ "$lines" -gt "$SHOW_LINES" ]; then
    printf '%s\n' "$out" | head -n "$SHOW_LINES" | sed 's/^/   /'
    note "... ($((lines - SHOW_LINES)) more lines)"
  else
    printf '%s\n' "$out" | sed 's/^/   /'
  fi
  return "$status"
}

create_users() {
  local org="$1" user role name
  [ -f "$VAR/$org/.users" ] && return
  while read -r user role name; do
    # A user of an interrupted earlier run exists already.
    [ -f "$VAR/$org/$user.credential" ] && { cli_config "$org" "$user"; continue; }
    schakel_as "$org" admin users create "$user" --role "$role" --name "$name" \
      --credential-out "$VAR/$org/$user.credential" >/dev/null
    cli_config "$org" "$user"
  done < <(users_of "$org")
  touch "$VAR/$org/.users"
  note "$org: users $(users_of "$org" | awk '{ printf "%s%s (%s)", sep, $1, $2; sep=", " }')"
}

# ---- main

case "${1:-start}" in
  stop) stop_all; exit 0 ;;
  status) show_status; exit 0 ;;
  start) ;;
  -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
  *) echo "usage: ./deploy/demo.sh [start|stop|status]" >&2; exit 2 ;;
esac

say "Installing what is missing and building ($BUILD/)"
if [ "${SCHAKEL_DEMO_SKIP_BUILD:-0}" = 1 ]; then
  note "using the programs in $BIN"
else
  ./deploy/install-deps.sh
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD" -j "${SCHAKEL_JOBS:-2}" --target schakel schakel-node schakel-gateway schakel-demo-data
fi

say "Setting up the federation ($SHOWN/)"
if [ -f "$VAR/.set-up" ]; then
  note "reusing $SHOWN/ (rm -rf $SHOWN after './deploy/demo.sh stop' starts over)"
else
  pid_alive "$VAR/gateway/pid" && die "a gateway of an unfinished set-up runs; ./deploy/demo.sh stop first"
  check_port_free "$(gateway_port)" gateway
  for org in "${ORGS[@]}"; do
    check_port_free "$(node_port "$org")" "$org"
    check_port_free "$(local_port "$org")" "$org, local"
  done
  # Only a folder this script made (or an empty one) is cleared: the marker
  # is the first thing set_up writes.
  if [ -d "$VAR" ] && [ ! -f "$VAR/.schakel-demo" ] && [ -n "$(ls -A "$VAR")" ]; then
    die "$VAR exists, is not empty and is not a demo folder; choose another SCHAKEL_DEMO_DIR"
  fi
  rm -rf "$VAR"
  mkdir -p "$VAR" && touch "$VAR/.schakel-demo"
  set_up
  touch "$VAR/.set-up"
fi

say "Starting the gateway and four nodes (mutual TLS on 127.0.0.1)"
start gateway "schakel-gateway: serving on" \
  "$BIN/schakel-gateway" --config "$VAR/gateway/gateway.json"
for org in "${ORGS[@]}"; do
  start "$org" "listening on" "$BIN/schakel-node" --config "$VAR/$org/node.json"
done
for org in "${ORGS[@]}"; do create_users "$org"; done

say "Loading synthetic data: $SIGNALS signals per organisation"
if [ -f "$VAR/data/.complete" ]; then
  note "reusing $SHOWN/data/"
else
  "$BIN/schakel-demo-data" --out "$VAR/data" --signals "$SIGNALS" | sed 's|^'"$ROOT"'/||; s/^/   /'
  touch "$VAR/data/.complete"
fi
for org in "${ORGS[@]}"; do
  if [ -f "$VAR/$org/.imported" ]; then
    note "$org: imported before"
    continue
  fi
  # Not captured as the other steps are: on a terminal the CLI draws its
  # progress bar on stderr; its report (stdout) is indented.
  user=$(professional_of "$org")
  printf '\n   \033[2m$ SCHAKEL_CONFIG=%s/%s/cli-%s.json schakel signals import %s/data/%s.csv\033[0m\n' \
    "$SHOWN" "$org" "$user" "$SHOWN" "$org"
  schakel_as "$org" "$user" signals import "$VAR/data/$org.csv" > >(sed 's/^/   /') ||
    die "the import at $org failed"
  wait $! 2>/dev/null || true  # the indenting sed has printed everything
  touch "$VAR/$org/.imported"
done
note "waiting until every node's tags are published to the gateway"
for org in politie gemeente zorg; do
  schakel_as "$org" admin node status --wait-published --wait-for 900 >/dev/null ||
    die "$org did not finish publishing its index; see $SHOWN/$org/$org.log"
done
show_and_run zorg admin node status

say "1. A family match for a RIEC case, as the RIEC analyst"
if [ ! -s "$VAR/riec/case-id" ]; then
  case_json=$(schakel_as riec r.directeur cases open --purpose riec-ondermijning \
    --title "Casus bedrijventerrein Vossenberg" \
    --goal "Zicht krijgen op de rol van gezinnen rond een verdachte onderneming" \
    --ground "Meldingen van ondermijning bij twee partners" \
    --ends "$(date -u -d '+90 days' +%Y-%m-%d)" --reference RIEC-2026-017 --json)
  printf '%s\n' "$case_json" | sed -n 's/.*"case_id": *"\([^"]*\)".*/\1/p' | head -n 1 >"$VAR/riec/case-id"
  [ -s "$VAR/riec/case-id" ] || die "the RIEC director could not open a case: $case_json"
  note "the RIEC's programme manager (director) opened case $(cat "$VAR/riec/case-id")"
fi
CASE_ID=$(cat "$VAR/riec/case-id")
show_and_run riec r.analist match --purpose riec-ondermijning --case "$CASE_ID" \
  --subjects "$SHOWN/data/families.csv" || die "the family match failed"
note "The gateway saw only blinded elements and tags; politie and gemeente saw"
note "only blinded elements. The care partner was not asked: the convenant does"
note "not let the RIEC ask it, and its own policy makes no care signal matchable."

say "2. A disclosure, approved by the care partner's privacy officer"
rm -f "$VAR/gemeente/match.json"
show_and_run gemeente g.smit match --purpose verwijsindex-signalering \
  --subjects "$SHOWN/data/families.csv" --save "$SHOWN/gemeente/match.json" ||
  die "the municipality's match failed"
# The first family that hit at zorg (disclose refuses a family without a hit
# there with exit 3; any other failure stops the demo).
disclosure_id=""
for family in $(sed -n '2,$p' "$VAR/data/families.csv" | awk -F, '{ print $10 }' | sort -u); do
  status=0
  out=$(schakel_as gemeente g.smit disclose --match "$SHOWN/gemeente/match.json" --partner zorg \
      --family "$family" --fields contact_name,contact_phone \
      --reason "afstemming hulpverlening aan het gezin" 2>&1) || status=$?
  [ "$status" = 0 ] || [ "$status" = 3 ] || die "disclose failed (exit $status): $out"
  if [ "$status" = 0 ]; then
    disclosure_id=$(printf '%s\n' "$out" | sed -n 's/^disclosure: *//p' | head -n 1)
    printf '\n   \033[2m$ SCHAKEL_CONFIG=%s/gemeente/cli-g.smit.json schakel disclose --match %s/gemeente/match.json --partner zorg --family %s --fields contact_name,contact_phone --reason "afstemming hulpverlening aan het gezin"\033[0m\n' "$SHOWN" "$SHOWN" "$family"
    printf '%s\n' "$out" | sed 's/^/   /'
    break
  fi
done
[ -n "$disclosure_id" ] || die "no family of families.csv hit at zorg; nothing to disclose"
show_and_run zorg z.fg approvals show "$disclosure_id"
SHOW_LINES=2 show_and_run zorg z.fg approvals approve "$disclosure_id" \
  --reason "betrokkenheid bevestigd; alleen contactgegevens"
SHOW_LINES=32 show_and_run gemeente g.smit disclosures show "$disclosure_id" --wait --wait-for 60 \
  --poll-interval 1 || die "the disclosure was not delivered"
note "The payload was sealed to the municipality's node: the gateway relayed"
note "bytes it cannot read, and logged the decision and the payload's hash."

say "3. The compliance check, as the RIEC's privacy officer"
show_and_run riec r.auditor audit verify
show_and_run riec r.auditor audit stats --by purpose

say "The federation is running"
cat <<EOF
   Work with it as any of its users: each has a CLI config in $SHOWN/ORG/.
   For example, the RIEC analyst:

     export SCHAKEL_CONFIG=$VAR/riec/cli-r.analist.json
     $BIN/schakel match --purpose riec-ondermijning --case $CASE_ID --subjects $SHOWN/data/families.csv
     $BIN/schakel --help

   Users: $(for org in "${ORGS[@]}"; do users_of "$org" | awk -v o="$org" '{ printf "%s/%s ", o, $1 }'; done)
   (and admin at each node). Logs: $SHOWN/*/*.log.

   ./deploy/demo.sh status    what runs
   ./deploy/demo.sh stop      stop it; run ./deploy/demo.sh again to start it again
   rm -rf $SHOWN            after stop: start over
EOF
