package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/metasrv/metasrv/internal/buildinfo"
)

// version is set at build time:
//
//	go build -ldflags "-X main.version=v1.2.3" ./cmd/databend-metactl
var version = ""

// versionLine is what `version` and `--version` print, in the format of
// `databend-meta --version` (see buildinfo).
func versionLine() string { return buildinfo.Line("databend-metactl", version) }

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of databend-metactl",
		Long: `Print one line: the name, the version, and the commit and Go version it
was built from when known, e.g.

  databend-metactl v1.2.0 (commit 0123456789ab, go1.26.8)

databend-meta --version prints the same line for the server.`,
		Args: cobra.NoArgs,
		// Nothing to connect to: skip the global flags' checks.
		PersistentPreRunE: func(*cobra.Command, []string) error { return nil },
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), versionLine())
			return err
		},
	}
}
