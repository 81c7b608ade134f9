#!/usr/bin/env bash
# Stops the control plane started by start-cluster.sh WORKDIR: kills exactly
# the processes named in WORKDIR/{apiserver,etcd}.pid (after checking each pid
# still runs that binary), waits for them to exit and removes the pid files.
# Leaves logs and data in WORKDIR. Safe to run twice.
#
#   test/e2e/tools/stop-cluster.sh WORKDIR
set -uo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 WORKDIR" >&2
  exit 2
fi
W=$1
rc=0

stop() { # name binary
  local pidfile="$W/$1.pid" pid
  [[ -f "$pidfile" ]] || return 0
  pid=$(cat "$pidfile")
  # Guard against a recycled pid: only signal the binary we started.
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null &&
     [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" == *"$2"* ]]; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "stop-cluster: $1 ($pid) ignored SIGTERM; sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null
      sleep 0.2
    fi
    if kill -0 "$pid" 2>/dev/null; then
      echo "stop-cluster: $1 ($pid) still running" >&2
      rc=1
      return
    fi
  fi
  rm -f "$pidfile"
}

stop apiserver kube-apiserver
stop etcd etcd
exit $rc
