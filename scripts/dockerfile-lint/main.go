// dockerfile-lint runs BuildKit's Dockerfile checks — the rules behind `docker build --check` —
// without a Docker engine. Base images are not pulled (see offlineResolver).
// Exit 1 when any rule fires or the file does not parse.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/opencontainers/go-digest"
)

type offlineResolver struct{}

// ResolveImageConfig answers every base image with an empty linux/amd64 config, so the lint
// runs offline; checks that read a base image's ENV or USER see none.
func (offlineResolver) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	config := []byte(`{"architecture":"amd64","os":"linux","config":{}}`)
	return ref, digest.FromBytes(config), config, nil
}

var _ llb.ImageMetaResolver = offlineResolver{}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dockerfile-lint Dockerfile...")
		os.Exit(2)
	}
	failed := false
	for _, path := range os.Args[1:] {
		dt, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			os.Exit(2)
		}
		sourceMap := llb.NewSourceMap(nil, path, "Dockerfile", dt)
		sourceMap.Definition = &llb.Definition{}
		res, err := dockerfile2llb.DockerfileLint(context.Background(), dt, dockerfile2llb.ConvertOpt{
			MetaResolver: offlineResolver{}, SourceMap: sourceMap, AllStages: true,
		})
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			os.Exit(1)
		}
		for _, w := range res.Warnings {
			failed = true
			line := 0
			if len(w.Location.Ranges) > 0 {
				line = int(w.Location.Ranges[0].Start.Line)
			}
			fmt.Printf("%s:%d: %s: %s (%s)\n", path, line, w.RuleName, w.Detail, w.URL)
		}
		if res.Error != nil {
			failed = true
			fmt.Printf("%s: error: %s\n", path, res.Error.Message)
		}
		fmt.Printf("%s: %d warnings\n", path, len(res.Warnings))
	}
	if failed {
		os.Exit(1)
	}
}
