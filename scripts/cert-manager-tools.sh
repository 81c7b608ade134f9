#!/usr/bin/env bash
# Builds the node suite's cert-manager (controller + cainjector, one binary) from the pinned root
# module github.com/cert-manager/cert-manager with our own small main
# (test/e2e-node/cert-manager/main.go, see its README.md), and copies cert-manager's CRDs beside it.
#
#   BIN=$(scripts/cert-manager-tools.sh)
#
# Output: $BIN/cert-manager-e2e (`controller|cainjector|all --kubeconfig FILE`) and
# $BIN/cert-manager-crds.yaml (deploy/crds/*.yaml of the same module, one stream), where
#   BIN=${MTLS_GUARD_CACHE:-$HOME/.cache/mtls-guard}/bin/cert-manager-<version>
# Present files are reused (instant) while main.go, go.mod and go.sum are unchanged. The bin directory is the LAST line of stdout; progress goes
# to stderr. Concurrent callers are serialised with flock; the build runs under `nice -n 10`.
# Needs Go and the Go module proxy; a cold build takes a few minutes (README.md there).
set -euo pipefail

exec 3>&1 1>&2 # keep stdout for the final path only

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MOD="$ROOT/test/e2e-node/cert-manager"
CACHE="${MTLS_GUARD_CACHE:-$HOME/.cache/mtls-guard}"
CM=github.com/cert-manager/cert-manager

command -v go >/dev/null || { echo "cert-manager-tools: 'go' not found on PATH" >&2; exit 1; }

CM_VERSION=$(cd "$MOD" && go list -m -f '{{.Version}}' "$CM")
BIN="$CACHE/bin/cert-manager-$CM_VERSION"
OUTPUTS=(cert-manager-e2e cert-manager-crds.yaml)
# The binary is ours too: a change of main.go, go.mod or go.sum rebuilds it (source.sha256 beside it).
SRC_SUM=$(cd "$MOD" && cat main.go go.mod go.sum | sha256sum | cut -d' ' -f1)

all_present() {
  local f
  for f in "${OUTPUTS[@]}"; do [[ -s "$BIN/$f" ]] || return 1; done
  [[ $(cat "$BIN/source.sha256" 2>/dev/null) == "$SRC_SUM" ]]
}

if all_present; then
  echo "cert-manager-tools: cached: $BIN"
  echo "$BIN" >&3
  exit 0
fi

mkdir -p "$BIN"
exec 9>"$BIN/.lock"
flock 9

if [[ ! -s "$BIN/cert-manager-e2e" || $(cat "$BIN/source.sha256" 2>/dev/null) != "$SRC_SUM" ]]; then
  start=$SECONDS
  tmp=$(mktemp -d "$BIN/.build.XXXXXX")
  echo "cert-manager-tools: building cert-manager-e2e ($CM $CM_VERSION) ..."
  if ! (cd "$MOD" && CGO_ENABLED=0 nice -n 10 go build -trimpath -ldflags="-s -w" -o "$tmp/cert-manager-e2e" .); then
    rm -rf "$tmp"
    exit 1
  fi
  mv -f "$tmp/cert-manager-e2e" "$BIN/"
  rmdir "$tmp"
  echo "$SRC_SUM" >"$BIN/source.sha256"
  echo "cert-manager-tools: built cert-manager-e2e in $((SECONDS - start))s"
fi

if [[ ! -s "$BIN/cert-manager-crds.yaml" ]]; then
  dir=$(cd "$MOD" && go mod download -json "$CM" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  shopt -s nullglob
  files=("$dir"/deploy/crds/*.yaml)
  [[ ${#files[@]} -gt 0 ]] || { echo "cert-manager-tools: no CRDs in $dir/deploy/crds" >&2; exit 1; }
  for f in "${files[@]}"; do echo "---"; sed '/^---$/d' "$f"; done >"$BIN/cert-manager-crds.yaml.tmp"
  mv -f "$BIN/cert-manager-crds.yaml.tmp" "$BIN/cert-manager-crds.yaml"
  echo "cert-manager-tools: cert-manager $CM_VERSION: ${#files[@]} CRDs"
fi

all_present || { echo "cert-manager-tools: some outputs are missing in $BIN" >&2; exit 1; }
echo "cert-manager-tools: ready: $BIN"
echo "$BIN" >&3
