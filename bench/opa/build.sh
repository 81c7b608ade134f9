#!/usr/bin/env bash
# Builds the pinned OPA server (the benchmark peer) from bench/opa/go.mod.
#
#   OPA=$(bench/opa/build.sh)
#
# Output: ${MTLS_GUARD_CACHE:-$HOME/.cache/mtls-guard}/bin/opa-<version>/opa.
# A cached binary is reused. The binary path is the LAST line of stdout; all
# progress goes to stderr. A cold build takes a few minutes on 2 cores.
set -euo pipefail

exec 3>&1 1>&2

DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE="${MTLS_GUARD_CACHE:-$HOME/.cache/mtls-guard}"

command -v go >/dev/null || { echo "opa-build: 'go' not found on PATH" >&2; exit 1; }

VERSION=$(cd "$DIR" && go list -m -f '{{.Version}}' github.com/open-policy-agent/opa)
BIN="$CACHE/bin/opa-$VERSION"

if [[ -x "$BIN/opa" ]]; then
  echo "opa-build: cached: $BIN/opa"
  echo "$BIN/opa" >&3
  exit 0
fi

mkdir -p "$BIN"
exec 9>"$BIN/.lock"
flock 9
if [[ ! -x "$BIN/opa" ]]; then
  tmp=$(mktemp -d "$BIN/.build.XXXXXX")
  start=$SECONDS
  echo "opa-build: building github.com/open-policy-agent/opa@$VERSION ..."
  (cd "$DIR" && CGO_ENABLED=0 go build -trimpath \
    -ldflags="-s -w -X github.com/open-policy-agent/opa/v1/version.Version=${VERSION#v}" \
    -o "$tmp/opa" github.com/open-policy-agent/opa)
  mv -f "$tmp/opa" "$BIN/opa"
  rmdir "$tmp"
  echo "opa-build: built in $((SECONDS - start))s"
fi
echo "$BIN/opa" >&3
