package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/metasrv/metasrv/internal/backup"
	"github.com/metasrv/metasrv/internal/config"
	"github.com/metasrv/metasrv/internal/databendjson"
)

// importJSON is the summary printed after an import.
type importJSON struct {
	RaftDir     string   `json:"raft_dir"`
	ID          uint64   `json:"id"`
	ClusterName string   `json:"cluster_name"`
	Format      string   `json:"format"`
	Keys        uint64   `json:"keys"`
	LastSeq     uint64   `json:"last_seq"`
	Voters      []uint64 `json:"voters"`
	Learners    []uint64 `json:"learners,omitempty"`
	Index       uint64   `json:"snapshot_index"`
	Term        uint64   `json:"snapshot_term"`
	LogEntries  int      `json:"log_entries,omitempty"`
}

func newImportCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import --raft-dir D [--db FILE] [--id N --initial-cluster ID=HOST:RAFT_PORT[,...]]",
		Short: "Build a new node's raft_dir from an export, to start a new cluster with its data",
		Long: `Build the raft_dir of one node of a new cluster whose state is exactly the
exported one: every key with its value, seq and expiry, and the last seq (the
first write of the new cluster takes last_seq + 1).

The dump is a metasrv export, or a databend-metactl export of a databend-meta
cluster (data versions V002, V003, V004: its state_machine section; its raft
log must hold no command the state machine has not applied), as in
databend-metactl: the first line tells which. A metasrv dump also keeps every
key's create_seq and version; a Databend dump gives create_seq = seq and
version 1.

Run it on every node of the new cluster with the same dump and the same
--initial-cluster (every node's id and raft address; ids and addresses may
differ from the exported cluster's), each with its own --id and an empty or
missing --raft-dir. Then start every node with databend-meta as usual, with
that raft_dir, id and raft address and the cluster name of the dump (or
--cluster-name; a Databend dump names none: default foo_cluster): the
directory is already initialized, so single and join are ignored, and the
nodes elect a leader among themselves.

Without --initial-cluster the dump's members are kept, with their ids and
addresses (and --id defaults to the node a Databend dump was taken from).

--initial-grpc gives the nodes' gRPC API addresses for the member list;
without it the member list shows them empty. Databend's form of an
--initial-cluster item, ID=HOST:RAFT_PORT,GRPC_HOST:GRPC_PORT, gives it too.

The dump is read and checked whole before anything is written; a non-empty
--raft-dir is refused. The old cluster's log is not kept: the new cluster's
log starts from a snapshot of the state, at index 1 (a metasrv dump) or at
the last applied index of a Databend dump.`,
		Args: cobra.NoArgs,
	}
	f := cmd.Flags()
	f.String("raft-dir", "", "the new node's raft_dir: missing or empty (required)")
	f.String("db", "", "the dump written by export; empty or - for stdin")
	f.Uint64("id", 0, "the new node's id, one of --initial-cluster (required with it)")
	f.StringSlice("initial-cluster", nil, "every node of the new cluster as ID=HOST:RAFT_PORT, comma-separated or repeated; empty: the dump's members")
	f.StringSlice("initial-grpc", nil, "the nodes' gRPC API addresses as ID=HOST:PORT, comma-separated or repeated (optional)")
	f.String("cluster-name", "", "the new cluster's name (default: the exported cluster's, or "+config.Default().Raft.ClusterName+" for a Databend dump)")
	cmd.RunE = runE(func(cmd *cobra.Command) error {
		dir, err := requireString(cmd, "raft-dir")
		if err != nil {
			return err
		}
		db, _ := cmd.Flags().GetString("db")
		id, _ := cmd.Flags().GetUint64("id")
		specs, _ := cmd.Flags().GetStringSlice("initial-cluster")
		switch {
		case cmd.Flags().Changed("id") && id == 0:
			return usagef("invalid --id 0: node ids start at 1")
		case cmd.Flags().Changed("initial-cluster") && len(specs) == 0:
			return usagef("--initial-cluster is empty: list every node of the new cluster as ID=HOST:RAFT_PORT, or leave it out to keep the dump's members")
		case len(specs) > 0 && !cmd.Flags().Changed("id"):
			return usagef("--id is required with --initial-cluster: the new node's id, one of --initial-cluster")
		}
		nodes, err := parseInitialCluster(specs)
		if err != nil {
			return err
		}
		grpcSpecs, _ := cmd.Flags().GetStringSlice("initial-grpc")
		if len(grpcSpecs) > 0 && len(nodes) == 0 {
			return usagef("--initial-grpc needs --initial-cluster")
		}
		grpcAddrs, err := parseIDAddrs("--initial-grpc", grpcSpecs)
		if err != nil {
			return err
		}
		for _, ga := range grpcAddrs {
			found := false
			for i := range nodes {
				if nodes[i].ID == ga.id {
					nodes[i].GrpcAddress, found = ga.addr, true
				}
			}
			if !found {
				return usagef("--initial-grpc names node %d, which is not in --initial-cluster", ga.id)
			}
		}
		name, _ := cmd.Flags().GetString("cluster-name")

		in := cmd.InOrStdin()
		if db != "" && db != "-" {
			file, err := os.Open(db)
			if err != nil {
				return err
			}
			defer file.Close()
			in = file
		} else {
			db = "<stdin>"
		}
		res, err := backup.Import(backup.ImportConfig{Dir: dir, ID: id, ClusterName: name,
			DefaultClusterName: config.Default().Raft.ClusterName, InitialCluster: nodes}, in)
		switch {
		case errors.Is(err, backup.ErrInvalidCluster):
			return usageError{err}
		case errors.Is(err, backup.ErrInvalidDump), errors.Is(err, databendjson.ErrSyntax), errors.Is(err, databendjson.ErrShape):
			return inputError{fmt.Errorf("--db %s: %w", db, err)}
		case err != nil:
			return err
		}
		out := cmd.OutOrStdout()
		if a.output == "json" {
			return writeJSON(out, importJSON{RaftDir: dir, ID: res.ID, ClusterName: res.ClusterName, Format: res.Format, Keys: res.Keys,
				LastSeq: res.LastSeq, Voters: res.Voters, Learners: res.Learners, Index: res.Index, Term: res.Term, LogEntries: res.LogEntries})
		}
		fmt.Fprintf(out, "imported %d keys (last_seq %d) of a %s dump into %s: node %d of cluster %q with voters %v",
			res.Keys, res.LastSeq, res.Format, dir, res.ID, res.ClusterName, res.Voters)
		if len(res.Learners) > 0 {
			fmt.Fprintf(out, " and learners %v", res.Learners)
		}
		fmt.Fprintln(out)
		if res.LogEntries > 0 {
			fmt.Fprintf(out, "the dump's %d raft log entries are all in its state machine (applied up to index %d); the new log starts there\n",
				res.LogEntries, res.Index)
		}
		fmt.Fprintf(out, "start it with databend-meta: raft_dir = %q, id = %d, cluster_name = %q\n", dir, res.ID, res.ClusterName)
		return nil
	})
	return cmd
}

