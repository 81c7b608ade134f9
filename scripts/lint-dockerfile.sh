#!/usr/bin/env bash
# Lints the Dockerfile with BuildKit's own checks (the rules of `docker build --check`), built from
# the pinned Go module in scripts/dockerfile-lint and cached by version, because this machine has
# no Docker engine and Debian ships no hadolint.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/scripts/dockerfile-lint"
version="$(awk '$1 == "require" && $2 == "github.com/moby/buildkit" {print $3} $1 == "github.com/moby/buildkit" {print $2}' "$src/go.mod" | head -1)"
bin="${MTLS_GUARD_CACHE:-$HOME/.cache/mtls-guard}/bin/dockerfile-lint-buildkit-$version/dockerfile-lint"
if [[ ! -x "$bin" ]]; then
  echo "building dockerfile-lint (buildkit $version) into $(dirname "$bin")" >&2
  mkdir -p "$(dirname "$bin")"
  (cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$bin.tmp" . && mv "$bin.tmp" "$bin")
fi
"$bin" "${@:-$root/Dockerfile}"
