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
source "$DIR/../go-tool.sh"
# shellcheck disable=SC2016 # $VERSION is filled in by go_tool_build
NICE=${NICE:-15} go_tool_build kyverno "$DIR" github.com/kyverno/kyverno github.com/kyverno/kyverno/cmd/cli/kubectl-kyverno \
  '-s -w -X github.com/kyverno/kyverno/pkg/version.BuildVersion=$VERSION'
