#!/usr/bin/env bash
# Builds the pinned tool chain of the node suite (npm run e2e:node): the node (kubelet, kube-proxy,
# containerd, runc, CNI plugins, the pause image), the controllers pods need (kube-controller-manager,
# kube-scheduler) and the image builder (BuildKit), from the Go modules under test/e2e-node/tools/
# and the k8s.io/kubernetes source; installs the Debian packages they need when missing.
#
#   NODE_BIN=$(scripts/node-tools.sh | tail -n1)
#
# Each piece is cached in ${MTLS_GUARD_CACHE:-~/.cache/mtls-guard}/bin/<name>-<version>/ and built
# only when missing, one build at a time (flock: linking kubelet or kube-controller-manager takes
# ~2 GiB, and go build already uses every core). The LAST line of stdout is a directory
# bin/node-<versions>/ with a link to every binary (and cni/ -> the CNI plugin directory,
# pause.tar the sandbox image as an OCI archive); progress goes to stderr.
# Cold: ~12-15 min on 2 cores (see test/e2e-node/README.md); warm: ~1 s.
set -euo pipefail

exec 3>&1 1>&2 # keep stdout for the final path only

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
TOOLS="$ROOT/test/e2e-node/tools"
BINS="$MTLS_GUARD_CACHE/bin"
TIMES="$BINS/node-build-times.tsv"

command -v go >/dev/null || { echo "node-tools: 'go' not found on PATH" >&2; exit 1; }

# --- Debian packages ----------------------------------------------------------------------------
# debootstrap: the image's base file system; libseccomp-dev (+ gcc, pkg-config): runc's seccomp
# support (cgo); iptables: the kubelet's and the CNI plugins' rules; libc6-dev: the static pause.
PACKAGES=(debootstrap libseccomp-dev iptables gcc libc6-dev pkg-config)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  [[ $(id -u) == 0 ]] || { echo "node-tools: missing Debian packages (run as root to install): ${missing[*]}" >&2; exit 1; }
  echo "node-tools: apt-get install ${missing[*]}"
  lock_fd 8 "$BINS/.apt.lock"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exec 8>&-
fi

K8S_VERSION=$(modver "$TOOLS/kube" k8s.io/kubernetes)
E2E_K8S_VERSION=$(modver "$ROOT/test/e2e/tools/kube" k8s.io/kubernetes)
if [[ $K8S_VERSION != "$E2E_K8S_VERSION" ]]; then
  echo "node-tools: test/e2e-node/tools/kube pins k8s.io/kubernetes $K8S_VERSION but test/e2e/tools/kube $E2E_K8S_VERSION: the kubelet must match the API server" >&2
  exit 1
fi
CONTAINERD_VERSION=$(modver "$TOOLS/containerd" github.com/containerd/containerd/v2)
RUNC_VERSION=$(modver "$TOOLS/runc" github.com/opencontainers/runc)
CNI_VERSION=$(modver "$TOOLS/cni" github.com/containernetworking/plugins)
BUILDKIT_VERSION=$(modver "$TOOLS/buildkit" github.com/moby/buildkit)
K8S_SRC=$(moddir "$TOOLS/kube" "k8s.io/kubernetes@$K8S_VERSION")
PAUSE_VERSION=$(sed -n 's/^TAG ?= *//p' "$K8S_SRC/build/pause/Makefile")
[[ -n $PAUSE_VERSION ]] || { echo "node-tools: no TAG in $K8S_SRC/build/pause/Makefile" >&2; exit 1; }

# piece NAME VERSION FILE...: sets OUT=$BINS/NAME-VERSION; returns 0 when it is already built,
# else takes the build lock (one build at a time across processes) and returns 1 if it still
# has to be built. done_piece records the time.
piece() {
  local name=$1 version=$2
  shift 2
  OUT="$BINS/$name-$version"
  PIECE_FILES=("$@")
  if all_present "$OUT" "$@"; then return 0; fi
  lock_fd 9 "$BINS/.node-tools.lock"
  if all_present "$OUT" "$@"; then exec 9>&-; return 0; fi
  PIECE_START=$SECONDS
  return 1
}
done_piece() {
  all_present "$OUT" "${PIECE_FILES[@]}" || { echo "node-tools: $OUT is missing some of: ${PIECE_FILES[*]}" >&2; exit 1; }
  printf '%s\t%s\t%s\n' "$(basename "$OUT")" "$(date -u +%FT%TZ)" "$((SECONDS - PIECE_START))" >>"$TIMES"
  exec 9>&-
}

export CGO_ENABLED=0

if ! piece kubelet "$K8S_VERSION" kubelet; then
  go_build "$TOOLS/kube" "$OUT" "$(kube_ldflags "$K8S_VERSION")" k8s.io/kubernetes/cmd/kubelet
  done_piece
fi
KUBELET_DIR=$OUT

# Without a scheduler pods stay Pending; without the controller manager Deployments make no
# ReplicaSets and the node keeps its not-ready taint.
if ! piece kube-control "$K8S_VERSION" kube-controller-manager kube-scheduler; then
  go_build "$TOOLS/kube" "$OUT" "$(kube_ldflags "$K8S_VERSION")" \
    k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler
  done_piece
fi
CONTROL_DIR=$OUT

