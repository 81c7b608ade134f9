// Pins the Istio API module whose kubernetes/customresourcedefinitions.gen.yaml
// scripts/e2e-tools.sh copies into the tool cache (istio-crds.yaml). Nothing
// here is built; tools.go only keeps `go mod tidy` from dropping the require.
module mtls-guard/test/e2e/tools/crds

go 1.26.0

require istio.io/api v1.32.0

require (
	github.com/golang/protobuf v1.5.4 // indirect
	google.golang.org/genproto/googleapis/api v0.0.0-20251213004720-97cd9d5aeac2 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)
