package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/cobra"
)

// EnvGrpcAPIAddress is the environment variable that Databend's
// databend-metactl reads for its global --grpc-api-address: the address
// of the legacy --export form when the flag is left out.
const EnvGrpcAPIAddress = "METASRV_GRPC_API_ADDRESS"

// addLegacyFlags adds the global flags that Databend's databend-metactl
// still accepts without a subcommand (deprecated there, "use subcommand
// instead"): --export and --import with their arguments. They are
// root's own flags, so a subcommand does not take them.
func addLegacyFlags(root *cobra.Command) {
	f := root.Flags()
	f.Bool("export", false, "deprecated form of the export command (as databend-metactl --export), in Databend's format: takes --grpc-api-address or --raft-dir, --db, --export-chunk-size, --id")
	f.Bool("import", false, "deprecated form of the import command (as databend-metactl --import): takes --raft-dir, --db, --id, --initial-cluster")
	f.String("raft-dir", "", "with --export or --import: the node's raft_dir")
	f.String("db", "", "with --export: the file to write (default stdout); with --import: the dump to read (default stdin)")
	f.Uint64("export-chunk-size", 0, "with --export: export's --chunk-size")
	f.Uint64("id", 0, "with --export or --import: the node id, as the commands' --id")
	f.StringArray("initial-cluster", nil, "with --import: the new cluster's nodes, as import's --initial-cluster")
}

// runLegacy runs root without a subcommand: the legacy --export or
// --import form, mapped onto the export or import command with the same
// values; without either, the help, as databend-metactl prints it.
func runLegacy(root *cobra.Command) error {
	f := root.Flags()
	export, _ := f.GetBool("export")
	imp, _ := f.GetBool("import")
	var sub string
	var args []string
	pass := func(legacy, flag string) {
		if f.Changed(legacy) {
			v, _ := f.GetString(legacy)
			args = append(args, "--"+flag+"="+v)
		}
	}
	passUint := func(legacy, flag string) {
		if f.Changed(legacy) {
			v, _ := f.GetUint64(legacy)
			args = append(args, "--"+flag+"="+strconv.FormatUint(v, 10))
		}
	}
	switch {
	case export && imp:
		return usagef("give --export or --import, not both (better: the export or import command)")
	case export:
		if f.Changed("initial-cluster") {
			return usagef("--initial-cluster applies to --import, not --export")
		}
		// Only Databend's operators use this form: it writes Databend's
		// format, which databend-metactl --import reads.
		sub = "export"
		args = append(args, "--format="+formatDatabend)
		pass("raft-dir", "raft-dir")
		pass("db", "db")
		passUint("export-chunk-size", "chunk-size")
		passUint("id", "id")
	case imp:
		if f.Changed("export-chunk-size") {
			return usagef("--export-chunk-size applies to --export, not --import")
		}
		sub = "import"
		pass("raft-dir", "raft-dir")
		pass("db", "db")
		passUint("id", "id")
		specs, _ := f.GetStringArray("initial-cluster")
		for _, s := range specs {
			args = append(args, "--initial-cluster="+s)
		}
	default:
		for _, name := range []string{"raft-dir", "db", "export-chunk-size", "id", "initial-cluster"} {
			if f.Changed(name) {
				return usagef("--%s without a command: give a command (e.g. export, import) and its flags after it", name)
			}
		}
		return root.Help()
	}
	cmd, _, err := root.Find([]string{sub})
	if err != nil {
		return err
	}
	if err := cmd.ParseFlags(args); err != nil {
		return usageError{fmt.Errorf("--%s: %w", sub, err)}
	}
	return cmd.RunE(cmd, nil)
}

// legacyAddress applies METASRV_GRPC_API_ADDRESS to the legacy --export
// form, as databend-metactl does, when --grpc-api-address is left out.
func (a *app) legacyAddress(cmd *cobra.Command) {
	if cmd.HasParent() || cmd.Flags().Changed("grpc-api-address") {
		return
	}
	if export, _ := cmd.Flags().GetBool("export"); !export {
		return
	}
	if v := os.Getenv(EnvGrpcAPIAddress); v != "" {
		a.addresses = v
	}
}
