#!/usr/bin/env bash
# Builds the pinned end-to-end test tool chain (kube-apiserver, kubectl, etcd,
# helm) from the Go modules under test/e2e/tools/ and copies the pinned Istio
# CRD manifest next to them.
#
#   BIN=$(scripts/e2e-tools.sh)
#
# Output: $BIN/{kube-apiserver,kubectl,etcd,helm,istio-crds.yaml}, where
#   BIN=${MTLS_GUARD_CACHE:-$HOME/.cache/mtls-guard}/bin/<key>
# and <key> names every pinned version. Already-built files are reused, so a
# second run is instant. The bin directory is the LAST line of stdout; all
# progress goes to stderr. Needs Go (see go.mod files for the minimum) and the
# Go module proxy; a cold build takes several minutes (see test/e2e/tools/README.md).
set -euo pipefail

exec 3>&1 1>&2 # keep stdout for the final path only

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh" # modver, moddir, all_present, lock_fd, kube_ldflags
TOOLS="$ROOT/test/e2e/tools"
CACHE="$MTLS_GUARD_CACHE"

command -v go >/dev/null || { echo "e2e-tools: 'go' not found on PATH" >&2; exit 1; }

K8S_VERSION=$(modver "$TOOLS/kube" k8s.io/kubernetes)
ETCD_VERSION=$(modver "$TOOLS/etcd" go.etcd.io/etcd/server/v3)
HELM_VERSION=$(modver "$TOOLS/helm" helm.sh/helm/v3)
ISTIO_VERSION=$(modver "$TOOLS/crds" istio.io/api)

KEY="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_helm-${HELM_VERSION}_istio-${ISTIO_VERSION}"
BIN="$CACHE/bin/$KEY"
OUTPUTS=(kube-apiserver kubectl etcd helm istio-crds.yaml)

if all_present "$BIN" "${OUTPUTS[@]}"; then
  echo "e2e-tools: cached: $BIN"
  echo "$BIN" >&3
  exit 0
fi

mkdir -p "$BIN"
# Serialise concurrent callers (parallel test runners) on the same cache.
lock_fd 9 "$BIN/.lock"

export CGO_ENABLED=0
# Builds run one after another: with 2 cores go build already uses both, and
# linking kube-apiserver alone peaks at ~2-3 GiB.

# go_build (scripts/lib.sh) writes into a temp dir first, so an interrupted build never leaves a
# truncated binary behind.

if [[ ! -s "$BIN/kube-apiserver" || ! -s "$BIN/kubectl" ]]; then
  # Same -X flags as kubernetes' hack/lib/version.sh, so both binaries report
  # the real version (the API server derives its binary/emulation version
  # from gitVersion; helm's kubeVersion checks read it from /version).
  go_build "$TOOLS/kube" "$BIN" "$(kube_ldflags "$K8S_VERSION")" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
fi

if [[ ! -s "$BIN/etcd" ]]; then
  # etcd's version string is a constant in go.etcd.io/etcd/api/v3/version.
  go_build "$TOOLS/etcd" "$BIN" "" .
  [[ -s "$BIN/etcd" ]] || { echo "e2e-tools: etcd binary missing after build" >&2; exit 1; }
fi

if [[ ! -s "$BIN/helm" ]]; then
  # Mirrors helm's Makefile: version plus default Capabilities.KubeVersion
  # derived from the client-go it was built with (v0.X.Y -> 1.X).
  cg=$(modver "$TOOLS/helm" k8s.io/client-go); cg=${cg#v0.}; cg_minor=${cg%%.*}
  hflags="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  hflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    hflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$cg_minor"
  done
  go_build "$TOOLS/helm" "$BIN" "$hflags" helm.sh/helm/v3/cmd/helm
fi

if [[ ! -s "$BIN/istio-crds.yaml" ]]; then
  dir=$(moddir "$TOOLS/crds" istio.io/api)
  src="$dir/kubernetes/customresourcedefinitions.gen.yaml"
  [[ -s "$src" ]] || { echo "e2e-tools: $src not found" >&2; exit 1; }
  install -m 0644 "$src" "$BIN/istio-crds.yaml.tmp"
  mv -f "$BIN/istio-crds.yaml.tmp" "$BIN/istio-crds.yaml"
  echo "e2e-tools: copied Istio CRDs ($ISTIO_VERSION)"
fi

all_present "$BIN" "${OUTPUTS[@]}" || { echo "e2e-tools: some outputs are missing in $BIN" >&2; exit 1; }
echo "e2e-tools: ready: $BIN"
echo "$BIN" >&3
