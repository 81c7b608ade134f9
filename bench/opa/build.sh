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
source "$DIR/../go-tool.sh"
# shellcheck disable=SC2016 # $VERSION is filled in by go_tool_build
go_tool_build opa "$DIR" github.com/open-policy-agent/opa github.com/open-policy-agent/opa \
  '-s -w -X github.com/open-policy-agent/opa/v1/version.Version=$BARE_VERSION'
