package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newListCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list [--prefix P] [--limit N] [--serializable]",
		Short: "List the keys with a prefix",
		Long: `List the keys that start with a prefix (all keys by default), in key order:
a linearizable read, or with --serializable the serving node's own state
(see get).

JSON: one array holding an object per key, each as get prints it
([{"key":K,"seq":N,"value":V}, ...], "key_base64" for a key that is not
UTF-8); [] when no key matches. An array, not JSON lines, so that the output
is one JSON document. The table shows keys as get's text does.`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().String("prefix", "", "list keys starting with this (default: all keys)")
	cmd.Flags().Uint64("limit", 0, "list at most N keys (0 = no limit)")
	addSerializableFlag(cmd)
	cmd.RunE = runE(func(cmd *cobra.Command) error {
		prefix, _ := cmd.Flags().GetString("prefix")
		limit, _ := cmd.Flags().GetUint64("limit")
		kvs, err := a.cli.List(a.ctx, prefix, limit, readOptions(cmd)...)
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if a.output == "json" {
			items := make([]kvJSON, len(kvs))
			for i, kv := range kvs {
				items[i] = newKVJSON(kv)
			}
			return writeJSON(out, items)
		}
		tw := newTable(out)
		fmt.Fprintln(tw, "KEY\tSEQ\tEXPIRE_AT\tVALUE")
		for _, kv := range kvs {
			expire := "-"
			if kv.ExpireAtMs != 0 {
				expire = expireText(kv.ExpireAtMs)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", keyText(kv.Key), kv.Seq, expire, dataText(kv.Data))
		}
		return tw.Flush()
	})
	return cmd
}
