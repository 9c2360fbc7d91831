# Shared by deploy/demo.sh and deploy/loadtest.sh: a federation of a gateway
# and the nodes in ORGS as local processes, each with its state in
# $VAR/<name>/ (its pid file and its log <name>.log). Source it after
# setting:
#   SCRIPT   the script's name, prefixed to its messages ("demo")
#   VAR      the state directory; SHOWN: VAR as messages name it
#   ORGS     the organisations, in port order
#   BASE     the port base: gateway BASE, nodes BASE+11.., local APIs BASE+21..
#   PORT_HINT  what to set for other ports (shown when a port is taken)
# Not meant to run on its own.

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note() { printf '   %s\n' "$*"; }
die() { echo "$SCRIPT: $*" >&2; exit 1; }

org_index() {
  local i
  for i in "${!ORGS[@]}"; do [ "${ORGS[$i]}" = "$1" ] && { echo $((i + 1)); return; }; done
  die "unknown organisation $1"
}
gateway_port() { echo "$BASE"; }
node_port() { echo $((BASE + 10 + $(org_index "$1"))); }
local_port() { echo $((BASE + 20 + $(org_index "$1"))); }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Stops every process of the federation (SIGTERM, SIGKILL after 10 s),
# saying which; returns 1 when none was running.
stop_processes() {
  local dir stopped=1
  for dir in "${ORGS[@]}" gateway; do
    local pidfile="$VAR/$dir/pid"
    if pid_alive "$pidfile"; then
      kill -TERM "$(cat "$pidfile")" 2>/dev/null || true
      for _ in $(seq 1 100); do pid_alive "$pidfile" || break; sleep 0.1; done
      pid_alive "$pidfile" && kill -KILL "$(cat "$pidfile")" 2>/dev/null || true
      echo "$SCRIPT: stopped $dir"
      stopped=0
    fi
    rm -f "$pidfile"
  done
  return "$stopped"
}

# start NAME READY-TEXT PROGRAM ARGS...: starts PROGRAM in the background with
# its log in the state directory, NAME/NAME.log, and waits for READY-TEXT in
# what it logs from now on.
start() {
  local name="$1" ready="$2"; shift 2
  local dir="$VAR/$name" log="$VAR/$name/$name.log"
  if pid_alive "$dir/pid"; then
    note "$name runs already (pid $(cat "$dir/pid"))"
    return
  fi
  touch "$log"
  local offset; offset=$(stat -c %s "$log")
  setsid "$@" </dev/null >>"$log" 2>&1 &
  echo $! >"$dir/pid"
  for _ in $(seq 1 300); do
    if tail -c +"$((offset + 1))" "$log" | grep -q "$ready"; then
      note "$name started (pid $(cat "$dir/pid"), log $SHOWN/$name/$name.log)"
      return
    fi
    pid_alive "$dir/pid" || break
    sleep 0.1
  done
  tail -c +"$((offset + 1))" "$log" | tail -n 20 >&2
  die "$name did not start; its log is $log"
}

# check_port_free PORT WHO: refuses a port another program listens on.
check_port_free() {
  local port="$1" who="$2"
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port ($who) is taken by another program; stop it, or run with $PORT_HINT"
  fi
}
