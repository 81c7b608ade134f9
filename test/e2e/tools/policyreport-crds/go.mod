// Pins the module whose PolicyReport CRD manifests test/e2e/tools/policyreport-crds.sh copies into
// the tool cache: Kyverno's config/crds/policyreport/wgpolicyk8s.io_{policyreports,clusterpolicyreports}.yaml,
// the wgpolicyk8s.io/v1alpha2 PolicyReport and ClusterPolicyReport CRDs as Kyverno installs them
// (its chart's crds/templates/wgpolicyk8s.io/ carries the same schema). `mtls-guard scan -o
// policyreport` is validated against them (test/cli/scan-policyreport.test.ts) and the live-cluster
// e2e installs them. Nothing here is built or imported, so do not run `go mod tidy` (it would drop
// the require); bump the version here and run `go mod download github.com/kyverno/kyverno` in
// this folder.
module mtls-guard/test/e2e/tools/policyreport-crds

go 1.26.0

require github.com/kyverno/kyverno v1.19.1
