// Command etcd is the upstream etcd server: the same entry point as the
// etcd repository's root main.go, built from the pinned server/v3 module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
