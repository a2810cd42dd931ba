package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/spf13/cobra"
)

// keysCount is one line of keys-layout: the keys under a directory
// prefix ("" for all keys).
type keysCount struct {
	Prefix string `json:"prefix"`
	Count  uint64 `json:"count"`
}

// keysLayout groups keys, in key order, by their directories: a key's
// directories are the prefixes ending before each of its '/' ("a/b/k":
// "a" and "a/b"). Each directory is counted with every key under it and
// listed once its last key has passed, so that a directory comes after
// those inside it; the total comes last, with the prefix "". Only the
// directories with fewer than maxDepth '/' are listed. This is
// databend-meta's count_prefix.
func keysLayout(keys []string, maxDepth int) []keysCount {
	var out []keysCount
	type dir struct {
		end   int // the prefix is last[:end]
		count uint64
	}
	var open []dir // the directories of the last key, outermost first
	last := ""
	closeTo := func(n int) {
		for len(open) > n {
			d := open[len(open)-1]
			open = open[:len(open)-1]
			if len(open) < maxDepth {
				out = append(out, keysCount{Prefix: last[:d.end], Count: d.count})
			}
		}
	}
	for _, key := range keys {
		var ends []int
		for i := range len(key) {
			if key[i] == '/' {
				ends = append(ends, i)
			}
		}
		common := min(len(open), len(ends))
		for common > 0 && last[:open[common-1].end] != key[:ends[common-1]] {
			common--
		}
		closeTo(common)
		for _, e := range ends[len(open):] {
			open = append(open, dir{end: e})
		}
		for i := range open {
			open[i].count++
		}
		last = key
	}
	closeTo(0)
	return append(out, keysCount{Prefix: "", Count: uint64(len(keys))})
}

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
top-level ones). The keys are those the cluster holds now (a
linearizable list of every key); databend-meta counts those of its last
snapshot.

JSON: [{"prefix":P,"count":N}, ...] in the same order.`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command) error {
			depth := math.MaxInt
			if cmd.Flags().Changed("depth") {
				d, _ := cmd.Flags().GetUint32("depth")
				depth = int(d)
			}
			kvs, err := a.cli.List(a.ctx, "", 0, readOptions(cmd)...)
			if err != nil {
				return err
			}
			keys := make([]string, len(kvs))
			for i, kv := range kvs {
				keys[i] = kv.Key
			}
			layout := keysLayout(keys, depth)
			out := cmd.OutOrStdout()
			if a.output == "json" {
				return writeJSON(out, layout)
			}
			var b strings.Builder
			for _, kc := range layout {
				fmt.Fprintf(&b, "%s %d\n", kc.Prefix, kc.Count)
			}
			_, err = fmt.Fprint(out, b.String())
			return err
		}),
	}
	cmd.Flags().Uint32("depth", 0, "list only the prefixes with fewer than N '/' (default: all)")
	addSerializableFlag(cmd)
	return cmd
}
