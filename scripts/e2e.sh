#!/usr/bin/env bash
# End-to-end tests against a real kube-apiserver: `npm run e2e`.
#
# 1. builds (or reuses) the pinned tool chain: scripts/e2e-tools.sh (cold: ~6 min, then cached);
# 2. builds dist/ (npm run build);
# 3. starts etcd + kube-apiserver on 127.0.0.1 in a temp work dir (test/e2e/tools/start-cluster.sh);
# 4. makes the webhook's CA and serving certificate (mtls-guard certs --ip 127.0.0.1) and starts
#    `mtls-guard serve` as a local process (test/e2e/webhook-server.sh): there is no kubelet, so
#    the chart's Deployment is stored but never runs;
# 5. installs the Istio CRDs, a stand-in OpenShift DeploymentConfig CRD, the wgpolicyk8s.io
#    PolicyReport CRDs (test/e2e/tools/policyreport-crds.sh: Kyverno's pinned module, cached), and
#    the Helm chart with webhook.url=https://127.0.0.1:PORT and webhook.caBundle;
# 6. waits until both webhooks answer through the API server, runs test/e2e/*.e2e.ts (node:test,
#    one file at a time: they share the cluster and the server);
# 7. always stops the server, the API server and etcd (trap), also on failure or Ctrl-C.
#
# Environment: E2E_KEEP=1 keeps the work dir after a successful run (it is always kept, and its
# path printed, after a failure); E2E_TEST_TIMEOUT (seconds, default 900) bounds the scenarios;
# extra arguments are passed to `node --test` (e.g. --test-name-pattern=audit);
# E2E_FILES="test/e2e/03-*.e2e.ts" runs a subset.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
T0=$SECONDS
log() { echo "e2e: [$((SECONDS - T0))s] $*" >&2; }

RELEASE=mtls-guard
RELEASE_NS=mtls-guard

log "tool chain (scripts/e2e-tools.sh; the first build takes several minutes)"
BIN=$(scripts/e2e-tools.sh | tail -n1)
[[ -x "$BIN/kubectl" && -x "$BIN/helm" ]] || { echo "e2e: tool chain incomplete in '$BIN'" >&2; exit 1; }

log "npm run build"
npm run build --silent

W=$(mktemp -d "${TMPDIR:-/tmp}/mtls-guard-e2e.XXXXXX")
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  set +e
  log "teardown"
  # The scenarios, if still running (interrupted): timeout passes the signal on to node --test.
  if [[ -n ${TESTS_PID:-} ]] && kill -0 "$TESTS_PID" 2>/dev/null; then
    kill -TERM "$TESTS_PID"
    wait "$TESTS_PID"
  fi
  bash test/e2e/webhook-server.sh stop "$W"
  test/e2e/tools/stop-cluster.sh "$W" >&2
  if [[ $status -ne 0 ]]; then
    echo "e2e: FAILED (exit $status) after $((SECONDS - T0))s; logs kept in $W" >&2
    [[ -f $W/mtls-guard.log ]] && { echo "--- last lines of $W/mtls-guard.log" >&2; tail -n 15 "$W/mtls-guard.log" >&2; }
    echo "e2e: also see $W/apiserver.log and $W/audit.log" >&2
  elif [[ ${E2E_KEEP:-} == 1 ]]; then
    echo "e2e: passed in $((SECONDS - T0))s; work dir kept: $W" >&2
  else
    rm -rf "$W"
    echo "e2e: passed in $((SECONDS - T0))s" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# kubectl's discovery cache and helm's folders belong to this throw-away cluster: keep them in $W.
export KUBECACHEDIR=$W/kube-cache HELM_CACHE_HOME=$W/helm/cache HELM_CONFIG_HOME=$W/helm/config HELM_DATA_HOME=$W/helm/data

log "control plane in $W"
KUBECONFIG=$(test/e2e/tools/start-cluster.sh "$W" "$BIN" | tail -n1)
export KUBECONFIG
kc() { timeout 60 "$BIN/kubectl" "$@"; }

port_free() { ! (exec 9<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 30000))
    if port_free "$p" && [[ $p != "${1:-}" ]]; then echo "$p"; return; fi
  done
  echo "e2e: no free port found" >&2
  return 1
}
WEBHOOK_PORT=$(pick_port)
METRICS_PORT=$(pick_port "$WEBHOOK_PORT")

log "webhook certificates (mtls-guard certs)"
node bin/mtls-guard.js certs --service "$RELEASE" --namespace "$RELEASE_NS" --out "$W/certs" \
  --ip 127.0.0.1 --dns localhost >"$W/certs.txt"
# Serve them through a Kubernetes-style `..data` symlink, the way a mounted Secret looks, so a
# rotation can swap both files at once.
mkdir -p "$W/tls/..initial"
cp "$W/certs/tls.crt" "$W/certs/tls.key" "$W/tls/..initial/"
ln -s ..initial "$W/tls/..data"
ln -s ..data/tls.crt "$W/tls/tls.crt"
ln -s ..data/tls.key "$W/tls/tls.key"
cp examples/policy.yaml "$W/policy.yaml"

