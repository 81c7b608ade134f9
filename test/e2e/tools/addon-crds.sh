#!/usr/bin/env bash
# Copies the pinned CRD manifests of the add-ons the chart can use into the tool cache, for
# test/e2e/09-install-modes.e2e.ts (server-side dry runs of every certificates mode):
#   cert-manager-crds.yaml    github.com/cert-manager/cert-manager deploy/crds/*.yaml
#   servicemonitor-crd.yaml   github.com/prometheus-operator/prometheus-operator
#                             example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml
# Versions are pinned in addon-crds/go.mod (go.sum verifies the downloads), fetched with
# `go mod download -json` like scripts/e2e-tools.sh does for Istio's CRDs.
#
#   DIR=$(test/e2e/tools/addon-crds.sh)
#
# Output dir: ${MTLS_GUARD_CACHE:-$HOME/.cache/mtls-guard}/crds/<key>, <key> naming both
# versions; present files are reused (instant), so only the first run downloads the modules. The
# directory is the LAST line of stdout; progress goes to stderr.
set -euo pipefail

exec 3>&1 1>&2 # keep stdout for the final path only

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MOD="$HERE/addon-crds"
CACHE="${MTLS_GUARD_CACHE:-$HOME/.cache/mtls-guard}"

command -v go >/dev/null || { echo "addon-crds: 'go' not found on PATH" >&2; exit 1; }

modver() { (cd "$MOD" && go list -m -f '{{.Version}}' "$1"); }
moddir() { (cd "$MOD" && go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'); }

CM=github.com/cert-manager/cert-manager
PO=github.com/prometheus-operator/prometheus-operator
CM_VERSION=$(modver "$CM")
PO_VERSION=$(modver "$PO")
OUT="$CACHE/crds/cert-manager-${CM_VERSION}_prometheus-operator-${PO_VERSION}"
OUTPUTS=(cert-manager-crds.yaml servicemonitor-crd.yaml)

all_present() {
  local f
  for f in "${OUTPUTS[@]}"; do [[ -s "$OUT/$f" ]] || return 1; done
}

if all_present; then
  echo "addon-crds: cached: $OUT"
  echo "$OUT" >&3
  exit 0
fi

mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9

if [[ ! -s "$OUT/cert-manager-crds.yaml" ]]; then
  dir=$(moddir "$CM")
  shopt -s nullglob
  files=("$dir"/deploy/crds/*.yaml)
  [[ ${#files[@]} -gt 0 ]] || { echo "addon-crds: no CRDs in $dir/deploy/crds" >&2; exit 1; }
  for f in "${files[@]}"; do echo "---"; sed '/^---$/d' "$f"; done >"$OUT/cert-manager-crds.yaml.tmp"
  mv -f "$OUT/cert-manager-crds.yaml.tmp" "$OUT/cert-manager-crds.yaml"
  echo "addon-crds: cert-manager $CM_VERSION: ${#files[@]} CRDs"
fi

if [[ ! -s "$OUT/servicemonitor-crd.yaml" ]]; then
  dir=$(moddir "$PO")
  src="$dir/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"
  [[ -s "$src" ]] || { echo "addon-crds: $src not found" >&2; exit 1; }
  install -m 0644 "$src" "$OUT/servicemonitor-crd.yaml.tmp"
  mv -f "$OUT/servicemonitor-crd.yaml.tmp" "$OUT/servicemonitor-crd.yaml"
  echo "addon-crds: ServiceMonitor CRD from prometheus-operator $PO_VERSION"
fi

all_present || { echo "addon-crds: some outputs are missing in $OUT" >&2; exit 1; }
echo "$OUT" >&3
