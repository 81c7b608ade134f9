#!/usr/bin/env bash
# Builds the node suite's cert-manager (controller + cainjector, one binary) from the pinned root
# module github.com/cert-manager/cert-manager with our own small main
# (test/e2e-node/cert-manager/main.go, see its README.md), and copies cert-manager's CRDs beside it.
#
#   BIN=$(scripts/cert-manager-tools.sh | tail -n1)
#
# Output: $BIN/cert-manager-e2e (`controller|cainjector|all --kubeconfig FILE`) and
# $BIN/cert-manager-crds.yaml (deploy/crds/*.yaml of the same module, one stream), where
#   BIN=${MTLS_GUARD_CACHE:-$HOME/.cache/mtls-guard}/bin/cert-manager-<version>
# Present files are reused (instant) while main.go, go.mod and go.sum are unchanged (their hash is
# kept in $BIN/source.sha256). The bin directory is the LAST line of stdout; progress goes to
# stderr. Concurrent callers are serialised with flock; the build runs under `nice -n 10`
# (scripts/lib.sh go_build), CGO_ENABLED=0. Needs Go and the Go module proxy; a cold build takes a
# few minutes (test/e2e-node/cert-manager/README.md).
set -euo pipefail

exec 3>&1 1>&2 # keep stdout for the final path only

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
MOD="$ROOT/test/e2e-node/cert-manager"
CM=github.com/cert-manager/cert-manager

command -v go >/dev/null || { echo "cert-manager-tools: 'go' not found on PATH" >&2; exit 1; }

CM_VERSION=$(modver "$MOD" "$CM")
BIN="$MTLS_GUARD_CACHE/bin/cert-manager-$CM_VERSION"
OUTPUTS=(cert-manager-e2e cert-manager-crds.yaml)
# The binary is ours too: a change of main.go, go.mod or go.sum rebuilds it.
SRC_SUM=$(cd "$MOD" && cat main.go go.mod go.sum | sha256sum | cut -d' ' -f1)
binary_current() { [[ -s "$BIN/cert-manager-e2e" && $(cat "$BIN/source.sha256" 2>/dev/null) == "$SRC_SUM" ]]; }

if all_present "$BIN" "${OUTPUTS[@]}" && binary_current; then
  echo "cert-manager-tools: cached: $BIN"
  echo "$BIN" >&3
  exit 0
fi

lock_fd 9 "$BIN/.lock"

if ! binary_current; then
  CGO_ENABLED=0 go_build "$MOD" "$BIN" "" .
  echo "$SRC_SUM" >"$BIN/source.sha256"
fi

if [[ ! -s "$BIN/cert-manager-crds.yaml" ]]; then
  dir=$(moddir "$MOD" "$CM")
  shopt -s nullglob
  files=("$dir"/deploy/crds/*.yaml)
  [[ ${#files[@]} -gt 0 ]] || { echo "cert-manager-tools: no CRDs in $dir/deploy/crds" >&2; exit 1; }
  for f in "${files[@]}"; do echo "---"; sed '/^---$/d' "$f"; done >"$BIN/cert-manager-crds.yaml.tmp"
  mv -f "$BIN/cert-manager-crds.yaml.tmp" "$BIN/cert-manager-crds.yaml"
  echo "cert-manager-tools: cert-manager $CM_VERSION: ${#files[@]} CRDs"
fi

all_present "$BIN" "${OUTPUTS[@]}" && binary_current || { echo "cert-manager-tools: some outputs are missing in $BIN" >&2; exit 1; }
echo "cert-manager-tools: ready: $BIN"
echo "$BIN" >&3
