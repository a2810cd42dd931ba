package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/databendpb"
	"github.com/metasrv/metasrv/internal/databendapi"
)

// databendConn is one node seen as Databend's meta client sees it: the
// generated meta.MetaService client and the token of its handshake.
type databendConn struct {
	n     *node
	db    databendpb.MetaServiceClient
	token []byte
}

// handshake logs in as root (the open mode of a node without [auth]) as
// Databend's client does on a new connection: one HandshakeRequest with its
// version and an encoded BasicAuth, one HandshakeResponse.
func (d *databendConn) handshake(ctx context.Context) error {
	payload, err := proto.Marshal(&databendpb.BasicAuth{Username: "root"})
	if err != nil {
		return err
	}
	st, err := d.db.Handshake(ctx)
	if err != nil {
		return err
	}
	if err := st.Send(&databendpb.HandshakeRequest{ProtocolVersion: databendapi.ServerVersion.Digit(), Payload: payload}); err != nil {
		return err
	}
	if err := st.CloseSend(); err != nil {
		return err
	}
	resp, err := st.Recv()
	if err != nil {
		return err
	}
	d.token = resp.GetPayload()
	return nil
}

// txn runs a Transaction with the token, handshaking first when it has
// none.
func (d *databendConn) txn(ctx context.Context, req *databendpb.TxnRequest) (*databendpb.TxnReply, error) {
	if d.token == nil {
		if err := d.handshake(ctx); err != nil {
			return nil, err
		}
	}
	return d.db.Transaction(metadata.AppendToOutgoingContext(ctx, databendapi.TokenKey, string(d.token)), req)
}

func databendPut(key, value string) *databendpb.TxnRequest {
	return &databendpb.TxnRequest{IfThen: []*databendpb.TxnOp{{Request: &databendpb.TxnOp_Put{
		Put: &databendpb.TxnPutRequest{Key: key, Value: []byte(value)}}}}}
}

// Databend's protocol, through a client generated from our .proto files,
// across a SIGKILL of the leader: every write the cluster acknowledged is
// there afterwards, on every node, the restarted one included. Writes go
// round-robin over the nodes that run, as Databend's client spreads them;
// a failed write is not retried (its outcome is unknown), the next key is
// written instead.
func TestDatabendClientLeaderKilled(t *testing.T) {
	t.Parallel()
	c := newGuideCluster(t, clusterOptions{})
	c.startAll()
	leader := c.waitLeader(c.nodes...)
	conns := map[*node]*databendConn{}
	for _, n := range c.nodes {
		conns[n] = &databendConn{n: n, db: databendpb.NewMetaServiceClient(n.conn())}
	}

	acked := map[string]string{}
	next := 0
	// write puts keys round-robin over nodes until want more are
	// acknowledged; a write that fails drops the connection's token, so the
	// next one on it handshakes again (a restarted node issues new tokens).
	write := func(nodes []*node, want int) {
		t.Helper()
		deadline := time.Now().Add(clusterTimeout)
		for got := 0; got < want; next++ {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d writes acknowledged within %v", got, want, clusterTimeout)
			}
			d := conns[nodes[next%len(nodes)]]
			key, value := fmt.Sprintf("databend/k%04d", next), fmt.Sprintf("v%d", next)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			reply, err := d.txn(ctx, databendPut(key, value))
			cancel()
			if err != nil {
				d.token = nil
				continue
			}
			if !reply.GetSuccess() || reply.GetExecutionPath() != "then" {
				t.Fatalf("put %s through %v: %v, want success on then", key, d.n, reply)
			}
			acked[key] = value
			got++
		}
	}

	write(c.nodes, 30)
	leader.kill()
	rest := slices.DeleteFunc(slices.Clone(c.nodes), func(n *node) bool { return n == leader })
	write(rest, 30)
	leader.start()
	c.waitLeader(c.nodes...)

	// Every node, read through Databend's protocol: a Transaction, gets
	// only, goes through the raft log, so it reads everything acknowledged
	// before it, on the restarted node too.
	keys := make([]string, 0, len(acked))
	for k := range acked {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	get := &databendpb.TxnRequest{}
	for _, k := range keys {
		get.IfThen = append(get.IfThen, &databendpb.TxnOp{Request: &databendpb.TxnOp_Get{Get: &databendpb.TxnGetRequest{Key: k}}})
	}
	for _, n := range c.nodes {
		d := conns[n]
		d.token = nil
		waitFor(t, clusterTimeout, fmt.Sprintf("%v to answer every acknowledged write", n), func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			reply, err := d.txn(ctx, get)
			if err != nil {
				d.token = nil
				return err
			}
			for i, r := range reply.GetResponses() {
				if got := string(r.GetGet().GetValue().GetData()); got != acked[keys[i]] {
					t.Fatalf("%v: %s = %q, acknowledged %q", n, keys[i], got, acked[keys[i]])
				}
			}
			if len(reply.GetResponses()) != len(keys) {
				t.Fatalf("%v: %d responses to %d gets", n, len(reply.GetResponses()), len(keys))
			}
			return nil
		})
	}
	t.Logf("%d writes acknowledged of %d sent; leader %v killed after 30", len(acked), next, leader)
}
