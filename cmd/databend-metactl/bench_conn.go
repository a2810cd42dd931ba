package main

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"

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
			cc, err := grpc.NewClient(ep,
				grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithDefaultCallOptions(
					grpc.MaxCallRecvMsgSize(64<<20),
					grpc.MaxCallSendMsgSize(64<<20),
				),
			)
			if err != nil {
				bc.close()
				return nil, fmt.Errorf("connect to %s: %w", ep, err)
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
	for _, ccs := range bc.ccs {
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

// pick returns the address to send the next request to.
func (r *rotor) pick() metapb.MetaClient {
	s := r.stubs[r.next]
	r.next++
	if r.next == len(r.stubs) {
		r.next = 0
	}
	return s
}
