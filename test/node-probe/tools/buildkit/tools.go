//go:build tools

// Package tools only pins the commands that test/node-probe/build.sh builds.
package tools

import (
	_ "github.com/moby/buildkit/cmd/buildkitd"
	_ "github.com/moby/buildkit/cmd/buildctl"
)
