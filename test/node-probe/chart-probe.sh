#!/usr/bin/env bash
# Issue-14 feasibility probe, the chart part: control plane + kube-controller-manager +
# kube-scheduler + the node (node.sh), then `helm install` of the committed chart (HEAD) with the
# image built from our Dockerfile (image.sh), and a denied create through the API server that
# reaches the webhook pods through the Service (kube-apiserver --enable-aggregator-routing=true:
# it calls the endpoint IP, so no kube-proxy). cluster.enabled=false: pods cannot reach the API
# server yet (it listens on 127.0.0.1 and there is no kube-proxy for the `kubernetes` Service).
# Torn down on exit (trap). NP_KEEP=1 keeps the work dir after success.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${MTLS_GUARD_CACHE:-$HOME/.cache/mtls-guard}/node-probe"
T0=$SECONDS
log() { echo "chart-probe: [$((SECONDS - T0))s] $*" >&2; }

BIN=$("$root/scripts/e2e-tools.sh" | tail -n1)
CONTROL=$("$here/build.sh" control | sed -n 's/^control=//p')
"$here/build.sh" kubelet containerd runc cni >/dev/null
img="$cache/images/mtls-guard/mtls-guard.tar"
[[ -s $img ]] || "$here/image.sh" >/dev/null

W=$(mktemp -d /tmp/np-chart.XXXXXX)
stop_pidfile() {
  local f=$1 pid
  [[ -f $f ]] || return 0
  pid=$(cat "$f"); kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null; rm -f "$f"
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  log "teardown (exit $rc)"
  stop_pidfile "$W/scheduler.pid"; stop_pidfile "$W/controller-manager.pid"
  "$here/node.sh" stop "$W/node"
  "$root/test/e2e/tools/stop-cluster.sh" "$W" >&2
  if [[ $rc -ne 0 ]]; then log "FAILED; logs kept in $W"
  elif [[ ${NP_KEEP:-} == 1 ]]; then log "passed; kept $W"; else rm -rf "$W"; log "passed"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "control plane"
KUBECONFIG=$("$root/test/e2e/tools/start-cluster.sh" "$W" "$BIN" | tail -n1)
export KUBECONFIG KUBECACHEDIR=$W/kube-cache HELM_CACHE_HOME=$W/helm/cache HELM_CONFIG_HOME=$W/helm/config HELM_DATA_HOME=$W/helm/data
kc() { timeout 60 "$BIN/kubectl" "$@"; }
# start-cluster.sh has no way to add flags: restart its kube-apiserver with the same command line
# plus --enable-aggregator-routing=true (same pid file, so stop-cluster.sh still stops it).
pid=$(cat "$W/apiserver.pid")
mapfile -d '' args <"/proc/$pid/cmdline"
kill -TERM "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
"${args[@]}" --enable-aggregator-routing=true </dev/null >>"$W/apiserver.log" 2>&1 &
echo $! >"$W/apiserver.pid"
until kc get --raw=/readyz >/dev/null 2>&1; do sleep 0.5; done
log "kube-apiserver restarted with --enable-aggregator-routing=true"

. "$W/cluster.env"
"$CONTROL/kube-controller-manager" --kubeconfig="$KUBECONFIG" --authentication-kubeconfig="$KUBECONFIG" \
  --authorization-kubeconfig="$KUBECONFIG" --leader-elect=false --bind-address=127.0.0.1 --secure-port=0 \
  --service-account-private-key-file="$PKI_DIR/sa.key" --root-ca-file="$PKI_DIR/ca.crt" \
  --cluster-signing-cert-file="$PKI_DIR/ca.crt" --cluster-signing-key-file="$PKI_DIR/ca.key" \
  --use-service-account-credentials=false --controllers='*,-nodeipam,-cloud-node-lifecycle' \
  </dev/null >"$W/controller-manager.log" 2>&1 &
echo $! >"$W/controller-manager.pid"
"$CONTROL/kube-scheduler" --kubeconfig="$KUBECONFIG" --authentication-kubeconfig="$KUBECONFIG" \
  --authorization-kubeconfig="$KUBECONFIG" --leader-elect=false --bind-address=127.0.0.1 --secure-port=0 \
  </dev/null >"$W/scheduler.log" 2>&1 &
echo $! >"$W/scheduler.pid"

log "node"
"$here/node.sh" start "$W/node" "$KUBECONFIG"
ctrd=$("$here/build.sh" containerd | sed -n 's/^containerd=//p')
"$ctrd/ctr" --address "$W/node/containerd.sock" -n k8s.io images import --local "$img" >&2
kc wait --for=condition=Ready node/np-node --timeout=120s >&2

log "helm install (chart at HEAD)"
git -C "$root" archive HEAD charts/mtls-guard | tar -x -C "$W"
kc create namespace mtls-guard >&2
kc label namespace mtls-guard pod-security.kubernetes.io/enforce=restricted >&2
"$BIN/helm" install mtls-guard "$W/charts/mtls-guard" -n mtls-guard --wait --timeout 180s \
  --set image.repository=probe.local/mtls-guard --set image.tag=dev --set image.pullPolicy=Never \
  --set cluster.enabled=false >&2 || {
    kc -n mtls-guard get all,events >&2; exit 1; }
kc -n mtls-guard get pods,endpointslices -o wide >&2
log "chart installed, pods Ready"

# A PeerAuthentication DISABLE in a mesh namespace is what the default policy denies.
"$BIN/kubectl" apply -f "$BIN/istio-crds.yaml" --server-side >/dev/null
kc wait --for=condition=Established crd/peerauthentications.security.istio.io --timeout=60s >&2
kc create namespace shop >&2
set +e
out=$(kc -n shop apply --dry-run=server -f - 2>&1 <<'YAML'
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: mtls-off }
spec: { selector: { matchLabels: { app: ratings } }, mtls: { mode: DISABLE } }
YAML
)
set -e
log "dry-run create through the API server answered: $out"
[[ $out == *"denied the request"* ]] || { log "expected a denial from the webhook pods"; exit 1; }
