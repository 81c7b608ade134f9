#!/usr/bin/env bash
# Issue-14 feasibility probe, end to end: etcd + kube-apiserver (test/e2e/tools/start-cluster.sh),
# then containerd + kubelet (node.sh), then checks that the node registers and becomes Ready, that a
# static pod and an API-created pod (spec.nodeName, there is no scheduler) run, and that a pod IP
# on the CNI bridge answers HTTP from the host. Everything is torn down on exit (trap), pass or fail.
#
#   sudo test/node-probe/probe.sh        # NP_KEEP=1 keeps the work dir (logs) after success
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${MTLS_GUARD_CACHE:-$HOME/.cache/mtls-guard}/node-probe"
T0=$SECONDS
log() { echo "probe: [$((SECONDS - T0))s] $*" >&2; }

BIN=$("$root/scripts/e2e-tools.sh" | tail -n1)
"$here/build.sh" kubelet containerd runc cni >/dev/null
[[ -s $cache/images/pause-3.10.2/pause.tar && -s $cache/images/busybox/busybox.tar ]] ||
  "$here/images.sh" >/dev/null

W=$(mktemp -d /tmp/np-probe.XXXXXX)
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  log "teardown (exit $rc)"
  "$here/node.sh" stop "$W/node"
  "$root/test/e2e/tools/stop-cluster.sh" "$W" >&2
  if [[ $rc -ne 0 ]]; then
    log "FAILED; logs kept in $W"
    tail -n 20 "$W/node/kubelet.log" >&2 2>/dev/null
  elif [[ ${NP_KEEP:-} == 1 ]]; then log "passed; kept $W"; else rm -rf "$W"; log "passed"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "control plane"
KUBECONFIG=$("$root/test/e2e/tools/start-cluster.sh" "$W" "$BIN" | tail -n1)
export KUBECONFIG
kc() { timeout 60 "$BIN/kubectl" "$@"; }

log "node"
"$here/node.sh" start "$W/node" "$KUBECONFIG"
ctr() { "$cache/bin/containerd-$(cd "$here/tools/containerd" && go list -m -f '{{.Version}}' github.com/containerd/containerd/v2)/ctr" --address "$W/node/containerd.sock" -n k8s.io "$@"; }
ctr images import --local "$cache/images/busybox/busybox.tar" >&2

for i in $(seq 1 120); do
  kc get node np-node >/dev/null 2>&1 && break
  [[ $i -lt 120 ]] || { log "node never registered"; exit 1; }
  sleep 1
done
log "node registered"
kc wait --for=condition=Ready node/np-node --timeout=120s >&2
log "node Ready"
kc get node np-node -o wide >&2

# A static pod (from the kubelet's manifest folder) and an API pod bound by nodeName.
cat >"$W/node/manifests/static-web.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: { name: static-web, namespace: default }
spec:
  containers:
    - name: web
      image: probe.local/busybox:1.35
      imagePullPolicy: Never
      command: ["sh", "-c", "mkdir -p /tmp/www && echo static-ok > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"]
      securityContext: { runAsUser: 65534, runAsGroup: 65534, readOnlyRootFilesystem: true }
      volumeMounts: [{ name: tmp, mountPath: /tmp }]
  volumes: [{ name: tmp, emptyDir: {} }]
EOF
kc apply -f - >&2 <<'EOF'
apiVersion: v1
kind: Pod
metadata: { name: api-pod, namespace: default }
spec:
  nodeName: np-node
  automountServiceAccountToken: false
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    seccompProfile: { type: RuntimeDefault }
  containers:
    - name: sleeper
      image: probe.local/busybox:1.35
      imagePullPolicy: Never
      command: ["sh", "-c", "echo api-pod-up; grep Seccomp: /proc/self/status; exec sleep 3600"]
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities: { drop: ["ALL"] }
EOF
kc wait --for=condition=Ready pod/api-pod --timeout=120s >&2
log "api-pod Ready"
# `kubectl logs` needs the API server to reach the kubelet (start-cluster.sh sets neither
# --kubelet-preferred-address-types=InternalIP nor a kubelet client certificate): read the file.
cat "$W"/node/pod-logs/default_api-pod_*/sleeper/0.log >&2
grep -q 'Seccomp:.*2' "$W"/node/pod-logs/default_api-pod_*/sleeper/0.log ||
  { log "RuntimeDefault seccomp not in force in api-pod"; exit 1; }
