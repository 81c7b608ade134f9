#!/usr/bin/env bash
# Copies the published wgpolicyk8s.io/v1alpha2 PolicyReport and ClusterPolicyReport CRDs into the
# tool cache, for test/cli/scan-policyreport.test.ts (the schema `mtls-guard scan -o policyreport`
# must satisfy) and for the live-cluster e2e, which installs them:
#   policyreports.yaml          github.com/kyverno/kyverno config/crds/policyreport/wgpolicyk8s.io_policyreports.yaml
#   clusterpolicyreports.yaml   github.com/kyverno/kyverno config/crds/policyreport/wgpolicyk8s.io_clusterpolicyreports.yaml
#   policyreport-crds.yaml      both, as one multi-document file for `kubectl apply -f`
# Kyverno's module carries them because sigs.k8s.io/wg-policy-prototypes (the working group's
# repository) is not served by the Go module proxy (403 "not available"); the schema is the same
# v1alpha2 API. The version is pinned in policyreport-crds/go.mod (go.sum verifies the download),
# fetched with `go mod download -json` like addon-crds.sh.
#
#   DIR=$(test/e2e/tools/policyreport-crds.sh)
#
# Output dir: ${MTLS_GUARD_CACHE:-$HOME/.cache/mtls-guard}/crds/policyreport-kyverno-<version>;
# present files are reused (instant), so only the first run downloads the module (10 MB zip,
# unless Go's module cache has it). The directory is the LAST line of stdout; progress goes to stderr.
set -euo pipefail

exec 3>&1 1>&2 # keep stdout for the final path only

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MOD="$HERE/policyreport-crds"
CACHE="${MTLS_GUARD_CACHE:-$HOME/.cache/mtls-guard}"

command -v go >/dev/null || { echo "policyreport-crds: 'go' not found on PATH" >&2; exit 1; }

KYVERNO=github.com/kyverno/kyverno
VERSION=$(cd "$MOD" && go list -m -f '{{.Version}}' "$KYVERNO")
OUT="$CACHE/crds/policyreport-kyverno-${VERSION}"
OUTPUTS=(policyreports.yaml clusterpolicyreports.yaml policyreport-crds.yaml)

all_present() {
  local f
  for f in "${OUTPUTS[@]}"; do [[ -s "$OUT/$f" ]] || return 1; done
}

if all_present; then
  echo "policyreport-crds: cached: $OUT"
  echo "$OUT" >&3
  exit 0
fi

mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9

if ! all_present; then
  dir=$(cd "$MOD" && go mod download -json "$KYVERNO" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  src="$dir/config/crds/policyreport"
  for name in policyreports clusterpolicyreports; do
    [[ -s "$src/wgpolicyk8s.io_$name.yaml" ]] || { echo "policyreport-crds: $src/wgpolicyk8s.io_$name.yaml not found" >&2; exit 1; }
    install -m 0644 "$src/wgpolicyk8s.io_$name.yaml" "$OUT/$name.yaml.tmp"
  done
  for name in policyreports clusterpolicyreports; do echo "---"; sed '/^---$/d' "$OUT/$name.yaml.tmp"; done >"$OUT/policyreport-crds.yaml.tmp"
  for f in "${OUTPUTS[@]}"; do mv -f "$OUT/$f.tmp" "$OUT/$f"; done
  echo "policyreport-crds: PolicyReport and ClusterPolicyReport CRDs from kyverno $VERSION"
fi

all_present || { echo "policyreport-crds: some outputs are missing in $OUT" >&2; exit 1; }
echo "$OUT" >&3
