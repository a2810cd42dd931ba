package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/api/metapb"
)

// benchDialTimeout bounds the wait for every connection to be ready.
const benchDialTimeout = 5 * time.Second

// benchConns are bench's --conns connections. Like an etcd clientv3 Client
// (one grpc.ClientConn balancing round-robin over its endpoints, which is
// what the peers' benchmark gives each of its connections), one bench
// connection holds one HTTP/2 connection per address, and its users send
// each request to the next address in turn.
//
// The generated metapb client is used as is, with no interceptor, stats
// handler or retry: package client sends every request to one address at a
// time and wraps each call in its failover logic, neither of which the
// peers' numbers include.
type benchConns struct {
	ccs   [][]*grpc.ClientConn  // [conn][address]
	stubs [][]metapb.MetaClient // the same, as clients

	// With --writes-to-leader (useLeader): leader[conn] is the leader's
	// address on each connection, which every write takes; leaderCCs are
	// the HTTP/2 connections made for it when the leader is not one of
	// the endpoints.
	leader    []metapb.MetaClient
	leaderCCs []*grpc.ClientConn
}

// dialBench opens n connections to every endpoint and waits until all are
// ready, so that the first timed requests do not pay for the handshakes.
func dialBench(ctx context.Context, endpoints []string, n int) (*benchConns, error) {
	bc := &benchConns{}
	ctx, cancel := context.WithTimeout(ctx, benchDialTimeout)
	defer cancel()
	for range n {
		var ccs []*grpc.ClientConn
		var stubs []metapb.MetaClient
		for _, ep := range endpoints {
			cc, err := newBenchConn(ep)
			if err != nil {
				bc.close()
				return nil, err
			}
			ccs = append(ccs, cc)
			stubs = append(stubs, metapb.NewMetaClient(cc))
		}
		bc.ccs = append(bc.ccs, ccs)
		bc.stubs = append(bc.stubs, stubs)
	}
	for _, ccs := range bc.ccs {
		for i, cc := range ccs {
			if err := waitReady(ctx, cc); err != nil {
				bc.close()
				return nil, fmt.Errorf("connect to %s: %w (is a metasrv node listening there?)", endpoints[i], err)
			}
		}
	}
	return bc, nil
}

// newBenchConn creates one connection to addr, without dialing.
func newBenchConn(addr string) (*grpc.ClientConn, error) {
	cc, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(64<<20),
			grpc.MaxCallSendMsgSize(64<<20),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	return cc, nil
}

// findLeader asks the endpoints' Status, in turn, until one names a leader
// and the member table holds its grpc address, and returns the leader's
// id and address. It waits for an election in progress until ctx ends
// (within benchDialTimeout).
func (bc *benchConns) findLeader(ctx context.Context, endpoints []string) (uint64, string, error) {
	ctx, cancel := context.WithTimeout(ctx, benchDialTimeout)
	defer cancel()
	var last error
	for {
		for i, mc := range bc.stubs[0] {
			st, err := mc.Status(ctx, &metapb.StatusRequest{})
			if err != nil {
				if last != nil && (ctx.Err() != nil || status.Code(err) == codes.DeadlineExceeded) {
					// The deadline cut this call short (gRPC may say so
					// before ctx does): the answer before it says more.
					break
				}
				last = fmt.Errorf("status of %s: %w", endpoints[i], err)
				continue
			}
			if st.GetLeaderId() == 0 {
				last = fmt.Errorf("%s knows no leader", endpoints[i])
				continue
			}
			for _, nd := range st.GetNodes() {
				if nd.GetId() == st.GetLeaderId() && nd.GetGrpcAddress() != "" {
					return nd.GetId(), nd.GetGrpcAddress(), nil
				}
			}
			last = fmt.Errorf("%s names leader %d, which is not in its member list with a grpc address", endpoints[i], st.GetLeaderId())
		}
		select {
		case <-ctx.Done():
			return 0, "", fmt.Errorf("--writes-to-leader: found no leader within %v: %w; wait for the cluster to elect one", benchDialTimeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// useLeader makes every write go to addr: on each connection, the HTTP/2
// connection to addr if addr is one of the endpoints, else a new one,
// made ready before it returns.
func (bc *benchConns) useLeader(ctx context.Context, endpoints []string, addr string) error {
	i := slices.Index(endpoints, addr)
	for c := range bc.stubs {
		if i >= 0 {
			bc.leader = append(bc.leader, bc.stubs[c][i])
			continue
		}
		cc, err := newBenchConn(addr)
		if err != nil {
			return err
		}
		bc.leaderCCs = append(bc.leaderCCs, cc)
		bc.leader = append(bc.leader, metapb.NewMetaClient(cc))
	}
	ctx, cancel := context.WithTimeout(ctx, benchDialTimeout)
	defer cancel()
	for _, cc := range bc.leaderCCs {
		if err := waitReady(ctx, cc); err != nil {
			return fmt.Errorf("connect to the leader at %s: %w (its advertised grpc address: is it reachable from here?)", addr, err)
		}
	}
	return nil
}

// waitReady returns once cc is ready, or ctx's error.
func waitReady(ctx context.Context, cc *grpc.ClientConn) error {
	cc.Connect()
	for {
		s := cc.GetState()
		if s == connectivity.Ready {
			return nil
		}
		if !cc.WaitForStateChange(ctx, s) {
			return fmt.Errorf("connection %v: %w", s, ctx.Err())
		}
	}
}

func (bc *benchConns) close() {
	for _, ccs := range append(bc.ccs, bc.leaderCCs) {
		for _, cc := range ccs {
			_ = cc.Close()
		}
	}
}

// rotor sends one client's requests on one connection, to each address in
// turn. Not safe for concurrent use: one per client.
type rotor struct {
	stubs []metapb.MetaClient
	next  int
}

// newRotor returns the rotor of client c: connection c mod --conns,
// starting at address c mod addresses so that clients spread at once.
func (bc *benchConns) newRotor(c int) *rotor {
	stubs := bc.stubs[c%len(bc.stubs)]
	return &rotor{stubs: stubs, next: c % len(stubs)}
}

// newWriter returns the rotor client c sends its writes (Upsert, Txn)
// with: with --writes-to-leader the leader on connection c mod --conns,
// else the same as newRotor's.
func (bc *benchConns) newWriter(c int) *rotor {
	if bc.leader == nil {
		return bc.newRotor(c)
	}
	return &rotor{stubs: bc.leader[c%len(bc.leader) : c%len(bc.leader)+1]}
}

// pick returns the address to send the next request to.
func (r *rotor) pick() metapb.MetaClient {
	s := r.stubs[r.next]
	r.next++
	if r.next == len(r.stubs) {
		r.next = 0
	}
	return s
}