for i in $(seq 1 120); do
  kc get pod static-web-np-node >/dev/null 2>&1 && break
  [[ $i -lt 120 ]] || { log "mirror pod of static-web never appeared"; exit 1; }
  sleep 1
done
kc wait --for=condition=Ready pod/static-web-np-node --timeout=120s >&2
ip=$(kc get pod static-web-np-node -o jsonpath='{.status.podIP}')
log "static-web Ready at $ip"
kc get pods -o wide >&2
body=$(curl -s --max-time 5 "http://$ip:8080/")
[[ $body == static-ok ]] || { log "pod IP did not answer: '$body'"; exit 1; }
log "pod IP $ip answered from the host: $body"

# The image built from our Dockerfile (test/node-probe/image.sh), if present: run it as the chart
# would (numeric non-root user, read-only root, RuntimeDefault seccomp, all capabilities dropped,
# an emptyDir on /tmp, HTTPS probes) in a namespace that enforces the `restricted` Pod Security
# Standard, and call /readyz on the pod IP from the host.
img="$cache/images/mtls-guard/mtls-guard.tar"
if [[ -s $img ]]; then
  ctr images import --local "$img" >&2
  kc apply -f - >&2 <<'YAML'
apiVersion: v1
kind: Namespace
metadata:
  name: probe-restricted
  labels: { pod-security.kubernetes.io/enforce: restricted, pod-security.kubernetes.io/enforce-version: latest }
---
apiVersion: v1
kind: Pod
metadata: { name: mtls-guard, namespace: probe-restricted }
spec:
  nodeName: np-node
  automountServiceAccountToken: false
  securityContext: { runAsNonRoot: true, seccompProfile: { type: RuntimeDefault } }
  containers:
    - name: mtls-guard
      image: probe.local/mtls-guard:dev
      imagePullPolicy: Never
      args: ["--port=8443", "--metrics-port=9090", "--no-cluster"]
      ports: [{ name: webhook, containerPort: 8443 }, { name: metrics, containerPort: 9090 }]
      readinessProbe: { httpGet: { path: /readyz, port: webhook, scheme: HTTPS }, periodSeconds: 2 }
      livenessProbe: { httpGet: { path: /healthz, port: webhook, scheme: HTTPS }, periodSeconds: 10 }
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities: { drop: ["ALL"] }
      volumeMounts: [{ name: tmp, mountPath: /tmp }]
  volumes: [{ name: tmp, emptyDir: { sizeLimit: 16Mi } }]
YAML
  kc -n probe-restricted wait --for=condition=Ready pod/mtls-guard --timeout=120s >&2 || {
    cat "$W"/node/pod-logs/probe-restricted_mtls-guard_*/mtls-guard/*.log >&2; exit 1; }
  ip=$(kc -n probe-restricted get pod mtls-guard -o jsonpath='{.status.podIP}')
  log "mtls-guard pod Ready at $ip (namespace enforces the restricted Pod Security Standard)"
  curl -sk --max-time 5 "https://$ip:8443/readyz" >&2; echo >&2
  head -c 600 "$W"/node/pod-logs/probe-restricted_mtls-guard_*/mtls-guard/0.log >&2; echo >&2
  # What the pod wrote outside its volumes: the container's overlay upper dir must be empty.
  cid=$(kc -n probe-restricted get pod mtls-guard -o jsonpath='{.status.containerStatuses[0].containerID}')
  cid=${cid#containerd://}
  upper=$(awk -v c="$cid" '$3 == "overlay" && index($2, c) {n=split($4, o, ","); for (i=1;i<=n;i++) if (o[i] ~ /^upperdir=/) print substr(o[i], 10)}' /proc/self/mounts)
  log "written to the root file system (upper dir; runtime-made mount points expected): $(cd "$upper" && find . -mindepth 1 | tr "\n" " ")"
fi
