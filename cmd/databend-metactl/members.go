package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/metasrv/metasrv/api/metapb"
)

// nodeJSON is a member in JSON output.
type nodeJSON struct {
	ID          uint64 `json:"id"`
	RaftAddress string `json:"raft_address"`
	GRPCAddress string `json:"grpc_address"`
	Voter       bool   `json:"voter"`
}

func newMemberListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "member-list",
		Short: "List the members of the cluster",
		Long: `List the members of the cluster: id, raft address, gRPC API address, and
whether the node is a voter (false: a learner catching up).

JSON: [{"id":N,"raft_address":A,"grpc_address":A,"voter":B}, ...]`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command) error {
			nodes, err := a.cli.MemberList(a.ctx)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if a.output == outputDatabend {
				// databend-metactl prints MemberListReply.data: each
				// member's gRPC address.
				var b strings.Builder
				for _, n := range nodes {
					b.WriteString(n.GetGrpcAddress() + "\n")
				}
				_, err := io.WriteString(out, b.String())
				return err
			}
			if a.output == "json" {
				items := make([]nodeJSON, len(nodes))
				for i, n := range nodes {
					items[i] = newNodeJSON(n)
				}
				return writeJSON(out, items)
			}
			tw := newTable(out)
			fmt.Fprintln(tw, "ID\tVOTER\tRAFT_ADDRESS\tGRPC_ADDRESS")
			for _, n := range nodes {
				fmt.Fprintf(tw, "%d\t%v\t%s\t%s\n", n.GetId(), n.GetVoter(), n.GetRaftAddress(), n.GetGrpcAddress())
			}
			return tw.Flush()
		}),
	}
}

func newNodeJSON(n *metapb.Node) nodeJSON {
	return nodeJSON{ID: n.GetId(), RaftAddress: n.GetRaftAddress(), GRPCAddress: n.GetGrpcAddress(), Voter: n.GetVoter()}
}
