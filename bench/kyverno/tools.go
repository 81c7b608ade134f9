//go:build tools

// Package tools pins the Kyverno CLI used as the offline benchmark peer of
// `mtls-guard check` (see bench/kyverno/build.sh); nothing here is compiled
// into mtls-guard.
package tools

import _ "github.com/kyverno/kyverno/cmd/cli/kubectl-kyverno"
