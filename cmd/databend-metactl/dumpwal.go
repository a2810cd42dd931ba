package main

import (
	"github.com/spf13/cobra"

	"github.com/metasrv/metasrv/internal/backup"
)

func newDumpWALCmd(*app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dump-raft-log-wal --raft-dir D",
		Short: "Print every record of a node's raft WAL, one per line",
		Long: `Print every record of the WAL in a node's raft_dir, oldest first, one line
each: the file and offset, then the record: crc, metadata (the node id and
cluster name), snapshot (index, term, conf state), hard_state (term, vote,
commit) or entry (term, index, type and the decoded command, or for a
membership change the changes and the node addresses in its context).

The files are only read, and no lock is taken: it also works on the raft_dir
of a running node, whose last record may then be incomplete. A record that
cannot be read ends the output with an error (exit 1).`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().String("raft-dir", "", "the node's raft_dir (required)")
	cmd.Flags().BoolP("decode-values", "V", false, "databend-metactl's: decode Databend's protobuf values (not supported)")
	cmd.Flags().BoolP("raw", "R", false, "databend-metactl's: the values' raw bytes (not supported)")
	cmd.RunE = runE(func(cmd *cobra.Command) error {
		for _, name := range []string{"decode-values", "raw"} {
			if cmd.Flags().Changed(name) {
				return usagef("--%s is not supported: this WAL is metasrv's, and each record's command is printed decoded, values included", name)
			}
		}
		dir, err := requireString(cmd, "raft-dir")
		if err != nil {
			return err
		}
		return backup.DumpWAL(dir, cmd.OutOrStdout())
	})
	return cmd
}
