#!/usr/bin/env bash
# The node of the node suite: containerd + runc + a CNI bridge + kubelet, started as root on this
# machine against an already running kube-apiserver (test/e2e/tools/start-cluster.sh).
#
#   test/e2e-node/tools/node.sh start NODE_BIN WORKDIR KUBECONFIG CLIENT_CA  # logs in WORKDIR
#   test/e2e-node/tools/node.sh stop  NODE_BIN WORKDIR                       # idempotent
#
# NODE_BIN: scripts/node-tools.sh's directory. CLIENT_CA: the CA whose client certificates the
# kubelet accepts (the API server's kubelet client certificate for logs/exec). Everything lives
# in WORKDIR (containerd root/state, kubelet root dir, CNI config and IPAM, pod logs) except what
# the kernel keeps globally: the bridge $NODE_BRIDGE, pod network namespaces (/run/netns/cni-*),
# cgroups under /sys/fs/cgroup/*/kubepods, the iptables chains of the kubelet and the CNI plugins,
# and a few host paths the kubelet/libcni/shims use whatever their configuration says. `stop`
# removes all of those; start runs stop itself when it fails.
# Environment: NODE_NAME (mtls-guard-node), NODE_IP (the first global IPv4 address: the kubelet
# refuses loopback), NODE_BRIDGE (mgnode0), NODE_POD_CIDR (10.88.0.0/24), KUBELET_PORT (10250).
set -euo pipefail

BRIDGE=${NODE_BRIDGE:-mgnode0}
POD_CIDR=${NODE_POD_CIDR:-10.88.0.0/24}
NODE_NAME=${NODE_NAME:-mtls-guard-node}
log() { echo "node: $*" >&2; }

bins() {
  KUBELET=$NB/kubelet
  CTRD_DIR=$(dirname "$(readlink -f "$NB/containerd")")
  RUNC=$(readlink -f "$NB/runc")
  CNI_BIN=$(readlink -f "$NB/cni")
}

stop_pid() { # name binary-substring
  local f="$W/$1.pid" pid i
  [[ -f $f ]] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null && [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline")" == *"$2"* ]]; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

