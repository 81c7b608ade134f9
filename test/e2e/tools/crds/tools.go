//go:build tools

// Package tools only pins istio.io/api (for its CRD manifest).
package tools

import _ "istio.io/api/security/v1"
