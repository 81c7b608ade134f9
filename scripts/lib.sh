# shellcheck shell=bash
# Helpers shared by the tool-chain scripts (scripts/e2e-tools.sh, scripts/node-tools.sh): sourced,
# never run. Everything built lives under $MTLS_GUARD_CACHE (default ~/.cache/mtls-guard), keyed
# by the pinned versions, so a second run reuses it; builds are serialised with flock(1).

MTLS_GUARD_CACHE=${MTLS_GUARD_CACHE:-$HOME/.cache/mtls-guard}

# modver MODULE_DIR MODULE: the version of MODULE that the go.mod in MODULE_DIR pins.
modver() { (cd "$1" && go list -m -f '{{.Version}}' "$2"); }

# moddir MODULE_DIR MODULE[@VERSION]: the module's source directory in the Go module cache
# (downloaded through the module proxy on first use).
moddir() { (cd "$1" && go mod download -json "$2" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'); }

# all_present DIR FILE...: true when every FILE exists and is not empty in DIR.
all_present() {
  local dir=$1 f
  shift
  for f in "$@"; do [[ -s "$dir/$f" ]] || return 1; done
}

# lock_fd FD FILE: opens FILE on file descriptor FD and waits for an exclusive flock on it
# (released when FD is closed or the process exits).
lock_fd() {
  mkdir -p "$(dirname "$2")"
  eval "exec $1>\"\$2\""
  flock "$1"
}

# kube_ldflags VERSION: the -X flags of kubernetes' hack/lib/version.sh, so a binary built from
# the k8s.io/kubernetes module reports its real version (the API server derives its emulation
# version from it; helm's kubeVersion checks and the kubelet's node status read it).
kube_ldflags() {
  local v=$1 major minor flags="" pkg
  major=${v#v}; major=${major%%.*}
  minor=${v#v*.}; minor=${minor%%.*}
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    flags+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  echo "$flags"
}

# go_build MODULE_DIR OUT_DIR LDFLAGS PKG...: `go build` of PKG... in MODULE_DIR into OUT_DIR,
# through a temp dir so an interrupted build never leaves a truncated binary behind. CGO_ENABLED
# and GO_TAGS (build tags) come from the environment; GO_NICE (default 10) is the build's niceness.
go_build() {
  local dir=$1 out=$2 ldflags=$3
  shift 3
  mkdir -p "$out"
  local tmp start=$SECONDS
  tmp=$(mktemp -d "$out/.build.XXXXXX")
  echo "$(basename "$0"): building $*" >&2
  if ! (cd "$dir" && nice -n "${GO_NICE:-10}" go build -trimpath -tags "${GO_TAGS:-}" \
        -ldflags="-s -w $ldflags" -o "$tmp/" "$@") >&2; then
    rm -rf "$tmp"
    return 1
  fi
  mv -f "$tmp"/* "$out/"
  rmdir "$tmp"
  echo "$(basename "$0"): built $(basename "$out") in $((SECONDS - start))s" >&2
}