# kube-proxy (iptables mode) routes the `kubernetes` Service IP to the API server, so the chart's
# pods reach it with their ServiceAccount token (cluster mode). Its own piece: adding it rebuilt
# only kube-proxy, not the kubelet or the controllers (most packages come from Go's build cache).
if ! piece kube-proxy "$K8S_VERSION" kube-proxy; then
  go_build "$TOOLS/kube" "$OUT" "$(kube_ldflags "$K8S_VERSION")" k8s.io/kubernetes/cmd/kube-proxy
  done_piece
fi
PROXY_DIR=$OUT

if ! piece containerd "$CONTAINERD_VERSION" containerd containerd-shim-runc-v2 ctr; then
  # no_btrfs: no btrfs headers needed (the overlayfs snapshotter is used).
  GO_TAGS=no_btrfs go_build "$TOOLS/containerd" "$OUT" \
    "-X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" \
    github.com/containerd/containerd/v2/cmd/containerd \
    github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
    github.com/containerd/containerd/v2/cmd/ctr
  done_piece
fi
CONTAINERD_DIR=$OUT

if ! piece runc "$RUNC_VERSION" runc; then
  # The only cgo build: seccomp filters (RuntimeDefault) need libseccomp.
  CGO_ENABLED=1 GO_TAGS="seccomp urfave_cli_no_docs" go_build "$TOOLS/runc" "$OUT" \
    "-X main.version=${RUNC_VERSION#v}" github.com/opencontainers/runc
  done_piece
fi
RUNC_DIR=$OUT

if ! piece cni-plugins "$CNI_VERSION" bridge host-local loopback portmap; then
  go_build "$TOOLS/cni" "$OUT" \
    "-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CNI_VERSION" \
    github.com/containernetworking/plugins/plugins/main/bridge \
    github.com/containernetworking/plugins/plugins/main/loopback \
    github.com/containernetworking/plugins/plugins/ipam/host-local \
    github.com/containernetworking/plugins/plugins/meta/portmap
  done_piece
fi
CNI_DIR=$OUT

if ! piece buildkit "$BUILDKIT_VERSION" buildkitd buildctl; then
  go_build "$TOOLS/buildkit" "$OUT" "-X github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION" \
    github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl
  done_piece
fi
BUILDKIT_DIR=$OUT

# No registry: the sandbox image registry.k8s.io/pause:<TAG> is compiled the way
# build/pause/Makefile does (static, -Os) and packed as a one-layer OCI archive.
if ! piece pause "$PAUSE_VERSION" pause.tar; then
  tmp=$(mktemp -d)
  mkdir -p "$tmp/root"
  nice -n 10 gcc -Os -Wall -static -DVERSION="v$PAUSE_VERSION" -o "$tmp/root/pause" "$K8S_SRC/build/pause/linux/pause.c"
  strip "$tmp/root/pause"
  mkdir -p "$OUT"
  python3 "$TOOLS/oci-from-dir.py" "$tmp/root" "$OUT/pause.tar" "registry.k8s.io/pause:$PAUSE_VERSION" \
    --entrypoint '["/pause"]' --user 65535:65535 >/dev/null
  echo "registry.k8s.io/pause:$PAUSE_VERSION" >"$OUT/ref"
  rm -rf "$tmp"
  done_piece
fi
PAUSE_DIR=$OUT

# One directory naming every version, with links to the pieces.
KEY="k8s-${K8S_VERSION}_containerd-${CONTAINERD_VERSION}_runc-${RUNC_VERSION}_cni-${CNI_VERSION}_buildkit-${BUILDKIT_VERSION}_pause-${PAUSE_VERSION}"
NODE_BIN="$BINS/node-$KEY"
# (kube-proxy joined later under the same key: a directory completed before it gets its link.)
if [[ ! -f $NODE_BIN/.complete || ! -e $NODE_BIN/kube-proxy ]]; then
  mkdir -p "$NODE_BIN"
  ln -sfn "$KUBELET_DIR/kubelet" "$NODE_BIN/kubelet"
  ln -sfn "$CONTROL_DIR/kube-controller-manager" "$NODE_BIN/kube-controller-manager"
  ln -sfn "$CONTROL_DIR/kube-scheduler" "$NODE_BIN/kube-scheduler"
  ln -sfn "$PROXY_DIR/kube-proxy" "$NODE_BIN/kube-proxy"
  for b in containerd containerd-shim-runc-v2 ctr; do ln -sfn "$CONTAINERD_DIR/$b" "$NODE_BIN/$b"; done
  ln -sfn "$RUNC_DIR/runc" "$NODE_BIN/runc"
  ln -sfn "$CNI_DIR" "$NODE_BIN/cni"
  ln -sfn "$BUILDKIT_DIR/buildkitd" "$NODE_BIN/buildkitd"
  ln -sfn "$BUILDKIT_DIR/buildctl" "$NODE_BIN/buildctl"
  ln -sfn "$PAUSE_DIR/pause.tar" "$NODE_BIN/pause.tar"
  cp "$PAUSE_DIR/ref" "$NODE_BIN/pause.ref"
  touch "$NODE_BIN/.complete"
fi
echo "node-tools: ready: $NODE_BIN"
echo "$NODE_BIN" >&3
