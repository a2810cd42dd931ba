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
	ClusterName string `json:"cluster_name"`
	Keys        uint64 `json:"keys"`
	LastSeq     uint64 `json:"last_seq"`
}

func newExportCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export [--grpc-api-address A | --raft-dir D] [--db FILE]",
		Short: "Dump the whole state of a cluster, or of a stopped node's raft_dir",
		Long: `Dump every key with its value, seq, create_seq, version and expiry, and the
global last seq, one JSON object per line (format: internal/backup).

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
	cmd.RunE = runE(func(cmd *cobra.Command) error {
		raftDir, _ := cmd.Flags().GetString("raft-dir")
		db, _ := cmd.Flags().GetString("db")
		if cmd.Flags().Changed("raft-dir") && raftDir == "" {
			return usagef("--raft-dir needs a directory")
		}
		if raftDir != "" && cmd.Flags().Changed("grpc-api-address") {
			return usagef("give --grpc-api-address or --raft-dir, not both")
		}
		if cmd.Flags().Changed("db") && db == "" {
			return usagef("--db needs a file name")
		}

		source := fmt.Sprint(a.endpoints)
		produce := func(w io.Writer) error {
			ep, err := a.cli.Export(a.ctx, w)
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
				return backup.ExportStateMachine(w, ld.SM, ld.ClusterName, uint64(time.Now().UnixMilli()))
			}
		}

		if db == "" {
			_, _, err := writeVerified(cmd.OutOrStdout(), produce)
			return err
		}
		h, f, err := exportToFile(db, produce)
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if a.output == "json" {
			return writeJSON(out, exportJSON{File: db, Source: source, ClusterName: h.ClusterName, Keys: f.Keys, LastSeq: f.LastSeq})
		}
		_, err = fmt.Fprintf(out, "exported %d keys (last_seq %d) of cluster %q from %s to %s\n",
			f.Keys, f.LastSeq, h.ClusterName, source, db)
		return err
	})
	return cmd
}

// writeVerified writes what produce writes to out while checking it with
// backup.Verify, and returns the dump's header and footer. A dump that is
// invalid or cut short is an error even when produce returned nil; an
// invalid one also stops produce (its next write fails).
func writeVerified(out io.Writer, produce func(io.Writer) error) (backup.Header, backup.Footer, error) {
	pr, pw := io.Pipe()
	type verified struct {
		h   backup.Header
		f   backup.Footer
		err error
	}
	resC := make(chan verified, 1)
	go func() {
		h, f, err := backup.Verify(pr)
		if err != nil {
			pr.CloseWithError(fmt.Errorf("the exported dump is invalid: %w", err))
		} else {
			pr.Close()
		}
		resC <- verified{h, f, err}
	}()
	err := produce(io.MultiWriter(out, pw))
	pw.CloseWithError(err) // nil: the reader sees the end of the dump
	res := <-resC
	switch {
	case err != nil:
		return backup.Header{}, backup.Footer{}, err
	case res.err != nil:
		return backup.Header{}, backup.Footer{}, fmt.Errorf("the exported dump is invalid: %w", res.err)
	}
	return res.h, res.f, nil
}

// exportToFile writes the dump to a temporary file beside path and links it
// to path when complete, so that path never holds a partial dump and an
// existing file is never replaced.
func exportToFile(path string, produce func(io.Writer) error) (backup.Header, backup.Footer, error) {
	if _, err := os.Lstat(path); err == nil {
		return backup.Header{}, backup.Footer{}, usagef("--db %s already exists: remove it or choose another file", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return backup.Header{}, backup.Footer{}, err
	}
	defer os.Remove(tmp.Name())
	h, f, err := writeVerified(tmp, produce)
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
		return backup.Header{}, backup.Footer{}, err
	}
	return h, f, nil
}
