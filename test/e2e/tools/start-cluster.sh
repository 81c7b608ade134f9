#!/usr/bin/env bash
# Starts a throw-away control plane (etcd + kube-apiserver, no controllers,
# no scheduler, no kubelet) bound to 127.0.0.1, for mtls-guard's e2e tests.
#
#   test/e2e/tools/start-cluster.sh WORKDIR [BIN]
#
# BIN is the tool directory from scripts/e2e-tools.sh (default: $E2E_BIN, or
# run that script). Ports are picked at random unless ETCD_PORT, ETCD_PEER_PORT
# or APISERVER_PORT are set. Writes into WORKDIR:
#   kubeconfig            admin (CN=e2e-admin, O=system:masters), certs embedded
#   cluster.env           APISERVER_URL, ETCD_URL, KUBECONFIG, BIN, PKI_DIR
#   etcd.pid apiserver.pid, etcd.log apiserver.log audit.log
#   apiserver.cmdline     kube-apiserver's exact argv, NUL-separated (like
#                         /proc/PID/cmdline), and apiserver.env its environment
#                         (env -0, mode 600): restart-apiserver.sh reuses both
#   pki/                  ca.{crt,key} (also usable to sign a webhook's serving
#                         cert), apiserver.{crt,key}, admin.{crt,key}, sa.{key,pub},
#                         apiserver-kubelet-client.{crt,key} (the API server's
#                         client certificate towards a kubelet)
# APISERVER_EXTRA_ARGS: extra kube-apiserver flags, separated by spaces, appended
# to its command line (e.g. "--enable-aggregator-routing=true
# --kubelet-preferred-address-types=InternalIP"). kube-apiserver takes the LAST
# value of a single-valued flag, so --bind-address=0.0.0.0 and
# --advertise-address=IP given here replace the defaults below (127.0.0.1); a
# list flag such as --disable-admission-plugins appends instead, hence:
# APISERVER_SERVICE_ACCOUNTS=1: keep the ServiceAccount admission plugin on
# (default: off, so pods in the local suite need no ServiceAccount); with it
# pods get their projected token (the node suite's cluster mode in the pods).
# APISERVER_EXTRA_SANS: more subjectAltName entries for the serving
# certificate, comma-separated in openssl's form (e.g. "IP:10.0.0.1,IP:192.0.2.5":
# the `kubernetes` Service IP and the node IP that pods reach it through).
# Without these two variables nothing changes.
# Prints the kubeconfig path as the last line of stdout once /readyz is ok and
# the default namespace exists. Stop with test/e2e/tools/stop-cluster.sh WORKDIR;
# restart only kube-apiserver with test/e2e/tools/restart-apiserver.sh WORKDIR.
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 WORKDIR [BIN]" >&2
  exit 2
fi
exec 3>&1 1>&2 # stdout only for the final kubeconfig path

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1"
W=$(cd "$1" && pwd)
BIN=${2:-${E2E_BIN:-}}
if [[ -z "$BIN" ]]; then BIN=$("$HERE/../../../scripts/e2e-tools.sh" | tail -n1); fi
for b in etcd kube-apiserver kubectl; do
  [[ -x "$BIN/$b" ]] || { echo "start-cluster: $BIN/$b not found" >&2; exit 1; }
done
command -v openssl >/dev/null || { echo "start-cluster: openssl is required" >&2; exit 1; }
if [[ -e "$W/apiserver.pid" || -e "$W/etcd.pid" ]]; then
  echo "start-cluster: $W already has pid files; run stop-cluster.sh $W first" >&2
  exit 1
fi

port_free() { ! (exec 9<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 30000))
    if port_free "$p"; then echo "$p"; return; fi
  done
  echo "start-cluster: no free port found" >&2; return 1
}
ETCD_PORT=${ETCD_PORT:-$(pick_port)}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-$(pick_port)}
APISERVER_PORT=${APISERVER_PORT:-$(pick_port)}

# --- PKI -------------------------------------------------------------------
PKI="$W/pki"
mkdir -p "$PKI"
(
  cd "$PKI"
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 -subj "/CN=mtls-guard-e2e-ca" \
    -keyout ca.key -out ca.crt 2>/dev/null
  sign() { # name subject [extfile-lines]
    local name=$1 subj=$2 ext=$3
    openssl req -new -newkey rsa:2048 -nodes -sha256 -subj "$subj" \
      -keyout "$name.key" -out "$name.csr" 2>/dev/null
    printf '%b\n' "$ext" >"$name.ext"
    openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days 2 \
      -extfile "$name.ext" -out "$name.crt" 2>/dev/null
    rm -f "$name.csr" "$name.ext"
  }
  sign apiserver "/CN=kube-apiserver" \
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc${APISERVER_EXTRA_SANS:+,$APISERVER_EXTRA_SANS}"
  sign admin "/O=system:masters/CN=e2e-admin" \
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth"
  # kubeadm's apiserver-kubelet-client: the identity kube-apiserver shows a kubelet (logs, exec,
  # port-forward); in system:masters so a kubelet's webhook authorization lets it in.
  sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" \
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth"
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
)

