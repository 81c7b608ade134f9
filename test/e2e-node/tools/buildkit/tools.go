//go:build tools

// Package tools only pins the commands that scripts/node-tools.sh builds.
package tools

import (
	_ "github.com/moby/buildkit/cmd/buildkitd"
	_ "github.com/moby/buildkit/cmd/buildctl"
)
