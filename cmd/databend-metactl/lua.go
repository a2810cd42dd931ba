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

// newBenchClientNumConnCmd is databend-metactl's bench-client-num-conn,
// a debugging loop that opens connections until --num and never closes
// them. This metactl refuses it (exit 2) and names bench, which holds
// --conns connections under a measured load.
func newBenchClientNumConnCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench-client-num-conn [--num N]",
		Short: "Not supported: use bench --conns N",
		Long: `databend-metactl's bench-client-num-conn opens --num connections, one
get each, and keeps them open. This databend-metactl has bench instead:
bench --conns N --clients N holds N connections to the cluster under load
and reports what they achieved.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return usagef("bench-client-num-conn is not supported: use bench --conns N --clients N (N connections under load, with a report)")
		},
	}
	cmd.Flags().Uint64("num", 10000, "connections to open (not supported)")
	return cmd
}

// newFilterTenantCmd is databend-metactl's filter-tenant, which keeps one
// tenant's records of a dump by following the references inside
// Databend's protobuf values; this metactl does not decode them. It is
// refused (exit 2), naming Databend's own, which works offline on a dump
// in Databend's format, such as export --format databend writes.
func newFilterTenantCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "filter-tenant --tenant T [--input F] [--output F]",
		Short: "Not supported: use Databend's databend-metactl filter-tenant on a Databend-format export",
		Long: `databend-metactl's filter-tenant keeps one tenant's records of an export
dump, following the database and table ids inside Databend's protobuf
values. This databend-metactl does not decode those values: the command
fails (exit 2). Export in Databend's format (export --format databend), run
Databend's databend-metactl filter-tenant on that file (it needs no
server), and import the result with import.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return usagef("filter-tenant is not supported: export --format databend --db F, run Databend's databend-metactl filter-tenant --tenant T --input F --output G (offline), then import --db G")
		},
	}
	cmd.Flags().String("tenant", "", "the tenant to keep (not supported)")
	cmd.Flags().String("input", "", "the dump to read (not supported)")
	cmd.Flags().String("output", "", "the dump to write (not supported)")
	return cmd
}
