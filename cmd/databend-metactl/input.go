package main

import (
	"io"
	"os"

	"github.com/spf13/cobra"
)

// readFileArg reads the file a flag names, or standard input for "-".
func readFileArg(cmd *cobra.Command, path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(cmd.InOrStdin())
	}
	return os.ReadFile(path)
}
