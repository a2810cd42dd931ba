package main

import (
	"encoding/base64"
	"fmt"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/metasrv/metasrv/client"
)

func newGetCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get (--key KEY | --key-base64 B64) [--serializable]",
		Short: "Print the value of a key",
		Long: `Print the value of a key: a linearizable read, or with --serializable the
serving node's own state, without confirming with the leader (faster, and
served by a node cut off from the leader, but possibly stale).

Keys are bytes: --key takes a key that is not UTF-8 as the shell passes it
(bash: --key $'a\xffb'), --key-base64 as JSON output shows it.

JSON: {"key":K,"seq":N,"value":V} with the value as a string when it is valid
UTF-8, else base64 under "value_base64"; "expire_at_ms" when the key expires.
The key likewise: "key" when it is valid UTF-8, else base64 under
"key_base64". An absent key prints seq 0 and no value, and is not an error.

Text: one "name: value" line per field; the key as it is, or Go-quoted
("a\xffb") when it is not UTF-8, holds a character that does not print, or
starts with a double quote; the value Go-quoted, or base64 when it is not
UTF-8.`,
		Args: cobra.NoArgs,
	}
	addKeyFlags(cmd)
	addSerializableFlag(cmd)
	cmd.RunE = runE(func(cmd *cobra.Command) error {
		key, err := requireKey(cmd)
		if err != nil {
			return err
		}
		kv, err := a.cli.Get(a.ctx, key, readOptions(cmd)...)
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		switch a.output {
		case "json":
			return writeJSON(out, newKVJSON(kv))
		case outputDatabend:
			line, err := dbGetJSON(kv)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(out, "%s\n", line)
			return err
		}
		fmt.Fprintf(out, "key:          %s\n", keyText(kv.Key))
		if !kv.Exists() {
			_, err := fmt.Fprintf(out, "seq:          0 (absent)\n")
			return err
		}
		fmt.Fprintf(out, "seq:          %d\n", kv.Seq)
		fmt.Fprintf(out, "version:      %d (created at seq %d)\n", kv.Version, kv.CreateSeq)
		if kv.ExpireAtMs != 0 {
			fmt.Fprintf(out, "expire_at:    %s (%d ms)\n", expireText(kv.ExpireAtMs), kv.ExpireAtMs)
		}
		if utf8.Valid(kv.Data) {
			_, err = fmt.Fprintf(out, "value:        %q\n", kv.Data)
		} else {
			_, err = fmt.Fprintf(out, "value_base64: %s\n", base64.StdEncoding.EncodeToString(kv.Data))
		}
		return err
	})
	return cmd
}

// addSerializableFlag adds --serializable to a read command; readOptions
// turns it into client read options.
func addSerializableFlag(cmd *cobra.Command) {
	cmd.Flags().Bool("serializable", false,
		"read the serving node's state without confirming with the leader: faster, possibly stale (default: linearizable)")
}

func readOptions(cmd *cobra.Command) []client.ReadOption {
	if s, _ := cmd.Flags().GetBool("serializable"); s {
		return []client.ReadOption{client.Serializable()}
	}
	return nil
}