// parseInitialCluster parses --initial-cluster: ID=HOST:RAFT_PORT items,
// each optionally followed by its gRPC address as the next item
// (databend-metactl's ID=HOST:RAFT_PORT,GRPC_HOST:GRPC_PORT, which the
// comma splits in two).
func parseInitialCluster(specs []string) ([]backup.Node, error) {
	var nodes []backup.Node
	var items []string
	for _, s := range specs {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "=") && len(nodes) > 0 && len(items) > 0 && nodes[len(nodes)-1].GrpcAddress == "" {
			if _, err := parseIDAddrs("--initial-cluster", []string{"1=" + s}); err != nil {
				return nil, usagef("invalid --initial-cluster item %q: after ID=HOST:RAFT_PORT, want the node's gRPC address HOST:PORT", s)
			}
			nodes[len(nodes)-1].GrpcAddress = s
			continue
		}
		ias, err := parseIDAddrs("--initial-cluster", []string{s})
		if err != nil {
			return nil, err
		}
		items = append(items, s)
		nodes = append(nodes, backup.Node{ID: ias[0].id, RaftAddress: ias[0].addr, Voter: true})
	}
	return nodes, nil
}

type idAddr struct {
	id   uint64
	addr string
}

// parseIDAddrs parses ID=HOST:PORT items of flag.
func parseIDAddrs(flag string, specs []string) ([]idAddr, error) {
	var out []idAddr
	for _, s := range specs {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		idText, addr, ok := strings.Cut(s, "=")
		id, err := strconv.ParseUint(idText, 10, 64)
		if !ok || err != nil || id == 0 {
			return nil, usagef("invalid %s item %q: want ID=HOST:PORT with ID a number > 0, e.g. 1=10.0.0.1:28103", flag, s)
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host == "" || port == "" {
			return nil, usagef("invalid %s item %q: want ID=HOST:PORT, e.g. 1=10.0.0.1:28103", flag, s)
		}
		out = append(out, idAddr{id: id, addr: addr})
	}
	return out, nil
}
