package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/metasrv/metasrv/client"
)

// upsertJSON is the JSON output of upsert and del.
type upsertJSON struct {
	Key     string `json:"key"`
	Applied bool   `json:"applied"`
	// Deleted (del only) is whether a key was removed: false when the key
	// was absent, or when --match-seq did not match.
	Deleted *bool     `json:"deleted,omitempty"`
	Prev    valueJSON `json:"prev"`
	Result  valueJSON `json:"result"`
	// Retried: an earlier attempt may have applied the write (see
	// client.UpsertResult.Retried).
	Retried bool `json:"retried,omitempty"`
}

func newUpsertCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "upsert --key KEY --value VALUE [--match-seq N] [--ttl 30s]",
		Short: "Write a key",
		Long: `Write a key, and print the value before and after.

--match-seq N writes only if the key's seq is N (0: only if absent); on a
mismatch nothing changes and "applied" is false (exit status 0).
--ttl makes the key expire that long after the write.

JSON: {"key":K,"applied":B,"prev":{"seq":N,"value":V},"result":{...}}; values
as in get.`,
		Args: cobra.NoArgs,
	}
	f := cmd.Flags()
	f.String("key", "", "the key (required)")
	f.String("value", "", "the value (required; may be empty)")
	f.Uint64("match-seq", 0, "write only if the key's current seq is N (0 = only if absent)")
	f.Duration("ttl", 0, "expire the key this long after the write, e.g. 30s (default: never)")
	cmd.RunE = runE(func(cmd *cobra.Command) error {
		key, err := requireKey(cmd, "key")
		if err != nil {
			return err
		}
		if !cmd.Flags().Changed("value") {
			return usagef("--value is required (use --value '' for an empty value)")
		}
		value, _ := cmd.Flags().GetString("value")
		ttl, _ := cmd.Flags().GetDuration("ttl")
		if ttl < 0 || (ttl > 0 && ttl.Milliseconds() == 0) {
			return usagef("invalid --ttl %v: want at least 1ms", ttl)
		}
		res, err := a.cli.Upsert(a.ctx, client.Upsert{
			Key:   key,
			Value: []byte(value),
			Match: matchSeqFlag(cmd),
			TTL:   ttl,
		})
		if err != nil {
			return err
		}
		return a.printUpsert(cmd.OutOrStdout(), key, res)
	})
	return cmd
}

func newDelCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "del --key KEY [--match-seq N]",
		Short: "Delete a key",
		Long: `Delete a key, and print the value before and after, as upsert does, and
whether a key was deleted. Deleting an absent key succeeds ("applied") and
deletes nothing ("deleted" false, prev seq 0).

--match-seq N deletes only if the key's seq is N.`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().String("key", "", "the key (required)")
	cmd.Flags().Uint64("match-seq", 0, "delete only if the key's current seq is N")
	cmd.RunE = runE(func(cmd *cobra.Command) error {
		key, err := requireKey(cmd, "key")
		if err != nil {
			return err
		}
		res, err := a.cli.Upsert(a.ctx, client.Upsert{Key: key, Delete: true, Match: matchSeqFlag(cmd)})
		if err != nil {
			return err
		}
		deleted := res.Applied && res.Prev.Exists()
		return a.printWrite(cmd.OutOrStdout(), key, res, &deleted)
	})
	return cmd
}

func (a *app) printUpsert(out io.Writer, key string, res client.UpsertResult) error {
	return a.printWrite(out, key, res, nil)
}

// printWrite prints the result of upsert, or of del with deleted set.
func (a *app) printWrite(out io.Writer, key string, res client.UpsertResult, deleted *bool) error {
	if a.output == "json" {
		return writeJSON(out, upsertJSON{
			Key:     key,
			Applied: res.Applied,
			Deleted: deleted,
			Prev:    newValueJSON(res.Prev),
			Result:  newValueJSON(res.Result),
			Retried: res.Retried,
		})
	}
	fmt.Fprintf(out, "key:     %s\n", key)
	applied := fmt.Sprint(res.Applied)
	if !res.Applied {
		applied += " (match-seq did not match; nothing changed)"
		if res.Retried {
			applied += "; an earlier attempt may have applied it"
		}
	}
	fmt.Fprintf(out, "applied: %s\n", applied)
	if deleted != nil {
		d := fmt.Sprint(*deleted)
		if !*deleted && res.Applied {
			d += " (the key was absent)"
		}
		fmt.Fprintf(out, "deleted: %s\n", d)
	}
	fmt.Fprintf(out, "prev:    %s\n", valueText(res.Prev))
	_, err := fmt.Fprintf(out, "result:  %s\n", valueText(res.Result))
	return err
}
