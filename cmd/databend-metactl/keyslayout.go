package main

import (
	"bufio"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/metasrv/metasrv/client"
)

func newKeysLayoutCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys-layout [--depth N]",
		Short: "Count the keys under each directory prefix",
		Long: `Count the keys under each directory prefix ('/' separates directories),
inner directories first, and all keys last (the prefix ""), one
"PREFIX COUNT" line each, as databend-metactl prints it:

  databases/1/tables 3
  databases/1 3
  databases 4
   4

--depth N lists only the prefixes with fewer than N '/' (--depth 1: the
top-level ones). The node counts them itself, as databend-metactl asks
it (SnapshotKeysLayout of Databend's meta.MetaService): every key it
holds after a linearizable read barrier, as an export sees them.
databend-meta counts those of its last snapshot.

JSON: [{"prefix":P,"count":N}, ...] in the same order.`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command) error {
			var depth *uint32
			if cmd.Flags().Changed("depth") {
				d, _ := cmd.Flags().GetUint32("depth")
				depth = &d
			}
			if a.output == "json" {
				layout := []client.KeysCount{}
				_, err := a.cli.KeysLayout(a.ctx, depth, func(kc client.KeysCount) error {
					layout = append(layout, kc)
					return nil
				})
				if err != nil {
					return err
				}
				return writeJSON(cmd.OutOrStdout(), layout)
			}
			w := bufio.NewWriter(cmd.OutOrStdout())
			_, err := a.cli.KeysLayout(a.ctx, depth, func(kc client.KeysCount) error {
				_, err := fmt.Fprintf(w, "%s %d\n", kc.Prefix, kc.Count)
				return err
			})
			if ferr := w.Flush(); err == nil {
				err = ferr
			}
			return err
		}),
	}
	cmd.Flags().Uint32("depth", 0, "list only the prefixes with fewer than N '/' (default: all)")
	return cmd
}