stop() {
  set +e
  bins
  log "stopping kubelet"
  stop_pid kubelet kubelet
  if [[ -S $W/containerd.sock ]]; then
    log "removing pods and containers through containerd"
    local ctr=("$CTRD_DIR/ctr" --address "$W/containerd.sock" -n k8s.io) t
    for t in $("${ctr[@]}" tasks ls -q 2>/dev/null); do "${ctr[@]}" tasks kill -s KILL "$t" >/dev/null 2>&1; done
    sleep 1
    for t in $("${ctr[@]}" tasks ls -q 2>/dev/null); do "${ctr[@]}" tasks delete -f "$t" >/dev/null 2>&1; done
  fi
  log "stopping containerd"
  stop_pid containerd containerd
  # Shims outlive containerd by design: end exactly those started for this WORKDIR.
  local p
  for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $W/containerd.sock" || true); do
    kill -KILL "$p" 2>/dev/null
  done
  # Containers still alive (shim killed first): runc's state dir for the k8s.io namespace (the
  # runc shim's default root, /run/containerd/runc, unless a state dir under WORKDIR has one).
  local id root
  for root in "$W/containerd/state/runc/k8s.io" /run/containerd/runc/k8s.io; do
    [[ -d $root ]] || continue
    for id in $("$RUNC" --root "$root" list -q 2>/dev/null); do
      "$RUNC" --root "$root" delete -f "$id" >/dev/null 2>&1
    done
  done
  # Last resort: any process still in the kubelet's cgroups (a container whose shim and runc
  # state are gone, e.g. after a Ctrl-C reached the shims' process group) is killed, so the
  # cgroups below can be removed. Only this node makes kubepods cgroups (the node lock).
  local pids
  for _ in $(seq 1 50); do
    pids=$(cat /sys/fs/cgroup/*/kubepods/cgroup.procs /sys/fs/cgroup/*/kubepods/*/cgroup.procs \
      /sys/fs/cgroup/*/kubepods/*/*/cgroup.procs /sys/fs/cgroup/*/kubepods/*/*/*/cgroup.procs 2>/dev/null | sort -u)
    [[ -z $pids ]] && break
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null
    sleep 0.1
  done
  # Network: pod namespaces made by the CRI plugin, the bridge, iptables chains of the plugins.
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '/^cni-/{print $1}'); do ip netns delete "$ns"; done
  ip link show "$BRIDGE" >/dev/null 2>&1 && ip link delete "$BRIDGE"
  # iptables: the CNI plugins' CNI-* chains, and the kubelet's own KUBE-FIREWALL (which drops
  # packets to 127.0.0.0/8 from other sources), KUBE-KUBELET-CANARY and KUBE-IPTABLES-HINT.
  local ipt tbl chain rule
  for ipt in iptables ip6tables; do
    command -v "$ipt-save" >/dev/null || continue
    for tbl in nat filter mangle; do
      "$ipt-save" -t "$tbl" 2>/dev/null | grep -E '^-A [A-Z]+ .*-j (CNI-|KUBE-(FIREWALL|KUBELET-CANARY|IPTABLES-HINT))' |
        sed 's/^-A/-D/' | while read -r rule; do eval "$ipt -t $tbl $rule" 2>/dev/null; done
      for chain in $("$ipt-save" -t "$tbl" 2>/dev/null |
        awk '/^:(CNI-|KUBE-(FIREWALL|KUBELET-CANARY|IPTABLES-HINT))/{print substr($1,2)}'); do
        "$ipt" -t "$tbl" -F "$chain" 2>/dev/null
      done
      for chain in $("$ipt-save" -t "$tbl" 2>/dev/null |
        awk '/^:(CNI-|KUBE-(FIREWALL|KUBELET-CANARY|IPTABLES-HINT))/{print substr($1,2)}'); do
        "$ipt" -t "$tbl" -X "$chain" 2>/dev/null
      done
    done
  done
  # Host paths the kubelet and libcni write to whatever their configuration says
  # (/var/lib/kubelet/device-plugins, /var/lib/cni/results, the shims' /run/containerd/{s,runc},
  # /run/netns): removed if this node created them (rmdir of /run/netns only once it is empty).
  if [[ -f $W/host-paths-created ]]; then
    local p
    while read -r p; do rm -rf "$p"; done <"$W/host-paths-created"
    rm -f "$W/host-paths-created"
  fi
  rm -f /var/lib/cni/results/mtls-guard-node-* /var/lib/cni/results/cni-loopback-* 2>/dev/null
  # Mounts under WORKDIR (overlay rootfs, shm, kubelet volumes), deepest first.
  local m
  for m in $(awk -v w="$W/" 'index($2, w) == 1 {print $2}' /proc/self/mounts | sort -r); do
    umount -l "$m" 2>/dev/null
  done
  # Cgroups the kubelet created (cgroupfs driver): children first.
  # A killed process leaves its cgroup only once reaped: a few tries.
  local c left
  for _ in $(seq 1 25); do
    left=
    for c in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/unified/kubepods; do
      [[ -d $c ]] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null
      [[ -d $c ]] && left=1
    done
    [[ -z $left ]] && break
    sleep 0.2
  done
  log "stopped"
  return 0
}

start() {
  [[ $(id -u) == 0 ]] || { log "must run as root"; exit 1; }
  [[ -n ${KCFG:-} && -f $KCFG && -n ${CLIENT_CA:-} && -f $CLIENT_CA ]] || { log "usage: $0 start NODE_BIN WORKDIR KUBECONFIG CLIENT_CA"; exit 2; }
  bins
  # The kubelet refuses a loopback node IP: use the host's own address (routed locally).
  NODE_IP=${NODE_IP:-$(ip -4 -o addr show scope global | awk '{sub(/\/.*/, "", $4); print $4; exit}')}
  trap 'log "start failed"; stop' ERR
  mkdir -p "$W"/{containerd,cni/net.d,cni/ipam,kubelet,manifests}
  local p
  for p in /var/lib/kubelet /var/lib/cni /var/log/pods /run/containerd /run/netns /run/nri /opt/containerd; do [[ -e $p ]] || echo "$p" >>"$W/host-paths-created"; done
  # containerd finds the runc shim on PATH; the shim finds runc through BinaryName.
  export PATH="$CTRD_DIR:$PATH"
  cat >"$W/containerd.toml" <<EOF
