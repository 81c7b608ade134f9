#!/usr/bin/env bash
# The chart's pods on a real node: `npm run e2e:node` (run as root). See test/e2e-node/README.md.
#
#   scripts/e2e-node.sh [node --test args...]   # up, test/e2e-node/*.e2e.ts, down (trap)
#   scripts/e2e-node.sh up WORKDIR              # start everything, write WORKDIR/e2e-node.env
#   scripts/e2e-node.sh test WORKDIR [FILE...]  # run scenario files against a node that is up
#   scripts/e2e-node.sh down WORKDIR            # complete teardown (idempotent)
#
# Up: the tool chains (scripts/e2e-tools.sh, scripts/node-tools.sh; cached), the image from OUR
# Dockerfile (test/e2e-node/tools/image.sh: BuildKit, debootstrap + Node.js base images), etcd +
# kube-apiserver (test/e2e/tools/start-cluster.sh, with --enable-aggregator-routing=true so the
# API server calls webhook endpoints directly; reachable by pods at the node IP with their
# ServiceAccount token, for cluster mode), kube-controller-manager + kube-scheduler (host
# processes), the node (test/e2e-node/tools/node.sh: containerd + runc + CNI bridge + kubelet),
# the image imported into containerd, kube-proxy (iptables mode: the `kubernetes` Service IP
# reaches the API server), the Istio CRDs and the stand-in DeploymentConfig CRD. Down: every
# process, mount, netns, bridge, iptables rule and cgroup that up made, then a check that none is
# left (listed, and a failure, if one is).
#
# Only ONE node may run on this machine: the whole run holds `flock /tmp/mtls-guard-node.lock`.
# `up` takes it too (a holder process that `down` ends) unless a parent process already holds it
# (e.g. `flock /tmp/mtls-guard-node.lock bash -c 'scripts/e2e-node.sh up W; ...; scripts/e2e-node.sh down W'`).
#
# Environment: E2E_NODE_FILES="test/e2e-node/01-*.e2e.ts" runs a subset; E2E_TEST_TIMEOUT (s,
# default 1200) bounds the scenarios; E2E_KEEP=1 keeps the work dir after success (always kept,
# with its path printed, after a failure); E2E_NODE_LOCK_WAIT (s, default 3600) bounds the wait
# for the node lock.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh # MTLS_GUARD_CACHE
T0=$SECONDS
log() { echo "e2e-node: [$((SECONDS - T0))s] $*" >&2; }
LOCK=/tmp/mtls-guard-node.lock
IMAGE_REF=mtls-guard.local/mtls-guard:e2e
NODE_NAME=mtls-guard-node
NODE_BRIDGE=mgnode0
# POD_CIDR: node.sh's CNI range; SERVICE_IP: the `kubernetes` Service in start-cluster.sh's
# --service-cluster-ip-range=10.0.0.0/24.
POD_CIDR=10.88.0.0/24
SERVICE_IP=10.0.0.1
NODE_POD_CIDR=$POD_CIDR
export NODE_NAME NODE_BRIDGE NODE_POD_CIDR

[[ $(id -u) == 0 ]] || { echo "e2e-node: must run as root (containerd, kubelet, mounts, iptables)" >&2; exit 1; }

# --- the node lock ------------------------------------------------------------------------------
# True when this process or one of its ancestors holds the flock on $LOCK (from /proc/locks).
lock_held_by_us() {
  [[ -e $LOCK ]] || return 1
  local ino holders p
  ino=$(stat -c %i "$LOCK")
  holders=" $(awk -v ino=":$ino" '$2 == "FLOCK" && substr($6, length($6) - length(ino) + 1) == ino {print $5}' /proc/locks | tr '\n' ' ')"
  p=$$
  while [[ -n $p && $p != 0 && $p != 1 ]]; do
    [[ $holders == *" $p "* ]] && return 0
    p=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null) || return 1
  done
  return 1
}

# Run mode: hold the lock on fd 8 for the life of this process.
take_lock_here() {
  lock_held_by_us && return 0
  exec 8>"$LOCK"
  log "waiting for the node lock $LOCK"
  flock -w "${E2E_NODE_LOCK_WAIT:-3600}" 8 || { echo "e2e-node: another node holds $LOCK" >&2; exit 1; }
}

