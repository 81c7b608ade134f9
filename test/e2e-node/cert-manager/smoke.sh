#!/usr/bin/env bash
# cert-manager mode of the chart against the REAL cert-manager controllers and cainjector
# (scripts/cert-manager-tools.sh), without a node: a throw-away control plane
# (test/e2e/tools/start-cluster.sh), cert-manager's CRDs, our cert-manager-e2e as two host
# processes, `helm install` with certificates.mode=cert-manager (no pod runs: there is no node).
# Checks, in order:
#   1. both Certificates (the chart's CA and the serving one) become Ready, the serving Secret
#      holds tls.crt/tls.key/ca.crt, and the CA is injected into BOTH webhook configurations
#      (caBundle == the Secret's ca.crt);
#   2. a forced renewal of the serving Certificate (what `cmctl renew` does: an Issuing=True
#      condition set through the status subresource) rotates the Secret: new serial, new key
#      (rotationPolicy: Always), same CA, caBundle unchanged;
#   3. a forced renewal of the CA Certificate, then of the serving one: the serving Secret's
#      ca.crt is the new CA, and cainjector adds it to both caBundles, keeping the old CA
#      (merging, upstream's default) so certificates of either CA are trusted meanwhile.
#
#   test/e2e-node/cert-manager/smoke.sh [WORKDIR]   # default: a new temp dir, removed on success
#
# No root and no node lock needed (no kubelet). Everything it started is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
cd "$ROOT"
T0=$SECONDS
log() { echo "cm-smoke: [$((SECONDS - T0))s] $*" >&2; }

GIVEN_W=${1:-}
W=${1:-$(mktemp -d "${TMPDIR:-/tmp}/mtls-guard-cm-smoke.XXXXXX")}
mkdir -p "$W"
W=$(cd "$W" && pwd)
BIN=$(scripts/e2e-tools.sh | tail -n1)
CMBIN=$(scripts/cert-manager-tools.sh | tail -n1)
NS=cm-smoke
REL=cms
FULL=$REL-mtls-guard
export HELM_CACHE_HOME=$W/helm/cache HELM_CONFIG_HOME=$W/helm/config HELM_DATA_HOME=$W/helm/data KUBECACHEDIR=$W/kube-cache

PIDS=()
cleanup() {
  local status=$?
  set +e
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  test/e2e/tools/stop-cluster.sh "$W" >&2
  if [[ $status -eq 0 && -z $GIVEN_W ]]; then rm -rf "$W"; else log "logs kept in $W"; fi
  [[ $status -eq 0 ]] && log "PASSED in $((SECONDS - T0))s" || log "FAILED (exit $status)"
}
trap cleanup EXIT

log "control plane in $W"
KUBECONFIG=$(test/e2e/tools/start-cluster.sh "$W" "$BIN" | tail -n1)
export KUBECONFIG
kc() { timeout 60 "$BIN/kubectl" "$@"; }

log "cert-manager CRDs"
kc apply --server-side -f "$CMBIN/cert-manager-crds.yaml" >/dev/null
kc wait --for=condition=Established crd --all --timeout=60s >/dev/null

log "cert-manager controller + cainjector (host processes)"
"$CMBIN/cert-manager-e2e" controller --kubeconfig "$KUBECONFIG" >"$W/cm-controller.log" 2>&1 &
PIDS+=($!)
"$CMBIN/cert-manager-e2e" cainjector --kubeconfig "$KUBECONFIG" >"$W/cm-cainjector.log" 2>&1 &
PIDS+=($!)

log "helm install (certificates.mode=cert-manager)"
kc create namespace "$NS" >/dev/null
timeout 180 "$BIN/helm" install "$REL" charts/mtls-guard -n "$NS" --set certificates.mode=cert-manager \
  --set image.repository=example.invalid/mtls-guard --set image.tag=none >/dev/null

