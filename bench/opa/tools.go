//go:build tools

// Package tools pins the OPA server used as the benchmark peer (see
// bench/opa/build.sh); nothing here is compiled into mtls-guard.
package tools

import _ "github.com/open-policy-agent/opa"