# Log request metadata for everything except the apiserver's own noise.
cat >"$W/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    users: ["system:apiserver"]
  - level: None
    nonResourceURLs: ["/readyz*", "/livez*", "/healthz*", "/version"]
  - level: Metadata
EOF

cleanup_on_error() {
  echo "start-cluster: failed; last log lines:" >&2
  tail -n 30 "$W/etcd.log" "$W/apiserver.log" >&2 2>/dev/null || true
  "$HERE/stop-cluster.sh" "$W" >&2 || true
}
trap cleanup_on_error ERR

# --- etcd ------------------------------------------------------------------
ETCD_URL="http://127.0.0.1:$ETCD_PORT"
"$BIN/etcd" \
  --name=e2e \
  --data-dir="$W/etcd-data" \
  --listen-client-urls="$ETCD_URL" \
  --advertise-client-urls="$ETCD_URL" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="e2e=http://127.0.0.1:$ETCD_PEER_PORT" \
  --unsafe-no-fsync \
  --log-level=warn \
  </dev/null >"$W/etcd.log" 2>&1 3>&- &
echo $! >"$W/etcd.pid"

for i in $(seq 1 100); do
  if ! port_free "$ETCD_PORT"; then break; fi
  kill -0 "$(cat "$W/etcd.pid")" 2>/dev/null || { echo "start-cluster: etcd exited" >&2; false; }
  [[ $i -lt 100 ]] || { echo "start-cluster: etcd did not listen" >&2; false; }
  sleep 0.1
done

# --- kube-apiserver --------------------------------------------------------
APISERVER_URL="https://127.0.0.1:$APISERVER_PORT"
read -r -a EXTRA_ARGS <<<"${APISERVER_EXTRA_ARGS:-}"
# Off by default: the local suite's pods are never run and need no ServiceAccount.
ADMISSION_ARGS=(--disable-admission-plugins=ServiceAccount)
if [[ ${APISERVER_SERVICE_ACCOUNTS:-} == 1 ]]; then ADMISSION_ARGS=(); fi
APISERVER_CMD=(
  "$BIN/kube-apiserver"
  --etcd-servers="$ETCD_URL"
  --bind-address=127.0.0.1
  --advertise-address=127.0.0.1
  --secure-port="$APISERVER_PORT"
  --cert-dir="$W/apiserver-certs"
  --tls-cert-file="$PKI/apiserver.crt"
  --tls-private-key-file="$PKI/apiserver.key"
  --client-ca-file="$PKI/ca.crt"
  --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt"
  --kubelet-client-key="$PKI/apiserver-kubelet-client.key"
  --service-account-key-file="$PKI/sa.pub"
  --service-account-signing-key-file="$PKI/sa.key"
  --service-account-issuer=https://kubernetes.default.svc.cluster.local
  --service-cluster-ip-range=10.0.0.0/24
  --authorization-mode=RBAC
  "${ADMISSION_ARGS[@]}"
  --allow-privileged=true
  --audit-policy-file="$W/audit-policy.yaml"
  --audit-log-path="$W/audit.log"
  "${EXTRA_ARGS[@]}"
)
# Saved for restart-apiserver.sh: the same argv and environment start it again.
printf '%s\0' "${APISERVER_CMD[@]}" >"$W/apiserver.cmdline"
(umask 077 && env -0 >"$W/apiserver.env")
"${APISERVER_CMD[@]}" </dev/null >"$W/apiserver.log" 2>&1 3>&- &
echo $! >"$W/apiserver.pid"

KUBECONFIG="$W/kubeconfig"
kc() { "$BIN/kubectl" --kubeconfig="$KUBECONFIG" "$@"; }
kc config set-cluster e2e --server="$APISERVER_URL" --certificate-authority="$PKI/ca.crt" --embed-certs=true >/dev/null
kc config set-credentials e2e-admin --client-certificate="$PKI/admin.crt" --client-key="$PKI/admin.key" --embed-certs=true >/dev/null
kc config set-context e2e --cluster=e2e --user=e2e-admin >/dev/null
kc config use-context e2e >/dev/null

start=$SECONDS
until kc get --raw=/readyz >/dev/null 2>&1 && kc get namespace default >/dev/null 2>&1; do
  kill -0 "$(cat "$W/apiserver.pid")" 2>/dev/null || { echo "start-cluster: kube-apiserver exited" >&2; false; }
  kill -0 "$(cat "$W/etcd.pid")" 2>/dev/null || { echo "start-cluster: etcd exited" >&2; false; }
  if ((SECONDS - start > 90)); then echo "start-cluster: kube-apiserver not ready after 90s" >&2; false; fi
  sleep 0.5
done
trap - ERR

cat >"$W/cluster.env" <<EOF
APISERVER_URL=$APISERVER_URL
ETCD_URL=$ETCD_URL
KUBECONFIG=$KUBECONFIG
BIN=$BIN
PKI_DIR=$PKI
EOF
echo "start-cluster: ready in $((SECONDS - start))s at $APISERVER_URL (etcd $ETCD_URL)"
echo "$KUBECONFIG" >&3
