package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/metasrv/metasrv/api/metapb"
)

// statusJSON is a node that answered, in the JSON output of status.
type statusJSON struct {
	Endpoint      string `json:"endpoint"`
	ID            uint64 `json:"id"`
	State         string `json:"state"`
	LeaderID      uint64 `json:"leader_id"`
	Term          uint64 `json:"term"`
	CommitIndex   uint64 `json:"commit_index"`
	AppliedIndex  uint64 `json:"applied_index"`
	LastLogIndex  uint64 `json:"last_log_index"`
	SnapshotIndex uint64 `json:"snapshot_index"`
	LastSeq       uint64 `json:"last_seq"`
	KeyCount      uint64 `json:"key_count"`
	Version       string `json:"version"`
	ClusterName   string `json:"cluster_name"`
	RaftAddress   string `json:"raft_address"`
	GRPCAddress   string `json:"grpc_address"`
}

// statusErrorJSON is a node that did not answer; ID is set when the member
// list names it.
type statusErrorJSON struct {
	Endpoint string `json:"endpoint"`
	ID       uint64 `json:"id,omitempty"`
	Error    string `json:"error"`
}

// nodeStatus is the outcome of asking one endpoint for its status.
type nodeStatus struct {
	endpoint string
	member   *metapb.Node // when found through the member list
	reply    *metapb.StatusReply
	err      error
}

// id returns the node id, 0 when unknown.
func (s nodeStatus) id() uint64 {
	if s.reply != nil {
		return s.reply.GetId()
	}
	return s.member.GetId()
}

func newStatusCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Print the status of every node",
		Long: `Ask every --grpc-api-address, and every member they list, for its status:
id, raft state, leader, term, commit and applied index, last seq, key count.

JSON: an array with one object per node, sorted by id; a node that did not
answer has {"endpoint":A,"error":E} (and "id" when the member list names it).
Exit status 1 when any node did not answer.

--output databend: the first address's status as databend-metactl prints
it ("BinaryVersion: ...", "State: Leader", "LastApplied: T2-N0.120", ...).`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command) error {
			if a.output == outputDatabend {
				// databend-metactl asks its one address.
				st, err := a.cli.ClusterStatus(a.ctx, a.endpoints[0])
				if err != nil {
					return err
				}
				return writeDatabendStatus(cmd.OutOrStdout(), st)
			}
			nodes, err := a.collectStatus()
			if werr := a.printStatus(cmd.OutOrStdout(), nodes); werr != nil {
				return werr
			}
			return err
		}),
	}
}

// collectStatus asks the endpoints, then the members they know of that are
// not among them. The error summarizes what failed; the statuses are
// complete either way.
func (a *app) collectStatus() ([]nodeStatus, error) {
	nodes := a.queryStatus(a.endpoints, nil)
	asked := make(map[string]bool)
	ids := make(map[uint64]bool)
	answered := false
	for _, n := range nodes {
		asked[n.endpoint] = true
		if n.err == nil {
			answered = true
			ids[n.reply.GetId()] = true
			asked[n.reply.GetGrpcAddress()] = true
		}
	}
	var errs []error
	if answered {
		members, err := a.cli.MemberList(a.ctx)
		if err != nil {
			errs = append(errs, err)
		}
		var more []string
		var moreMembers []*metapb.Node
		for _, m := range members {
			addr := m.GetGrpcAddress()
			if addr == "" || asked[addr] || ids[m.GetId()] {
				continue
			}
			asked[addr] = true
			more = append(more, addr)
			moreMembers = append(moreMembers, m)
		}
		nodes = append(nodes, a.queryStatus(more, moreMembers)...)
	}
	sort.SliceStable(nodes, func(i, j int) bool {
		a, b := nodes[i].id(), nodes[j].id()
		return a != 0 && (b == 0 || a < b)
	})
	var failed []string
	for _, n := range nodes {
		if n.err != nil {
			failed = append(failed, n.endpoint)
		}
	}
	if len(failed) > 0 {
		errs = append([]error{fmt.Errorf("%d of %d nodes did not answer: %s (see the output for why)",
			len(failed), len(nodes), strings.Join(failed, ", "))}, errs...)
	}
	if err := errors.Join(errs...); err != nil {
		return nodes, fmt.Errorf("status: %w", err)
	}
	return nodes, nil
}

// queryStatus asks every endpoint concurrently; members, if not nil, are the
// members the endpoints belong to.
func (a *app) queryStatus(endpoints []string, members []*metapb.Node) []nodeStatus {
	out := make([]nodeStatus, len(endpoints))
	var wg sync.WaitGroup
	for i, ep := range endpoints {
		out[i].endpoint = ep
		if members != nil {
			out[i].member = members[i]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i].reply, out[i].err = a.cli.Status(a.ctx, ep)
		}()
	}
	wg.Wait()
	return out
}

func (a *app) printStatus(out io.Writer, nodes []nodeStatus) error {
	if a.output == "json" {
		items := make([]any, len(nodes))
		for i, n := range nodes {
			if n.err != nil {
				items[i] = statusErrorJSON{Endpoint: n.endpoint, ID: n.id(), Error: n.err.Error()}
				continue
			}
			r := n.reply
			items[i] = statusJSON{
				Endpoint: n.endpoint,
				ID:       r.GetId(), State: r.GetState(), LeaderID: r.GetLeaderId(), Term: r.GetTerm(),
				CommitIndex: r.GetCommitIndex(), AppliedIndex: r.GetAppliedIndex(),
				LastLogIndex: r.GetLastLogIndex(), SnapshotIndex: r.GetSnapshotIndex(),
				LastSeq: r.GetLastSeq(), KeyCount: r.GetKeyCount(),
				Version: r.GetVersion(), ClusterName: r.GetClusterName(),
				RaftAddress: r.GetRaftAddress(), GRPCAddress: r.GetGrpcAddress(),
			}
		}
		return writeJSON(out, items)
	}
	tw := newTable(out)
	fmt.Fprintln(tw, "ID\tSTATE\tLEADER\tTERM\tCOMMIT\tAPPLIED\tLAST_SEQ\tKEYS\tGRPC_ADDRESS")
	for _, n := range nodes {
		if n.err != nil {
			id := "-"
			if n.id() != 0 {
				id = strconv.FormatUint(n.id(), 10)
			}
			fmt.Fprintf(tw, "%s\terror\t-\t-\t-\t-\t-\t-\t%s\n", id, n.endpoint)
			continue
		}
		r := n.reply
		addr := r.GetGrpcAddress()
		if addr == "" {
			addr = n.endpoint
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", r.GetId(), r.GetState(), r.GetLeaderId(),
			r.GetTerm(), r.GetCommitIndex(), r.GetAppliedIndex(), r.GetLastSeq(), r.GetKeyCount(), addr)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range nodes {
		if n.err != nil {
			fmt.Fprintf(out, "error: %v\n", n.err)
		}
	}
	return nil
}