version = 3
root = "$W/containerd/root"
state = "$W/containerd/state"
[grpc]
  address = "$W/containerd.sock"
[ttrpc]
  address = "$W/containerd.sock.ttrpc"
[debug]
  level = "info"
# Keep containerd out of global paths: no NRI socket in /run/nri, no /opt/containerd.
[plugins.'io.containerd.nri.v1.nri']
  disable = true
[plugins.'io.containerd.internal.v1.opt']
  path = "$W/containerd/opt"
[plugins.'io.containerd.cri.v1.runtime']
  # This sandbox lacks CAP_SYS_RESOURCE, so no process may lower its oom_score_adj (the pause
  # container asks for -998): keep every container's at or above containerd's own.
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "$RUNC"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["$CNI_BIN"]
    conf_dir = "$W/cni/net.d"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$(cat "$NB/pause.ref")"
EOF
  cat >"$W/cni/net.d/10-mtls-guard-node.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "mtls-guard-node",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": { "type": "host-local", "dataDir": "$W/cni/ipam",
                "ranges": [[{ "subnet": "$POD_CIDR" }]], "routes": [{ "dst": "0.0.0.0/0" }] }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
  log "starting containerd"
  "$CTRD_DIR/containerd" --config "$W/containerd.toml" </dev/null >"$W/containerd.log" 2>&1 &
  echo $! >"$W/containerd.pid"
  local i
  for i in $(seq 1 100); do [[ -S $W/containerd.sock ]] && break; sleep 0.1; done
  "$CTRD_DIR/ctr" --address "$W/containerd.sock" version >"$W/ctr.log" 2>&1 ||
    { log "containerd did not start"; tail -n 20 "$W/containerd.log" >&2; false; }
  # No registry: the sandbox ("pause") image is compiled from k8s.io/kubernetes' build/pause.
  "$CTRD_DIR/ctr" --address "$W/containerd.sock" -n k8s.io images import --local "$NB/pause.tar" >>"$W/ctr.log" 2>&1

  cat >"$W/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$W/containerd.sock
staticPodPath: $W/manifests
address: $NODE_IP
podLogsDir: $W/pod-logs
port: ${KUBELET_PORT:-10250}
readOnlyPort: 0
healthzPort: 0
# Only clients with a certificate of the test CA (the API server's kubelet client certificate, the
# admin) get in; what they may do is not checked further (a throw-away test node).
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: false }
  x509: { clientCAFile: "$CLIENT_CA" }
authorization: { mode: AlwaysAllow }
failSwapOn: false
resolvConf: ""
imageGCHighThresholdPercent: 100
evictionHard: { memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%" }
registerNode: true
syncFrequency: 10s
fileCheckFrequency: 5s
EOF
  log "starting kubelet"
  "$KUBELET" --config="$W/kubelet.yaml" --kubeconfig="$KCFG" --root-dir="$W/kubelet" \
    --cert-dir="$W/kubelet/pki" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" \
    --v=2 </dev/null >"$W/kubelet.log" 2>&1 &
  echo $! >"$W/kubelet.pid"
  trap - ERR
}

cmd=${1:-}; NB=${2:-}; W=${3:-}
[[ -n $NB && -x $NB/kubelet && -n $W ]] || { echo "usage: $0 start|stop NODE_BIN WORKDIR [KUBECONFIG CLIENT_CA]" >&2; exit 2; }
mkdir -p "$W"; W=$(cd "$W" && pwd)
case $cmd in
  start) KCFG=${4:-}; CLIENT_CA=${5:-}; start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop NODE_BIN WORKDIR [KUBECONFIG CLIENT_CA]" >&2; exit 2 ;;
esac
