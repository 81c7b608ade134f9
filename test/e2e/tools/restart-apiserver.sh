#!/usr/bin/env bash
# Restarts the kube-apiserver of a control plane started by start-cluster.sh
# WORKDIR, with the same command line and environment (WORKDIR/apiserver.cmdline
# and apiserver.env, saved by start-cluster.sh). etcd keeps running, so every
# stored object survives; clients see their connections and watches break.
#
#   test/e2e/tools/restart-apiserver.sh WORKDIR [--down-seconds N]
#
# 1. stops the pid in WORKDIR/apiserver.pid (after checking it still runs
#    kube-apiserver): SIGTERM, SIGKILL after 15 s;
# 2. stays down N more seconds (default 0; a whole number or a decimal);
# 3. starts the saved command line again (its log appended to
#    WORKDIR/apiserver.log, in a session of its own so the caller's process
#    group does not own it), writes the new pid file;
# 4. waits (up to 90 s) until /readyz answers ok through WORKDIR/kubeconfig.
# Exits 0 once ready; non-zero with the log tail when it does not come back.
# Progress goes to stderr; the new pid is the last line of stdout.
set -euo pipefail

usage() { echo "usage: $0 WORKDIR [--down-seconds N]" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
W=$(cd "$1" && pwd)
shift
DOWN=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --down-seconds)
      [[ $# -ge 2 && $2 =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "restart-apiserver: --down-seconds needs a number of seconds, got '${2:-}'" >&2; exit 2; }
      DOWN=$2
      shift 2
      ;;
    *) usage ;;
  esac
done
exec 3>&1 1>&2 # stdout only for the new pid

for f in apiserver.cmdline apiserver.env kubeconfig cluster.env; do
  [[ -s "$W/$f" ]] || { echo "restart-apiserver: $W/$f missing: was this cluster started by start-cluster.sh?" >&2; exit 1; }
done
mapfile -d '' -t CMD <"$W/apiserver.cmdline"
mapfile -d '' -t ENVS <"$W/apiserver.env"
BIN=$(sed -n 's/^BIN=//p' "$W/cluster.env")
[[ -x "${CMD[0]}" && -x "$BIN/kubectl" ]] || { echo "restart-apiserver: ${CMD[0]} or $BIN/kubectl not found" >&2; exit 1; }

# --- stop --------------------------------------------------------------------
pidfile="$W/apiserver.pid"
if [[ -s "$pidfile" ]]; then
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null && [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" == *kube-apiserver* ]]; then
    stopping=$SECONDS
    kill -TERM "$pid"
    for _ in $(seq 1 150); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "restart-apiserver: kube-apiserver ($pid) ignored SIGTERM for 15 s; sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    if kill -0 "$pid" 2>/dev/null; then
      echo "restart-apiserver: kube-apiserver ($pid) still running" >&2
      exit 1
    fi
    echo "restart-apiserver: stopped kube-apiserver ($pid) in $((SECONDS - stopping)) s" >&2
  else
    echo "restart-apiserver: pid $pid is not a running kube-apiserver; starting a new one" >&2
  fi
  rm -f "$pidfile"
else
  echo "restart-apiserver: no $pidfile; starting kube-apiserver" >&2
fi
[[ $DOWN == 0 ]] || sleep "$DOWN"

# --- start -------------------------------------------------------------------
echo "--- restart-apiserver $(date -u +%FT%TZ)" >>"$W/apiserver.log"
setsid env -i "${ENVS[@]}" "${CMD[@]}" </dev/null >>"$W/apiserver.log" 2>&1 3>&- &
pid=$!
echo "$pid" >"$pidfile"

start=$SECONDS
until "$BIN/kubectl" --kubeconfig="$W/kubeconfig" --request-timeout=5s get --raw=/readyz >/dev/null 2>&1; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "restart-apiserver: kube-apiserver exited; last log lines:" >&2
    tail -n 30 "$W/apiserver.log" >&2
    rm -f "$pidfile"
    exit 1
  fi
  if ((SECONDS - start > 90)); then
    echo "restart-apiserver: kube-apiserver not ready after 90 s (left running as pid $pid); last log lines:" >&2
    tail -n 30 "$W/apiserver.log" >&2
    exit 1
  fi
  sleep 0.2
done
echo "restart-apiserver: ready again in $((SECONDS - start)) s (pid $pid)" >&2
echo "$pid" >&3