# Up mode: a holder process keeps the lock until `down` ends it.
take_lock_holder() {
  lock_held_by_us && return 0
  log "waiting for the node lock $LOCK"
  (
    exec 8>"$LOCK"
    flock -w "${E2E_NODE_LOCK_WAIT:-3600}" 8 || exit 1
    echo locked >"$W/lock-holder.state"
    exec sleep infinity
  ) </dev/null >/dev/null 2>&1 &
  echo $! >"$W/lock-holder.pid"
  while [[ ! -f $W/lock-holder.state ]]; do
    kill -0 "$(cat "$W/lock-holder.pid")" 2>/dev/null || { echo "e2e-node: another node holds $LOCK" >&2; exit 1; }
    sleep 0.2
  done
}

stop_pidfile() { # file binary-substring
  local f=$1 pid
  [[ -f $f ]] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null && [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" == *"$2"* ]]; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$f"
}

# --- up -----------------------------------------------------------------------------------------
up() {
  mkdir -p "$W"
  W=$(cd "$W" && pwd)
  [[ ! -e $W/e2e-node.env ]] || { echo "e2e-node: $W is already up (run: $0 down $W)" >&2; exit 1; }
  [[ $MODE == up ]] && take_lock_holder
  trap 'log "up failed; tearing down (logs stay in $W)"; KEEP=1 down' ERR

  log "tool chains (scripts/e2e-tools.sh, scripts/node-tools.sh, scripts/cert-manager-tools.sh; first run builds them, ~15-25 min)"
  BIN=$(scripts/e2e-tools.sh | tail -n1)
  NODE_BIN=$(scripts/node-tools.sh | tail -n1)
  echo "$NODE_BIN" >"$W/node-bin"
  # Built here, not in the scenario's before(): a cold build (~5 min) must not count against the
  # scenarios' timeout.
  CM_BIN=$(scripts/cert-manager-tools.sh | tail -n1)

  log "image from ./Dockerfile (BuildKit; cold ~3 min, unchanged source ~12 s, changed ~1-2 min)"
  # Into the cache, not the work dir: 145 MB less to write and delete per run (the node lock
  # makes the file ours while it is imported).
  IMAGE_TAR="$MTLS_GUARD_CACHE/images/mtls-guard-e2e/mtls-guard.tar"
  test/e2e-node/tools/image.sh "$NODE_BIN" "$IMAGE_TAR" "$IMAGE_REF" >/dev/null

  export KUBECACHEDIR=$W/kube-cache HELM_CACHE_HOME=$W/helm/cache HELM_CONFIG_HOME=$W/helm/config HELM_DATA_HOME=$W/helm/data
  # The node's InternalIP, as node.sh picks it (the first global IPv4 address: the kubelet refuses
  # loopback); exported so node.sh uses the same one.
  NODE_IP=${NODE_IP:-$(ip -4 -o addr show scope global | awk '{sub(/\/.*/, "", $4); print $4; exit}')}
  [[ -n $NODE_IP ]] || { echo "e2e-node: no global IPv4 address for the node" >&2; exit 1; }
  export NODE_IP
  log "control plane (etcd + kube-apiserver) in $W"
  # aggregator routing: the API server calls webhooks at an endpoint IP of their Service (it does
  # not go through kube-proxy's rules); InternalIP: kubectl logs/exec reach the kubelet at the node
  # IP (no DNS for the node name).
  # Cluster mode in the pods (the chart's default): pods reach the API server through the
  # `kubernetes` Service (10.0.0.1:443, kube-proxy's DNAT to the advertised NODE_IP:port) with
  # their projected ServiceAccount token. So: the ServiceAccount admission plugin on (it mounts the
  # token), 10.0.0.1 and NODE_IP in the serving certificate, advertised at NODE_IP (the Endpoints
  # of `kubernetes`) and bound to 0.0.0.0, because every other client (kubeconfig, benches) keeps
  # using 127.0.0.1 and kube-apiserver binds one address. 0.0.0.0 is acceptable here: this sandbox
  # takes no inbound connections from outside, every request still needs a client certificate or
  # a token (RBAC; anonymous requests get only the public health and version paths), and only the
  # node suite does it (start-cluster.sh's defaults stay 127.0.0.1 for `npm run e2e`).
  KUBECONFIG=$(APISERVER_SERVICE_ACCOUNTS=1 APISERVER_EXTRA_SANS="IP:$SERVICE_IP,IP:$NODE_IP" \
    APISERVER_EXTRA_ARGS="--enable-aggregator-routing=true --kubelet-preferred-address-types=InternalIP --bind-address=0.0.0.0 --advertise-address=$NODE_IP" \
    test/e2e/tools/start-cluster.sh "$W" "$BIN" | tail -n1)
  export KUBECONFIG
  # shellcheck source=/dev/null
  . "$W/cluster.env"

  log "kube-controller-manager + kube-scheduler"
  # No nodeipam (the CNI config holds the pod range), no cloud controllers.
  "$NODE_BIN/kube-controller-manager" --kubeconfig="$KUBECONFIG" --authentication-kubeconfig="$KUBECONFIG" \
    --authorization-kubeconfig="$KUBECONFIG" --leader-elect=false --bind-address=127.0.0.1 --secure-port=0 \
    --service-account-private-key-file="$PKI_DIR/sa.key" --root-ca-file="$PKI_DIR/ca.crt" \
    --cluster-signing-cert-file="$PKI_DIR/ca.crt" --cluster-signing-key-file="$PKI_DIR/ca.key" \
    --use-service-account-credentials=false --controllers='*,-nodeipam,-cloud-node-lifecycle' \
    </dev/null >"$W/controller-manager.log" 2>&1 &
  echo $! >"$W/controller-manager.pid"
  "$NODE_BIN/kube-scheduler" --kubeconfig="$KUBECONFIG" --authentication-kubeconfig="$KUBECONFIG" \
    --authorization-kubeconfig="$KUBECONFIG" --leader-elect=false --bind-address=127.0.0.1 --secure-port=0 \
    </dev/null >"$W/scheduler.log" 2>&1 &
  echo $! >"$W/scheduler.pid"

  log "node $NODE_NAME (containerd + runc + CNI bridge $NODE_BRIDGE + kubelet)"
  test/e2e-node/tools/node.sh start "$NODE_BIN" "$W/node" "$KUBECONFIG" "$PKI_DIR/ca.crt"
  "$NODE_BIN/ctr" --address "$W/node/containerd.sock" -n k8s.io images import --local "$IMAGE_TAR" >"$W/image-import.txt" 2>&1
  kc() { timeout 120 "$BIN/kubectl" "$@"; }
  kc wait --for=condition=Ready "node/$NODE_NAME" --timeout=120s >/dev/null
  local node_ip
  node_ip=$(kc get node "$NODE_NAME" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
  [[ $node_ip == "$NODE_IP" ]] || { echo "e2e-node: the node's InternalIP is $node_ip, the API server advertises $NODE_IP" >&2; false; }
  start_kube_proxy

  log "CRDs: Istio (istio.io/api, pinned) and a stand-in OpenShift DeploymentConfig"
  kc apply --server-side -f "$BIN/istio-crds.yaml" >/dev/null
  kc apply -f test/e2e/manifests/deploymentconfig-crd.yaml >/dev/null
  kc wait --for=condition=Established crd --all --timeout=60s >/dev/null

  cat >"$W/e2e-node.env.tmp" <<ENV
E2E_ROOT=$ROOT
E2E_WORK=$W
E2E_BIN=$BIN
KUBECONFIG=$KUBECONFIG
E2E_NODE_BIN=$NODE_BIN
E2E_CERT_MANAGER_BIN=$CM_BIN
E2E_IMAGE=$IMAGE_REF
E2E_IMAGE_REPOSITORY=${IMAGE_REF%:*}
E2E_IMAGE_TAG=${IMAGE_REF##*:}
E2E_NODE_IP=$node_ip
E2E_NODE_NAME=$NODE_NAME
E2E_NODE_WORK=$W/node
E2E_CONTAINERD_SOCK=$W/node/containerd.sock
E2E_PKI_DIR=$PKI_DIR
E2E_APISERVER_URL=$APISERVER_URL
KUBECACHEDIR=$W/kube-cache
HELM_CACHE_HOME=$W/helm/cache
HELM_CONFIG_HOME=$W/helm/config
HELM_DATA_HOME=$W/helm/data
ENV
  mv "$W/e2e-node.env.tmp" "$W/e2e-node.env"
  trap - ERR
  log "up: node $NODE_NAME Ready at $node_ip; env in $W/e2e-node.env"
}

# kube-proxy (iptables mode) for the node: the rules that route Service IPs, so pods reach the
# API server at the `kubernetes` Service (10.0.0.1:443). A host process with the admin kubeconfig.
# For this sandbox: conntrack maxPerCore/min 0 and the TCP timeouts 0s (kube-proxy then leaves the
# nf_conntrack sysctls alone), localhostNodePorts false (no route_localnet sysctl), health and
# metrics on 127.0.0.1, NodePorts on the node IP only; bindAddress is only kube-proxy's idea of
# the node IP (no socket is bound there). Returns once the `kubernetes` Service's rule is in the
# nat table.
start_kube_proxy() {
  log "kube-proxy (iptables mode) for Service IPs"
  cat >"$W/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $KUBECONFIG
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
mode: iptables
clusterCIDR: $POD_CIDR
nodePortAddresses: [primary]
iptables:
  localhostNodePorts: false
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
YAML
  "$NODE_BIN/kube-proxy" --config="$W/kube-proxy.yaml" </dev/null >"$W/kube-proxy.log" 2>&1 &
  echo $! >"$W/kube-proxy.pid"
  local i
  for i in $(seq 1 120); do
    iptables-save -t nat 2>/dev/null | grep -q -- "-d $SERVICE_IP/32 .*-j KUBE-SVC-" && return 0
    kill -0 "$(cat "$W/kube-proxy.pid")" 2>/dev/null || { echo "e2e-node: kube-proxy exited:" >&2; tail -n 20 "$W/kube-proxy.log" >&2; return 1; }
    sleep 0.5
  done
  echo "e2e-node: no kube-proxy rule for $SERVICE_IP after 60 s:" >&2
  tail -n 20 "$W/kube-proxy.log" >&2
  return 1
}

# Stops kube-proxy and removes its rules and chains (`kube-proxy --cleanup`: iptables and
# ip6tables, and the ipvs and nftables modes it did not use) before the node goes.
stop_kube_proxy() {
  local nb=$1
  [[ -f $W/kube-proxy.pid ]] || return 0
  stop_pidfile "$W/kube-proxy.pid" kube-proxy
  [[ -n $nb && -x $nb/kube-proxy ]] || return 0
  "$nb/kube-proxy" --cleanup >"$W/kube-proxy-cleanup.log" 2>&1 ||
    log "kube-proxy --cleanup reported errors (see $W/kube-proxy-cleanup.log); the leftovers check decides"
}

# --- down ---------------------------------------------------------------------------------------
down() {
  [[ -d $W ]] || { log "nothing in $W"; return 0; }
  W=$(cd "$W" && pwd)
  set +e
  local nb
  nb=$(cat "$W/node-bin" 2>/dev/null)
  # Controllers first, so nothing reacts to the node going away.
  stop_pidfile "$W/scheduler.pid" kube-scheduler
  stop_pidfile "$W/controller-manager.pid" kube-controller-manager
  log "controllers stopped"
  stop_kube_proxy "$nb"
  if [[ -n $nb ]]; then test/e2e-node/tools/node.sh stop "$nb" "$W/node"; fi
  log "node stopped"
  test/e2e/tools/stop-cluster.sh "$W" >&2
  log "control plane stopped"
  rm -f "$W/e2e-node.env"
  local leftovers
  leftovers=$(leftovers)
  stop_pidfile "$W/lock-holder.pid" sleep
  rm -f "$W/lock-holder.state"
  set -e
  if [[ -n $leftovers ]]; then
    echo "e2e-node: teardown LEFT BEHIND:" >&2
    echo "$leftovers" >&2
    return 1
  fi
  if [[ ${KEEP:-${E2E_KEEP:-}} != 1 ]]; then
    rm -rf "$W"
  fi
  log "down: nothing left behind"
}

# Whatever of the node is still there (empty when the teardown was complete).
leftovers() {
  local p
  for p in $(pgrep -f -- "$W/" || true); do
    local cmd
    cmd=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-200)
    # This script and whoever runs it (their command lines may name the work dir) are not the node.
    [[ -z $cmd || $cmd == *e2e-node.sh* || $cmd == *flock* ]] && continue
    echo "process $p: $cmd"
  done
  awk -v w="$W/" 'index($2, w) == 1 {print "mount " $2}' /proc/self/mounts
  ip link show "$NODE_BRIDGE" >/dev/null 2>&1 && echo "bridge $NODE_BRIDGE"
  ip netns list 2>/dev/null | awk '/^cni-/{print "netns " $1}'
  local ipt
  for ipt in iptables ip6tables; do
    command -v "$ipt-save" >/dev/null || continue
    "$ipt-save" 2>/dev/null | grep -E '^:(CNI-|KUBE-)' | sed "s/^/$ipt chain /"
  done
  local c
  for c in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/unified/kubepods; do [[ -d $c ]] && echo "cgroup $c"; done
  return 0
}

# --- test ---------------------------------------------------------------------------------------
run_tests() {
  [[ -f $W/e2e-node.env ]] || { echo "e2e-node: $W is not up (run: $0 up $W)" >&2; exit 1; }
  set -a
  # shellcheck source=/dev/null
  source "$W/e2e-node.env"
  set +a
  local files
  # shellcheck disable=SC2206
  if [[ $# -gt 0 && $1 != -* ]]; then files=("$@"); set --; else files=(${E2E_NODE_FILES:-test/e2e-node/*.e2e.ts}); fi
  log "scenarios: ${files[*]}"
  # In the background and waited for, so Ctrl-C or SIGTERM reaches the trap at once.
  timeout --kill-after=30 "${E2E_TEST_TIMEOUT:-1200}" \
    node --import tsx --test --test-concurrency=1 --test-timeout=600000 --test-reporter=spec "$@" "${files[@]}" &
  TESTS_PID=$!
  wait "$TESTS_PID"
}

MODE=${1:-run}
case $MODE in
  up) [[ $# -eq 2 ]] || { echo "usage: $0 up WORKDIR" >&2; exit 2; }; W=$2; up ;;
  down) [[ $# -eq 2 ]] || { echo "usage: $0 down WORKDIR" >&2; exit 2; }; W=$2; down ;;
  test) [[ $# -ge 2 ]] || { echo "usage: $0 test WORKDIR [FILE...]" >&2; exit 2; }; W=$(cd "$2" && pwd); shift 2; run_tests "$@" ;;
  *)
    MODE=run
    W=$(mktemp -d "${TMPDIR:-/tmp}/mtls-guard-e2e-node.XXXXXX")
    cleanup() {
      local status=$?
      trap - EXIT INT TERM
      set +e
      if [[ -n ${TESTS_PID:-} ]] && kill -0 "$TESTS_PID" 2>/dev/null; then
        kill -TERM "$TESTS_PID"
        wait "$TESTS_PID"
      fi
      log "teardown"
      [[ $status -ne 0 ]] && KEEP=1
      down || status=1
      if [[ $status -ne 0 ]]; then
        echo "e2e-node: FAILED (exit $status) after $((SECONDS - T0))s; logs kept in $W" >&2
        echo "e2e-node: see $W/{apiserver,controller-manager,scheduler}.log and $W/node/{kubelet,containerd}.log" >&2
      else
        echo "e2e-node: passed in $((SECONDS - T0))s" >&2
      fi
      exit "$status"
    }
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    take_lock_here
    up
    run_tests "$@"
    ;;
esac
