package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/metasrv/metasrv/internal/backup"
	"github.com/metasrv/metasrv/internal/storage"
)

// exportJSON is the summary printed after an export to --db.
type exportJSON struct {
	File        string `json:"file"`
	Source      string `json:"source"`
	Format      string `json:"format"`
	ClusterName string `json:"cluster_name"`
	Keys        uint64 `json:"keys"`
	LastSeq     uint64 `json:"last_seq"`
}

// Export formats: --format.
const (
	formatMetasrv  = "metasrv"
	formatDatabend = "databend"
)

func newExportCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export [--grpc-api-address A | --raft-dir D] [--db FILE] [--format metasrv|databend]",
		Short: "Dump the whole state of a cluster, or of a stopped node's raft_dir",
		Long: `Dump every key with its value, seq, create_seq, version and expiry, and the
global last seq, one JSON object per line (format: internal/backup).

--format databend writes databend-metactl export's format instead (data
version V004: a header, the raft state, the state_machine/0 lines), which
databend-meta's databend-metactl import reads: to move the data to a
databend-meta cluster. It keeps every key's seq, value and expiry and the
last seq, not create_seq, version or the cluster name (see the README,
"Replacing databend-meta"). Databend's own databend-metactl export gets the
same from a metasrv node. import reads both formats.

From a running cluster (--grpc-api-address, the default): the node that
answers exports after a linearizable read barrier, so the dump holds every
write acknowledged before the export started and is consistent at one point
of the log. --timeout bounds the whole export: raise it for a large state.

From a stopped node (--raft-dir): its snapshot and committed log are read
without joining the cluster and without changing the directory. A raft_dir in
use by a running node is refused.

The dump goes to stdout, or to --db FILE (which must not exist; it is written
under a temporary name and renamed when complete, with a summary on stdout).
The dump is checked as it is written: a dump that is cut short is an error
(exit 1).`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().String("raft-dir", "", "export from this stopped node's raft_dir instead of a running cluster")
	cmd.Flags().String("db", "", "write the dump to this new file instead of stdout")
	cmd.Flags().String("format", formatMetasrv, "metasrv (every field of the state) or databend (databend-metactl's format, for databend-meta)")
	cmd.Flags().Uint64("chunk-size", 0, "accepted as databend-metactl takes it (lines per gRPC message); metasrv sizes its export messages itself")
	cmd.Flags().Uint64("id", 0, "with --raft-dir: the node's id, checked against the raft_dir's (databend-metactl's --id; ignored for a running cluster, as there)")
	cmd.RunE = runE(func(cmd *cobra.Command) error {
		raftDir, _ := cmd.Flags().GetString("raft-dir")
		db, _ := cmd.Flags().GetString("db")
		format, _ := cmd.Flags().GetString("format")
		if cmd.Flags().Changed("raft-dir") && raftDir == "" {
			return usagef("--raft-dir needs a directory")
		}
		if raftDir != "" && cmd.Flags().Changed("grpc-api-address") {
			return usagef("give --grpc-api-address or --raft-dir, not both")
		}
		if cmd.Flags().Changed("db") && db == "" {
			return usagef("--db needs a file name")
		}
		if n, _ := cmd.Flags().GetUint64("chunk-size"); cmd.Flags().Changed("chunk-size") && n == 0 {
			return usagef("--chunk-size 0: give at least 1 line per message, or leave it out")
		}
		wantID, _ := cmd.Flags().GetUint64("id")
		checkID := raftDir != "" && cmd.Flags().Changed("id")
		if format != formatMetasrv && format != formatDatabend {
			return usagef("invalid --format %q: want %s or %s", format, formatMetasrv, formatDatabend)
		}
		databend := format == formatDatabend

		source := fmt.Sprint(a.endpoints)
		produce := func(w io.Writer) error {
			export := a.cli.Export
			if databend {
				export = a.cli.ExportDatabend
			}
			ep, err := export(a.ctx, w)
			source = ep
			return err
		}
		if raftDir != "" {
			source = raftDir
			produce = func(w io.Writer) error {
				ld, err := backup.LoadDir(raftDir, nil)
				if errors.Is(err, storage.ErrLocked) {
					return fmt.Errorf("%w, or export from the running cluster with --grpc-api-address", err)
				}
				if err != nil {
					return err
				}
				if checkID && ld.ID != wantID {
					return usagef("--id %d: %s is the raft_dir of node %d; give --id %d or leave it out", wantID, raftDir, ld.ID, ld.ID)
				}
				if databend {
					return backup.ExportDatabend(w, ld.SM, ld.ID, ld.TermOf)
				}
				return backup.ExportStateMachine(w, ld.SM, ld.ClusterName, uint64(time.Now().UnixMilli()))
			}
		}
		verify := verifyMetasrv
		if databend {
			verify = verifyDatabend
		}

		if db == "" {
			_, err := writeVerified(cmd.OutOrStdout(), produce, verify)
			return err
		}
		sum, err := exportToFile(db, produce, verify)
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if a.output == "json" {
			return writeJSON(out, exportJSON{File: db, Source: source, Format: format, ClusterName: sum.clusterName, Keys: sum.keys, LastSeq: sum.lastSeq})
		}
		if databend {
			_, err = fmt.Fprintf(out, "exported %d keys (last_seq %d) in Databend's format from %s to %s\n",
				sum.keys, sum.lastSeq, source, db)
			return err
		}
		_, err = fmt.Fprintf(out, "exported %d keys (last_seq %d) of cluster %q from %s to %s\n",
			sum.keys, sum.lastSeq, sum.clusterName, source, db)
		return err
	})
	return cmd
}

