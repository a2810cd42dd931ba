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
)

// importJSON is the summary printed after an import.
type importJSON struct {
	RaftDir     string   `json:"raft_dir"`
	ID          uint64   `json:"id"`
	ClusterName string   `json:"cluster_name"`
	Keys        uint64   `json:"keys"`
	LastSeq     uint64   `json:"last_seq"`
	Voters      []uint64 `json:"voters"`
	Index       uint64   `json:"snapshot_index"`
	Term        uint64   `json:"snapshot_term"`
}

func newImportCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import --raft-dir D --db FILE --id N --initial-cluster ID=HOST:RAFT_PORT[,...]",
		Short: "Build a new node's raft_dir from an export, to start a new cluster with its data",
		Long: `Build the raft_dir of one node of a new cluster whose state is exactly the
exported one: every key with its value, seq, create_seq, version and expiry,
and the last seq (the first write of the new cluster takes last_seq + 1).

Run it on every node of the new cluster with the same dump and the same
--initial-cluster (every node's id and raft address; ids and addresses may
differ from the exported cluster's), each with its own --id and an empty or
missing --raft-dir. Then start every node with databend-meta as usual, with
that raft_dir, id and raft address and the cluster name of the dump (or
--cluster-name): the directory is already initialized, so single and join
are ignored, and the nodes elect a leader among themselves.

--initial-grpc gives the nodes' gRPC API addresses for the member list;
without it the member list shows them empty.

The dump is read and checked whole before anything is written; a non-empty
--raft-dir is refused. The old cluster's log is not kept: the new cluster's
log starts from a snapshot at index 1, term 1.`,
		Args: cobra.NoArgs,
	}
	f := cmd.Flags()
	f.String("raft-dir", "", "the new node's raft_dir: missing or empty (required)")
	f.String("db", "", "the dump written by export; - for stdin (required)")
	f.Uint64("id", 0, "the new node's id, one of --initial-cluster (required)")
	f.StringSlice("initial-cluster", nil, "every node of the new cluster as ID=HOST:RAFT_PORT, comma-separated or repeated (required)")
	f.StringSlice("initial-grpc", nil, "the nodes' gRPC API addresses as ID=HOST:PORT, comma-separated or repeated (optional)")
	f.String("cluster-name", "", "the new cluster's name (default: the exported cluster's)")
	cmd.RunE = runE(func(cmd *cobra.Command) error {
		dir, err := requireString(cmd, "raft-dir")
		if err != nil {
			return err
		}
		db, err := requireString(cmd, "db")
		if err != nil {
			return err
		}
		id, _ := cmd.Flags().GetUint64("id")
		switch {
		case !cmd.Flags().Changed("id"):
			return usagef("--id is required: the new node's id, one of --initial-cluster")
		case id == 0:
			return usagef("invalid --id 0: node ids start at 1")
		}
		specs, _ := cmd.Flags().GetStringSlice("initial-cluster")
		switch {
		case !cmd.Flags().Changed("initial-cluster"):
			return usagef("--initial-cluster is required: every node of the new cluster as ID=HOST:RAFT_PORT")
		case len(specs) == 0:
			return usagef("--initial-cluster is empty: list every node of the new cluster as ID=HOST:RAFT_PORT")
		}
		raftAddrs, err := parseIDAddrs("--initial-cluster", specs)
		if err != nil {
			return err
		}
		grpcSpecs, _ := cmd.Flags().GetStringSlice("initial-grpc")
		grpcAddrs, err := parseIDAddrs("--initial-grpc", grpcSpecs)
		if err != nil {
			return err
		}
		nodes := make([]backup.Node, 0, len(raftAddrs))
		for _, ra := range raftAddrs {
			nodes = append(nodes, backup.Node{ID: ra.id, RaftAddress: ra.addr, Voter: true})
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
		if db != "-" {
			file, err := os.Open(db)
			if err != nil {
				return err
			}
			defer file.Close()
			in = file
		}
		res, err := backup.Import(backup.ImportConfig{Dir: dir, ID: id, ClusterName: name, InitialCluster: nodes}, in)
		switch {
		case errors.Is(err, backup.ErrInvalidCluster):
			return usageError{err}
		case errors.Is(err, backup.ErrInvalidDump):
			return inputError{fmt.Errorf("--db %s: %w", db, err)}
		case err != nil:
			return err
		}
		out := cmd.OutOrStdout()
		if a.output == "json" {
			return writeJSON(out, importJSON{RaftDir: dir, ID: id, ClusterName: res.ClusterName, Keys: res.Keys,
				LastSeq: res.LastSeq, Voters: res.Voters, Index: res.Index, Term: res.Term})
		}
		fmt.Fprintf(out, "imported %d keys (last_seq %d) into %s: node %d of cluster %q with voters %v\n",
			res.Keys, res.LastSeq, dir, id, res.ClusterName, res.Voters)
		fmt.Fprintf(out, "start it with databend-meta: raft_dir = %q, id = %d, cluster_name = %q\n", dir, id, res.ClusterName)
		return nil
	})
	return cmd
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
