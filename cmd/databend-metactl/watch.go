package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/metasrv/metasrv/client"
)

// watchEventJSON is one line of watch output for an event.
type watchEventJSON struct {
	keyJSON
	Revision       uint64     `json:"revision"`
	Seq            uint64     `json:"seq"`
	Prev           *valueJSON `json:"prev"`
	Current        *valueJSON `json:"current"`
	Initialization bool       `json:"initialization"`
}

// flushDoneJSON is the line after the initial values.
type flushDoneJSON struct {
	FlushDone bool `json:"flush_done"`
}

func newWatchCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "watch (--prefix P | --key K [--key-end E]) [--start-revision N] [--initial-flush] [--filter all|update|delete]",
		Short: "Print the changes of keys as they happen, one JSON line each",
		Long: `Print every change of a key, a key range [--key, --key-end) or the keys with
a prefix, in revision order, one JSON line per event, until interrupted
(Ctrl-C, exit status 0):

  {"key":K,"revision":R,"seq":N,"prev":V|null,"current":V|null,"initialization":false}

K is the key, or "key_base64":B when it is not UTF-8 (as get prints it).
R is the revision of the change (the changes of one raft entry share it),
N the key's seq after it (a delete takes no seq: the deleted value's). V
is a value as get prints it ({"seq":N,"value":S} or "value_base64"); prev
null: the key was created; current null: it was deleted.

--initial-flush first prints the current values ("initialization":true,
revision the value's mod revision), then {"flush_done":true}, then the
changes. --start-revision N replays the changes from revision N on, as far
back as the servers' history reaches. Without either, the changes after
the command started.

The watch resumes by itself, on another address if needed, when its stream
breaks (node lost or shutting down, the reader too slow), without losing or
repeating an event; resumes are reported on stderr. If the history no
longer reaches back to where it must resume, it fails (exit status 1): start
again with --initial-flush.

Output is JSON lines whatever --output says, but --output databend prints
databend-metactl's lines ("received-watch-event: INIT:(K: None -> (seq=N
[...] 'V'))", then CHANGE:None ending the flush, then "CHANGE:(K: PREV ->
CURRENT)"), always after an initial flush as databend-metactl does. --timeout does not apply
unless given: then the watch ends after that long, with exit status 0.`,
		Args: cobra.NoArgs,
	}
	f := cmd.Flags()
	f.String("prefix", "", "watch the keys that start with this")
	f.String("key", "", "watch this key, or with --key-end the range [key, key-end)")
	f.String("key-end", "", "end (exclusive) of the range that starts at --key")
	f.Uint64("start-revision", 0, "replay the changes from this revision on, then go on live")
	f.Bool("initial-flush", false, "print the current values first, then {\"flush_done\":true}")
	f.String("filter", "all", "all, update (writes only) or delete (deletes only)")
	cmd.RunE = runE(func(cmd *cobra.Command) error {
		opts, err := watchOptions(cmd)
		if err != nil {
			return err
		}
		if a.output == outputDatabend {
			opts.InitialFlush = true // as databend-metactl's watch always does
		}
		ctx := cmd.Context()
		if cmd.Flags().Changed("timeout") {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, a.timeout)
			defer cancel()
		}
		stderr := cmd.ErrOrStderr()
		opts.OnResume = func(i client.ResumeInfo) {
			// The first failure in a row, then every 10th: a cluster that
			// is down for a while does not flood stderr.
			if i.Failures > 1 && i.Failures%10 != 0 {
				return
			}
			from := "the initial flush, again"
			if i.StartRevision != 0 {
				from = fmt.Sprintf("revision %d", i.StartRevision)
			}
			attempt := ""
			if i.Failures > 1 {
				attempt = fmt.Sprintf(" (%d attempts in a row failed)", i.Failures)
			}
			fmt.Fprintf(stderr, "databend-metactl: watch: stream from %s ended (%v); resuming from %s%s\n", i.Endpoint, i.Err, from, attempt)
		}
		w, err := a.cli.Watch(ctx, opts)
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted while starting
			}
			return err
		}
		defer w.Close()
		out := cmd.OutOrStdout()
		enc := json.NewEncoder(out)
		enc.SetEscapeHTML(false)
		for {
			ev, err := w.Next()
			if err != nil {
				if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
					return nil // Ctrl-C or --timeout: the normal end
				}
				return err
			}
			if a.output == outputDatabend {
				if _, err := fmt.Fprintln(out, dbWatchLine(ev)); err != nil {
					return fmt.Errorf("write the event: %w", err)
				}
				continue
			}
			var line any = flushDoneJSON{FlushDone: true}
			if !ev.FlushDone {
				line = watchEventJSON{
					keyJSON:        newKeyJSON(ev.Key),
					Revision:       ev.Revision,
					Seq:            ev.Seq,
					Prev:           optKVJSON(ev.Prev),
					Current:        optKVJSON(ev.Current),
					Initialization: ev.Initialization,
				}
			}
			if err := enc.Encode(line); err != nil {
				return fmt.Errorf("write the event: %w", err)
			}
		}
	})
	return cmd
}

// watchOptions reads the watch flags.
func watchOptions(cmd *cobra.Command) (client.WatchOptions, error) {
	fl := cmd.Flags()
	var o client.WatchOptions
	o.Prefix, _ = fl.GetString("prefix")
	o.Key, _ = fl.GetString("key")
	o.KeyEnd, _ = fl.GetString("key-end")
	o.StartRevision, _ = fl.GetUint64("start-revision")
	o.InitialFlush, _ = fl.GetBool("initial-flush")
	switch {
	case o.Prefix != "" && (o.Key != "" || o.KeyEnd != ""):
		return o, usagef("give --prefix, or --key with or without --key-end, not both")
	case fl.Changed("prefix") && o.Prefix == "":
		return o, usagef("--prefix is empty: give a non-empty prefix, or --key")
	case fl.Changed("key") && o.Key == "":
		return o, usagef("--key is empty: keys must be non-empty")
	case o.Prefix == "" && o.Key == "":
		return o, usagef("--prefix or --key is required")
	case o.KeyEnd != "" && o.KeyEnd <= o.Key:
		return o, usagef("invalid --key-end %q: it must sort after --key %q", o.KeyEnd, o.Key)
	case fl.Changed("start-revision") && o.StartRevision == 0:
		return o, usagef("invalid --start-revision 0: revisions start at 1")
	case o.StartRevision != 0 && o.InitialFlush:
		return o, usagef("give --start-revision or --initial-flush, not both")
	}
	filter, _ := fl.GetString("filter")
	switch filter {
	case "all":
		o.Filter = client.FilterAll
	case "update":
		o.Filter = client.FilterUpdate
	case "delete":
		o.Filter = client.FilterDelete
	default:
		return o, usagef("invalid --filter %q: want all, update or delete", filter)
	}
	return o, nil
}

// optKVJSON is a value in JSON output, nil (null) when absent.
func optKVJSON(kv client.KV) *valueJSON {
	if !kv.Exists() {
		return nil
	}
	j := newValueJSON(kv)
	return &j
}
