package main

import (
	"github.com/spf13/cobra"
)

// newLuaCmd is databend-metactl's lua, which this metactl does not have:
// it embeds no Lua interpreter. The command exists so that a script
// written for databend-metactl fails with what to use instead, rather
// than "unknown command".
func newLuaCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lua [--file F] [--script S]",
		Short: "Not supported: databend-metactl's Lua scripting",
		Long: `databend-metactl runs Lua scripts with bindings to its gRPC and admin
clients. This databend-metactl embeds no Lua interpreter: the command
fails (exit 2). Use the commands (get, upsert, txn --file, watch,
metrics, ...) from a shell script, or a Go program with package client.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("lua is not supported: this databend-metactl embeds no Lua interpreter; " +
				"use its commands (get, upsert, txn --file, watch, metrics, ...) from a shell script, or a Go program with package client")
		},
	}
	cmd.Flags().StringArray("file", nil, "a Lua script file (not supported)")
	cmd.Flags().StringArray("script", nil, "Lua code (not supported)")
	return cmd
}
