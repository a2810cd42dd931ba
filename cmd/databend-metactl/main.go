// Command databend-metactl inspects and edits a metasrv cluster through its
// public gRPC API. Run `databend-metactl --help` for the commands.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
