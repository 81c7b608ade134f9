//go:build tools

// Package tools only pins the commands that test/node-probe/build.sh builds.
package tools

import (
	_ "github.com/opencontainers/runc"
)