# wait_for WHAT SECONDS COMMAND...: polls COMMAND (every 0.5 s) until it succeeds.
wait_for() {
  local what=$1 limit=$2 start=$SECONDS
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS - start >= limit)); then
      log "timed out after ${limit}s waiting for $what"
      kc -n "$NS" get certificates,certificaterequests,issuers,secrets -o wide >&2 || true
      kc -n "$NS" describe certificates >&2 || true
      tail -n 30 "$W/cm-controller.log" "$W/cm-cainjector.log" >&2
      return 1
    fi
    sleep 0.5
  done
  log "$what after $((SECONDS - start))s"
}
ready() { [[ $(kc -n "$NS" get certificate "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]]; }
secret_field() { kc -n "$NS" get secret "$1" -o jsonpath="{.data.${2//./\\.}}"; }
serial() { secret_field "$FULL-tls" tls.crt | base64 -d | openssl x509 -noout -serial; }
cabundle() { kc get "$1" "$2" -o jsonpath='{.webhooks[0].clientConfig.caBundle}'; }
VWC=$(kc get validatingwebhookconfigurations -l "app.kubernetes.io/instance=$REL" -o name)
MWC=$(kc get mutatingwebhookconfigurations -l "app.kubernetes.io/instance=$REL" -o name)
[[ -n $VWC && -n $MWC ]] || { log "webhook configurations of $REL not found"; exit 1; }
injected() { # both caBundles equal the serving Secret's ca.crt
  local ca; ca=$(secret_field "$FULL-tls" ca.crt)
  [[ -n $ca && $(cabundle "${VWC%%/*}" "${VWC#*/}") == "$ca" && $(cabundle "${MWC%%/*}" "${MWC#*/}") == "$ca" ]]
}
# differs OLD COMMAND...: COMMAND prints something non-empty other than OLD.
differs() { local old=$1 now; shift; now=$("$@") && [[ -n $now && $now != "$old" ]]; }
# renew CERTIFICATE: what `cmctl renew` does (cmd/renew: SetCertificateCondition Issuing=True,
# reason ManuallyTriggered, then UpdateStatus), as a JSON patch of the status subresource.
renew() {
  local gen; gen=$(kc -n "$NS" get certificate "$1" -o jsonpath='{.metadata.generation}')
  kc -n "$NS" patch certificate "$1" --subresource=status --type=json -p "[{\"op\":\"add\",\"path\":\"/status/conditions/-\",\"value\":{\"type\":\"Issuing\",\"status\":\"True\",\"reason\":\"ManuallyTriggered\",\"message\":\"Certificate re-issuance manually triggered\",\"lastTransitionTime\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"observedGeneration\":$gen}}]" >/dev/null
}

log "1. issuance and injection"
wait_for "CA Certificate Ready" 120 ready "$FULL-ca"
wait_for "serving Certificate Ready" 120 ready "$FULL-tls"
for k in tls.crt tls.key ca.crt; do [[ -n $(secret_field "$FULL-tls" "$k") ]] || { log "Secret $FULL-tls lacks $k"; exit 1; }; done
wait_for "caBundle injected into both webhook configurations" 60 injected
secret_field "$FULL-tls" tls.crt | base64 -d | openssl x509 -noout -subject -issuer -ext subjectAltName >&2
S1=$(serial); CA1=$(secret_field "$FULL-tls" ca.crt); K1=$(secret_field "$FULL-tls" tls.key)

log "2. forced renewal of the serving Certificate"
renew "$FULL-tls"
wait_for "serving Secret rotated (serial changed)" 120 differs "$S1" serial
wait_for "serving Certificate Ready again" 60 ready "$FULL-tls"
S2=$(serial)
[[ $(secret_field "$FULL-tls" tls.key) != "$K1" ]] || { log "key not rotated (rotationPolicy: Always)"; exit 1; }
[[ $(secret_field "$FULL-tls" ca.crt) == "$CA1" ]] || { log "CA changed on a serving renewal"; exit 1; }
injected || { log "caBundle no longer equals ca.crt"; exit 1; }
log "   $S1 -> $S2, same CA, caBundle unchanged"

log "3. forced renewal of the CA, then of the serving Certificate"
CAS1=$(secret_field "$FULL-ca" tls.crt)
renew "$FULL-ca"
wait_for "CA Secret rotated" 120 differs "$CAS1" secret_field "$FULL-ca" tls.crt
wait_for "CA Certificate Ready again" 60 ready "$FULL-ca"
renew "$FULL-tls"
wait_for "serving Secret carries the new CA" 120 differs "$CA1" secret_field "$FULL-tls" ca.crt
CA2=$(secret_field "$FULL-tls" ca.crt)
# cainjector merges (feature gate CAInjectorMerging, GA and on by default in v1.21): the new CA is
# appended to caBundle and the old one stays until it expires, so a pod still serving a
# certificate of the old CA keeps being trusted until the kubelet updates its files.
bundle_has() { # CA_BASE64: both caBundles hold this CA
  local pem; pem=$(base64 -d <<<"$1")
  [[ $(cabundle "${VWC%%/*}" "${VWC#*/}" | base64 -d) == *"$pem"* && $(cabundle "${MWC%%/*}" "${MWC#*/}" | base64 -d) == *"$pem"* ]]
}
wait_for "new CA injected into both webhook configurations" 60 bundle_has "$CA2"
bundle_has "$CA1" || { log "the old CA left caBundle before it expired"; exit 1; }
n=$(cabundle "${VWC%%/*}" "${VWC#*/}" | base64 -d | grep -c 'BEGIN CERTIFICATE')
[[ $n == 2 ]] || { log "caBundle holds $n certificates, expected 2 (old + new CA)"; exit 1; }
log "   serial $(serial), caBundle = old CA + new CA"
