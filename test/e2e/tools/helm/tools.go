//go:build tools

// Package tools only pins the command that scripts/e2e-tools.sh builds.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
