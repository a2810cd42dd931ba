package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/metasrv/metasrv/client"
)

// upsertJSON is the JSON output of upsert and del.
type upsertJSON struct {
	keyJSON
	Applied bool `json:"applied"`
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
		Use:   "upsert (--key KEY | --key-base64 B64) (--value VALUE | --value-file PATH) [--match-seq N] [--ttl 30s]",
		Short: "Write a key",
		Long: `Write a key, and print the value before and after.

--match-seq N writes only if the key's seq is N (0: only if absent); on a
mismatch nothing changes and "applied" is false (exit status 0).
--ttl makes the key expire that long after the write.
--value-file PATH reads the value, byte for byte, from a file (- reads
standard input): for values too large or too binary for a command line.
A key and its value together are at most half the server's
grpc_api_max_message_size less 64 KiB (16,711,680 bytes by default).

JSON: {"key":K,"applied":B,"prev":{"seq":N,"value":V},"result":{...}}; the key
and values as in get.`,
		Args: cobra.NoArgs,
	}
	f := cmd.Flags()
	addKeyFlags(cmd)
	f.String("value", "", "the value (may be empty; or give --value-file)")
	f.String("value-file", "", "read the value from this file; - reads standard input")
	f.Uint64("match-seq", 0, "write only if the key's current seq is N (0 = only if absent)")
	f.Duration("ttl", 0, "expire the key this long after the write, e.g. 30s (default: never)")
	cmd.RunE = runE(func(cmd *cobra.Command) error {
		key, err := requireKey(cmd)
		if err != nil {
			return err
		}
		value, err := valueFlags(cmd)
		if err != nil {
			return err
		}
		ttl, _ := cmd.Flags().GetDuration("ttl")
		if ttl < 0 || (ttl > 0 && ttl.Milliseconds() == 0) {
			return usagef("invalid --ttl %v: want at least 1ms", ttl)
		}
		res, err := a.cli.Upsert(a.ctx, client.Upsert{
			Key:   key,
			Value: value,
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

// valueFlags returns the value --value gives, or the content of the file
// --value-file names; exactly one of them must be given.
func valueFlags(cmd *cobra.Command) ([]byte, error) {
	f := cmd.Flags()
	switch {
	case f.Changed("value") && f.Changed("value-file"):
		return nil, usagef("--value and --value-file are both given: give one of them")
	case f.Changed("value"):
		v, _ := f.GetString("value")
		return []byte(v), nil
	case f.Changed("value-file"):
		path, _ := f.GetString("value-file")
		if path == "" {
			return nil, usagef("--value-file is empty: give a file to read the value from, or - for standard input")
		}
		data, err := readFileArg(cmd, path)
		if err != nil {
			return nil, inputError{fmt.Errorf("read the value file: %w", err)}
		}
		return data, nil
	}
	return nil, usagef("--value or --value-file is required (use --value '' for an empty value)")
}

func newDelCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "del (--key KEY | --key-base64 B64) [--match-seq N]",
		Short: "Delete a key",
		Long: `Delete a key, and print the value before and after, as upsert does, and
whether a key was deleted. Deleting an absent key succeeds ("applied") and
deletes nothing ("deleted" false, prev seq 0).

--match-seq N deletes only if the key's seq is N.`,
		Args: cobra.NoArgs,
	}
	addKeyFlags(cmd)
	cmd.Flags().Uint64("match-seq", 0, "delete only if the key's current seq is N")
	cmd.RunE = runE(func(cmd *cobra.Command) error {
		key, err := requireKey(cmd)
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
	if a.output == outputDatabend {
		_, err := fmt.Fprintln(out, dbUpsertLine(key, res))
		return err
	}
	return a.printWrite(out, key, res, nil)
}

// printWrite prints the result of upsert, or of del with deleted set.
func (a *app) printWrite(out io.Writer, key string, res client.UpsertResult, deleted *bool) error {
	if a.output == "json" {
		return writeJSON(out, upsertJSON{
			keyJSON: newKeyJSON(key),
			Applied: res.Applied,
			Deleted: deleted,
			Prev:    newValueJSON(res.Prev),
			Result:  newValueJSON(res.Result),
			Retried: res.Retried,
		})
	}
	fmt.Fprintf(out, "key:     %s\n", keyText(key))
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
