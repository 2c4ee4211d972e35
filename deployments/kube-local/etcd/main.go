// Command etcd is etcd's own server, built from its Go module for the local Kubernetes API server (kep services
// start k8s). `go install go.etcd.io/etcd/server/v3@…` is refused because etcd's go.mod has replace directives,
// so this module requires it and calls its entry point.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
