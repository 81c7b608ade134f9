#!/usr/bin/env bash
# Starts or stops the mtls-guard server the e2e cluster calls, as a local process on 127.0.0.1
# (there is no kubelet: the chart's Deployment is stored but never runs).
#
#   test/e2e/webhook-server.sh start WORKDIR   # waits until /readyz answers 200
#   test/e2e/webhook-server.sh stop WORKDIR    # SIGTERM, SIGKILL after 15 s; no-op if not running
#
# Reads WORKDIR/e2e.env (written by scripts/e2e.sh): E2E_WEBHOOK_PORT, E2E_METRICS_PORT,
# E2E_POLICY, E2E_TLS_DIR; and E2E_SERVE_ARGS from the caller's environment: extra `serve` flags
# separated by spaces (e.g. "--kubeconfig FILE" for cluster mode). Appends the server's log to
# WORKDIR/mtls-guard.log; the pid is in WORKDIR/mtls-guard.pid.
set -euo pipefail

if [[ $# -ne 2 || ( $1 != start && $1 != stop ) ]]; then
  echo "usage: $0 start|stop WORKDIR" >&2
  exit 2
fi
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
W=$2
PIDFILE="$W/mtls-guard.pid"
LOG="$W/mtls-guard.log"

# The pid file's process, if it is still our server (not a recycled pid).
running_pid() {
  [[ -s $PIDFILE ]] || return 1
  local pid
  pid=$(cat "$PIDFILE")
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'mtls-guard.js serve' || return 1
  echo "$pid"
}

stop() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$PIDFILE"
    return 0
  fi
  kill -TERM "$pid"
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; echo "webhook-server: stopped pid $pid" >&2; return 0; }
    sleep 0.1
  done
  echo "webhook-server: pid $pid still running 15 s after SIGTERM; sending SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
}

start() {
  # shellcheck source=/dev/null
  source "$W/e2e.env"
  if pid=$(running_pid); then
    echo "webhook-server: already running (pid $pid)" >&2
    exit 1
  fi
  local extra=()
  read -r -a extra <<<"${E2E_SERVE_ARGS:-}"
  echo "--- start $(date -u +%FT%TZ) ${E2E_SERVE_ARGS:-}" >>"$LOG"
  # setsid: the server outlives the test process that asked for it; stdio off our pipes so a
  # caller's $(...) or spawnSync returns at once.
  setsid node "$ROOT/bin/mtls-guard.js" serve \
    --config "$E2E_POLICY" \
    --tls-cert "$E2E_TLS_DIR/tls.crt" \
    --tls-key "$E2E_TLS_DIR/tls.key" \
    --host 127.0.0.1 \
    --port "$E2E_WEBHOOK_PORT" \
    --metrics-port "$E2E_METRICS_PORT" \
    --shutdown-grace-seconds 2 \
    "${extra[@]}" \
    </dev/null >>"$LOG" 2>&1 &
  local pid=$!
  echo "$pid" >"$PIDFILE"
  for _ in $(seq 1 200); do
    if curl -sf -o /dev/null "http://127.0.0.1:$E2E_METRICS_PORT/readyz"; then
      echo "webhook-server: ready (pid $pid, https://127.0.0.1:$E2E_WEBHOOK_PORT)" >&2
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "webhook-server: exited during start; last log lines:" >&2
      tail -n 20 "$LOG" >&2
      rm -f "$PIDFILE"
      exit 1
    fi
    sleep 0.1
  done
  echo "webhook-server: not ready after 20 s; last log lines:" >&2
  tail -n 20 "$LOG" >&2
  stop
  exit 1
}

"$1"
