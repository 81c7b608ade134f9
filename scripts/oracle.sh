#!/usr/bin/env bash
# Builds the Istio differential oracle (test tooling only, see test/oracle/README.md) from the
# pinned Go module in test/oracle/ and caches it outside the repo.
#
#   ORACLE=$(scripts/oracle.sh)          # builds if needed; binary path is the LAST stdout line
#   scripts/oracle.sh --if-built         # prints the path only if already built; exit 3 otherwise
#
# Output: ${MTLS_GUARD_CACHE:-$HOME/.cache/mtls-guard}/oracle/<istio version>/<source hash>/oracle,
# where <istio version> is the istio.io/istio (pseudo-)version and istio.io/api version pinned in
# test/oracle/go.mod, and <source hash> covers main.go, go.mod and go.sum, so editing the oracle
# builds into a new directory. A warm call does no Go work (well under a second). Progress goes to
# stderr; the build takes a flock so parallel callers wait for each other and writes through a temp
# file + mv, so an interrupted build never leaves a truncated binary behind.
set -euo pipefail

exec 3>&1 1>&2 # keep stdout for the final path only

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC="$ROOT/test/oracle"
CACHE="${MTLS_GUARD_CACHE:-$HOME/.cache/mtls-guard}"

if_built=false
case "${1:-}" in
  --if-built) if_built=true ;;
  "") ;;
  *) echo "usage: scripts/oracle.sh [--if-built]" >&2; exit 2 ;;
esac

# Pinned version of a module in test/oracle/go.mod (read with awk: no Go needed on a warm call).
modver() {
  awk -v m="$1" '($1 == "require" && $2 == m) {print $3; exit} ($1 == m) {print $2; exit}' "$SRC/go.mod"
}
ISTIO_VERSION=$(modver istio.io/istio)
API_VERSION=$(modver istio.io/api)
[[ -n "$ISTIO_VERSION" && -n "$API_VERSION" ]] || { echo "oracle: cannot read pinned versions from $SRC/go.mod" >&2; exit 1; }
SUM=$(cd "$SRC" && cat go.mod go.sum ./*.go | sha256sum | cut -c1-12)

DIR="$CACHE/oracle/istio-${ISTIO_VERSION}_api-${API_VERSION}/$SUM"
BIN="$DIR/oracle"

if [[ -x "$BIN" ]]; then
  echo "oracle: cached: $BIN"
  echo "$BIN" >&3
  exit 0
fi
if $if_built; then
  echo "oracle: not built yet (run scripts/oracle.sh)"
  exit 3
fi

command -v go >/dev/null || { echo "oracle: 'go' not found on PATH" >&2; exit 1; }
mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9
if [[ ! -x "$BIN" ]]; then # another caller may have built it while we waited
  start=$SECONDS
  echo "oracle: building Istio $ISTIO_VERSION (api $API_VERSION) into $DIR ..."
  (cd "$SRC" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$BIN.tmp.$$" .)
  mv -f "$BIN.tmp.$$" "$BIN"
  echo "oracle: built in $((SECONDS - start))s"
fi
echo "$BIN" >&3
