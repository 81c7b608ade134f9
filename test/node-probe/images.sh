#!/usr/bin/env bash
# Issue-14 feasibility probe: the two images the node needs without a registry, as OCI archives
# under ~/.cache/mtls-guard/node-probe/images/: the sandbox image registry.k8s.io/pause:3.10.2
# (compiled statically from k8s.io/kubernetes' build/pause/linux/pause.c in the module cache) and
# probe.local/busybox:1.35 (Debian's busybox-static). Idempotent.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${MTLS_GUARD_CACHE:-$HOME/.cache/mtls-guard}/node-probe/images"
k8s=$(cd "$here/tools/kube" && go list -m -f '{{.Version}}' k8s.io/kubernetes)
src=$(cd "$here/tools/kube" && go mod download -json "k8s.io/kubernetes@$k8s" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

if [[ ! -s $cache/pause-3.10.2/pause.tar ]]; then
  mkdir -p "$tmp/pause" "$cache/pause-3.10.2"
  nice -n 19 gcc -Os -static -DVERSION=v3.10.2 -o "$tmp/pause/pause" "$src/build/pause/linux/pause.c"
  strip "$tmp/pause/pause"
  python3 "$here/oci-from-dir.py" "$tmp/pause" "$cache/pause-3.10.2/pause.tar" \
    registry.k8s.io/pause:3.10.2 --entrypoint '["/pause"]' --user 65535:65535
fi
if [[ ! -s $cache/busybox/busybox.tar ]]; then
  [[ -x /usr/bin/busybox ]] || { echo "images: apt-get install -y busybox-static" >&2; exit 1; }
  r="$tmp/busybox"; mkdir -p "$r"/{bin,tmp,etc} "$cache/busybox"
  cp /usr/bin/busybox "$r/bin/"
  for c in sh httpd sleep echo cat ls id wget ip hostname nc grep mkdir; do ln -sf busybox "$r/bin/$c"; done
  echo 'nobody:x:65534:65534::/:/bin/sh' >"$r/etc/passwd"
  python3 "$here/oci-from-dir.py" "$r" "$cache/busybox/busybox.tar" probe.local/busybox:1.35 --cmd '["sh"]'
fi
echo "$cache"
