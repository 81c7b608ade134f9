#!/usr/bin/env bash
# Shared by the benchmark peers' build scripts (bench/opa/build.sh, bench/kyverno/build.sh):
# build one Go command from a pinned module, cached by version, so a second run is instant.
#
#   source bench/go-tool.sh
#   go_tool_build NAME MODULE_DIR MODULE PACKAGE LDFLAGS
#
# Output: ${MTLS_GUARD_CACHE:-$HOME/.cache/mtls-guard}/bin/NAME-<version>/NAME, built with
# CGO_ENABLED=0 -trimpath at `nice ${NICE:-0}` through a temp file (no half-written binaries),
# under a flock so parallel callers wait for each other. LDFLAGS may use $VERSION (v1.2.3) and
# $BARE_VERSION (1.2.3). The binary
# path is printed on fd 3 (the callers' stdout); progress goes to stderr.
expand_version() {
  local flags=${1//\$BARE_VERSION/${2#v}}
  echo "${flags//\$VERSION/$2}"
}

go_tool_build() {
  local name=$1 dir=$2 module=$3 package=$4 ldflags=$5
  local cache="${MTLS_GUARD_CACHE:-$HOME/.cache/mtls-guard}"
  command -v go >/dev/null || { echo "$name-build: 'go' not found on PATH" >&2; return 1; }
  local VERSION
  VERSION=$(cd "$dir" && go list -m -f '{{.Version}}' "$module")
  local bin="$cache/bin/$name-$VERSION"
  if [[ -x "$bin/$name" ]]; then
    echo "$name-build: cached: $bin/$name" >&2
    echo "$bin/$name" >&3
    return 0
  fi
  mkdir -p "$bin"
  exec 9>"$bin/.lock"
  flock 9
  if [[ ! -x "$bin/$name" ]]; then
    local tmp start=$SECONDS
    tmp=$(mktemp -d "$bin/.build.XXXXXX")
    echo "$name-build: building $package@$VERSION ..." >&2
    if ! (cd "$dir" && CGO_ENABLED=0 nice -n "${NICE:-0}" go build -trimpath -ldflags="$(expand_version "$ldflags" "$VERSION")" -o "$tmp/$name" "$package") >&2; then
      rm -rf "$tmp"
      return 1
    fi
    mv -f "$tmp/$name" "$bin/$name"
    rmdir "$tmp"
    echo "$name-build: built in $((SECONDS - start))s" >&2
  fi
  echo "$bin/$name" >&3
}
