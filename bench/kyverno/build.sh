#!/usr/bin/env bash
# Builds the pinned Kyverno CLI (the offline peer of `mtls-guard check`) from
# bench/kyverno/go.mod.
#
#   KYVERNO=$(bench/kyverno/build.sh)
#
# Output: ${MTLS_GUARD_CACHE:-$HOME/.cache/mtls-guard}/bin/kyverno-<version>/kyverno.
# A cached binary is reused. The binary path is the LAST line of stdout; all
# progress goes to stderr. The module graph is large (~400 modules, Kubernetes,
# cloud SDKs, sigstore): see BENCHMARKS.md for the measured cold build time.
set -euo pipefail

exec 3>&1 1>&2

DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE="${MTLS_GUARD_CACHE:-$HOME/.cache/mtls-guard}"

command -v go >/dev/null || { echo "kyverno-build: 'go' not found on PATH" >&2; exit 1; }

VERSION=$(cd "$DIR" && go list -m -f '{{.Version}}' github.com/kyverno/kyverno)
BIN="$CACHE/bin/kyverno-$VERSION"

if [[ -x "$BIN/kyverno" ]]; then
  echo "kyverno-build: cached: $BIN/kyverno"
  echo "$BIN/kyverno" >&3
  exit 0
fi

mkdir -p "$BIN"
exec 9>"$BIN/.lock"
flock 9
if [[ ! -x "$BIN/kyverno" ]]; then
  tmp=$(mktemp -d "$BIN/.build.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  start=$SECONDS
  echo "kyverno-build: building github.com/kyverno/kyverno/cmd/cli/kubectl-kyverno@$VERSION ..."
  (cd "$DIR" && CGO_ENABLED=0 nice -n "${NICE:-15}" go build -trimpath \
    -ldflags="-s -w -X github.com/kyverno/kyverno/pkg/version.BuildVersion=$VERSION" \
    -o "$tmp/kyverno" github.com/kyverno/kyverno/cmd/cli/kubectl-kyverno)
  mv -f "$tmp/kyverno" "$BIN/kyverno"
  echo "kyverno-build: built in $((SECONDS - start))s"
fi
echo "$BIN/kyverno" >&3