// dumpSummary is what a verified dump says of itself.
type dumpSummary struct {
	clusterName   string // "" in Databend's format
	keys, lastSeq uint64
}

// verifyMetasrv checks a metasrv dump (backup.Verify).
func verifyMetasrv(r io.Reader) (dumpSummary, error) {
	h, f, err := backup.Verify(r)
	return dumpSummary{clusterName: h.ClusterName, keys: f.Keys, lastSeq: f.LastSeq}, err
}

// verifyDatabend checks a Databend dump as import reads it
// (backup.VerifyDatabend).
func verifyDatabend(r io.Reader) (dumpSummary, error) {
	keys, lastSeq, err := backup.VerifyDatabend(r)
	return dumpSummary{keys: uint64(keys), lastSeq: lastSeq}, err
}

// writeVerified writes what produce writes to out while checking it with
// verify, and returns what verify says of the dump. A dump that is invalid
// or cut short is an error even when produce returned nil; an invalid one
// also stops produce (its next write fails).
func writeVerified(out io.Writer, produce func(io.Writer) error, verify func(io.Reader) (dumpSummary, error)) (dumpSummary, error) {
	pr, pw := io.Pipe()
	type verified struct {
		sum dumpSummary
		err error
	}
	resC := make(chan verified, 1)
	go func() {
		sum, err := verify(pr)
		if err != nil {
			pr.CloseWithError(fmt.Errorf("the exported dump is invalid: %w", err))
		} else {
			pr.Close()
		}
		resC <- verified{sum, err}
	}()
	err := produce(io.MultiWriter(out, pw))
	pw.CloseWithError(err) // nil: the reader sees the end of the dump
	res := <-resC
	switch {
	case err != nil:
		return dumpSummary{}, err
	case res.err != nil:
		return dumpSummary{}, fmt.Errorf("the exported dump is invalid: %w", res.err)
	}
	return res.sum, nil
}

// exportToFile writes the dump to a temporary file beside path and links it
// to path when complete, so that path never holds a partial dump and an
// existing file is never replaced.
func exportToFile(path string, produce func(io.Writer) error, verify func(io.Reader) (dumpSummary, error)) (dumpSummary, error) {
	if _, err := os.Lstat(path); err == nil {
		return dumpSummary{}, usagef("--db %s already exists: remove it or choose another file", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return dumpSummary{}, err
	}
	defer os.Remove(tmp.Name())
	sum, err := writeVerified(tmp, produce, verify)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// Link, unlike rename, fails if path appeared meanwhile.
		err = os.Link(tmp.Name(), path)
	}
	if err != nil {
		return dumpSummary{}, err
	}
	return sum, nil
}