cat >"$W/e2e.env" <<ENV
E2E_ROOT=$ROOT
E2E_WORK=$W
E2E_BIN=$BIN
KUBECONFIG=$KUBECONFIG
E2E_WEBHOOK_PORT=$WEBHOOK_PORT
E2E_METRICS_PORT=$METRICS_PORT
E2E_POLICY=$W/policy.yaml
E2E_BASE_POLICY=$ROOT/examples/policy.yaml
E2E_TLS_DIR=$W/tls
E2E_CERTS_DIR=$W/certs
E2E_AUDIT_LOG=$W/audit.log
E2E_RELEASE=$RELEASE
E2E_RELEASE_NAMESPACE=$RELEASE_NS
E2E_HELM_VALUES=$W/helm-values.yaml
KUBECACHEDIR=$W/kube-cache
HELM_CACHE_HOME=$W/helm/cache
HELM_CONFIG_HOME=$W/helm/config
HELM_DATA_HOME=$W/helm/data
ENV
set -a
# shellcheck source=/dev/null
source "$W/e2e.env"
set +a

log "mtls-guard serve on https://127.0.0.1:$WEBHOOK_PORT (metrics :$METRICS_PORT)"
bash test/e2e/webhook-server.sh start "$W"

log "CRDs: Istio (istio.io/api, pinned), a stand-in OpenShift DeploymentConfig, wgpolicyk8s.io PolicyReports (kyverno module, pinned)"
kc apply -f "$BIN/istio-crds.yaml" >/dev/null
kc apply -f test/e2e/manifests/deploymentconfig-crd.yaml >/dev/null
POLICYREPORT_CRDS=$(bash test/e2e/tools/policyreport-crds.sh | tail -n 1)
kc apply --server-side -f "$POLICYREPORT_CRDS/policyreport-crds.yaml" >/dev/null
kc wait --for=condition=Established crd --all --timeout=60s >/dev/null

log "helm install $RELEASE charts/mtls-guard (webhook.url=https://127.0.0.1:$WEBHOOK_PORT)"
kc create namespace "$RELEASE_NS" >/dev/null
kc -n "$RELEASE_NS" create secret tls "$RELEASE-tls" --cert="$W/certs/tls.crt" --key="$W/certs/tls.key" >/dev/null
{
  echo "webhook:"
  echo "  url: https://127.0.0.1:$WEBHOOK_PORT"
  echo "  caBundle: $(base64 -w0 <"$W/certs/ca.crt")"
  echo "# The policy the local server runs, so the ConfigMap shows what is in force."
  echo "policy:"
  sed 's/^/  /' examples/policy.yaml
} >"$W/helm-values.yaml"
timeout 120 "$BIN/helm" install "$RELEASE" charts/mtls-guard --namespace "$RELEASE_NS" \
  -f "$W/helm-values.yaml" --timeout 60s >"$W/helm-install.txt"

log "waiting until both webhooks answer through the API server"
kc create namespace e2e-probe >/dev/null
probe_ok() {
  local out
  out=$(kc -n e2e-probe create --dry-run=server -f - 2>&1 <<'YAML' || true
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: probe}
spec: {mtls: {mode: DISABLE}}
YAML
)
  [[ $out == *'admission webhook "validate.mtls-guard.io" denied the request'* ]] || return 1
  out=$(kc -n e2e-probe create --dry-run=server -o jsonpath='{.spec.template.metadata.annotations}' -f - 2>&1 <<'YAML' || true
apiVersion: apps/v1
kind: Deployment
metadata: {name: probe}
spec:
  selector: {matchLabels: {app: probe}}
  template:
    metadata: {labels: {app: probe}}
    spec: {containers: [{name: probe, image: probe}]}
YAML
)
  [[ $out == *'sidecar.istio.io/rewriteAppHTTPProbers'* ]]
}
for i in $(seq 1 60); do
  probe_ok && break
  [[ $i -lt 60 ]] || { echo "e2e: webhooks did not answer within 30 s" >&2; exit 1; }
  sleep 0.5
done

log "scenarios"
# shellcheck disable=SC2206
FILES=(${E2E_FILES:-test/e2e/*.e2e.ts})
# In the background and waited for, so Ctrl-C or SIGTERM reaches the trap at once (timeout runs
# the tests in a process group of their own, which a terminal's Ctrl-C does not reach).
timeout --kill-after=30 "${E2E_TEST_TIMEOUT:-900}" \
  node --import tsx --test --test-concurrency=1 --test-timeout=180000 --test-reporter=spec "$@" "${FILES[@]}" &
TESTS_PID=$!
wait "$TESTS_PID"
