#!/usr/bin/env bash
# Issue-14 feasibility probe: builds the node's binaries from the pinned Go modules under
# test/node-probe/tools/<name>/ into ${MTLS_GUARD_CACHE:-~/.cache/mtls-guard}/node-probe/bin/<name>-<version>/,
# one build at a time, at `nice -n 19`, reusing what is already built. Times go to
# node-probe/logs/build-times.tsv (name, version, wall s, user+sys CPU s).
#
#   test/node-probe/build.sh [kubelet|control|containerd|runc|cni|buildkit|cert-manager ...]
#   (default: all but cert-manager)
#
# Prints "NAME=DIR" for each built component on stdout; progress goes to stderr.
# Needs: go, gcc, pkg-config and libseccomp-dev (runc is the only cgo build).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${MTLS_GUARD_CACHE:-$HOME/.cache/mtls-guard}/node-probe"
mkdir -p "$cache/bin" "$cache/logs"

modver() { (cd "$here/tools/$1" && go list -m -f '{{.Version}}' "$2"); }

# build NAME MODULE_DIR VERSION CGO TAGS LDFLAGS PKG...
build() {
  local name=$1 dir=$2 version=$3 cgo=$4 tags=$5 ldflags=$6; shift 6
  local out="$cache/bin/$name-$version"
  if [[ -f "$out/.done" ]]; then
    echo "node-probe: cached: $out" >&2
    echo "$name=$out"
    return 0
  fi
  # One build at a time (2 shared cores); cached results above are read without waiting.
  exec 9>"$cache/.build.lock"
  flock 9
  if [[ -f "$out/.done" ]]; then echo "$name=$out"; exec 9>&-; return 0; fi
  local tmp; tmp=$(mktemp -d "$cache/bin/.build.XXXXXX")
  trap 'rm -rf "$tmp"' RETURN
  echo "node-probe: building $name $version: $* ..." >&2
  local t0 t1
  t0=$(date +%s.%N)
  local st b a
  read -ra st </proc/$BASHPID/stat; b=$((st[15] + st[16]))  # waited-for children's CPU, in ticks
  (cd "$here/tools/$dir" && CGO_ENABLED=$cgo nice -n 19 go build -trimpath -tags "$tags" \
    -ldflags="-s -w $ldflags" -o "$tmp/" "$@") >&2
  read -ra st </proc/$BASHPID/stat; a=$((st[15] + st[16]))
  t1=$(date +%s.%N)
  mkdir -p "$out"
  mv -f "$tmp"/* "$out/"
  touch "$out/.done"
  local wall cpu
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", b-a}')
  cpu=$(( (a - b) / $(getconf CLK_TCK) ))
  printf '%s\t%s\t%s\t%s\n' "$name" "$version" "$wall" "$cpu" >>"$cache/logs/build-times.tsv"
  echo "node-probe: built $name $version in ${wall}s wall, ${cpu}s CPU" >&2
  exec 9>&-
  echo "$name=$out"
}

kube_flags() {
  local v=$1 major minor flags="" pkg
  major=${v#v}; major=${major%%.*}
  minor=${v#v*.}; minor=${minor%%.*}
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    flags+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  echo "$flags"
}

want=("$@")
[[ ${#want[@]} -gt 0 ]] || want=(kubelet containerd runc cni buildkit control)
for w in "${want[@]}"; do
  case $w in
    kubelet)
      v=$(modver kube k8s.io/kubernetes)
      build kubelet kube "$v" 0 "" "$(kube_flags "$v")" k8s.io/kubernetes/cmd/kubelet ;;
    control)
      # No scheduler or controller-manager in test/e2e's control plane: Deployments make no pods.
      v=$(modver kube k8s.io/kubernetes)
      build control kube "$v" 0 "" "$(kube_flags "$v")" \
        k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler ;;
    containerd)
      v=$(modver containerd github.com/containerd/containerd/v2)
      build containerd containerd "$v" 0 "no_btrfs" \
        "-X github.com/containerd/containerd/v2/version.Version=$v" \
        github.com/containerd/containerd/v2/cmd/containerd \
        github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
        github.com/containerd/containerd/v2/cmd/ctr ;;
    runc)
      v=$(modver runc github.com/opencontainers/runc)
      build runc runc "$v" 1 "seccomp urfave_cli_no_docs" "-X main.version=${v#v}" \
        github.com/opencontainers/runc ;;
    cni)
      v=$(modver cni github.com/containernetworking/plugins)
      build cni cni "$v" 0 "" "-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$v" \
        github.com/containernetworking/plugins/plugins/main/bridge \
        github.com/containernetworking/plugins/plugins/main/loopback \
        github.com/containernetworking/plugins/plugins/ipam/host-local \
        github.com/containernetworking/plugins/plugins/meta/portmap ;;
    buildkit)
      v=$(modver buildkit github.com/moby/buildkit)
      build buildkit buildkit "$v" 0 "" "-X github.com/moby/buildkit/version.Version=$v" \
        github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl ;;
    cert-manager)
      # Compile check only (tools/cert-manager/main.go): upstream's cmd/* modules are not served.
      v=$(modver cert-manager github.com/cert-manager/cert-manager)
      build cm-probe cert-manager "$v" 0 "" "" . ;;
    *) echo "node-probe: unknown component $w" >&2; exit 2 ;;
  esac
done
