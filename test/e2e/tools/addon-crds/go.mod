// Pins the modules whose CRD manifests test/e2e/tools/addon-crds.sh copies into the tool cache
// for test/e2e/09-install-modes.e2e.ts: cert-manager's deploy/crds/*.yaml (the chart's
// cert-manager mode) and prometheus-operator's ServiceMonitor CRD (serviceMonitor.enabled).
// Nothing here is built or imported, so do not run `go mod tidy` (it would drop both requires);
// bump a version by editing it here and running `go mod download <module>` in this folder.
module mtls-guard/test/e2e/tools/addon-crds

go 1.26.0

require (
	github.com/cert-manager/cert-manager v1.21.2
	github.com/prometheus-operator/prometheus-operator v0.85.0
)
