// Command groupnoop is a gRPC server that speaks etcd's KV protocol, does no
// work, and answers each Put and Range in a group with the others that
// became due by the same tick: a request is answered at the first tick at
// least -delay after it arrived, as a replicated server answers the writes
// of one commit together. With -delay 0 it answers at once, as the peers'
// no-op server (../shared/peers/noop) does.
//
// scripts/bench-floor.sh drives it with the peers' client to measure what
// the client and a gRPC server cost a request when the replies come at a
// replicated server's pace: the part of issue 14's CPU budget that no
// server work can save.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
)

// held is one request waiting for its tick.
type held struct {
	due  time.Time
	done chan struct{}
}

// groups holds requests until they are due. Requests are due in the order
// they arrive: every one waits the same delay.
type groups struct {
	delay time.Duration
	mu    sync.Mutex
	queue []held
}

// hold returns a channel closed once the request that arrived at now is
// answered.
func (g *groups) hold(now time.Time) <-chan struct{} {
	h := held{due: now.Add(g.delay), done: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, h)
	g.mu.Unlock()
	return h.done
}

// release answers every request due at now and returns how many.
func (g *groups) release(now time.Time) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for n < len(g.queue) && !g.queue[n].due.After(now) {
		close(g.queue[n].done)
		n++
	}
	g.queue = append(g.queue[:0], g.queue[n:]...)
	return n
}

// run releases the due requests at every tick until ctx ends.
func (g *groups) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			g.release(now)
		case <-ctx.Done():
			return
		}
	}
}

// kv answers Put and Range with empty replies, after the group's tick.
type kv struct {
	pb.UnimplementedKVServer
	g *groups // nil: answer at once
}

func (k kv) wait(ctx context.Context) error {
	if k.g == nil {
		return nil
	}
	select {
	case <-k.g.hold(time.Now()):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (k kv) Put(ctx context.Context, _ *pb.PutRequest) (*pb.PutResponse, error) {
	if err := k.wait(ctx); err != nil {
		return nil, err
	}
	return &pb.PutResponse{Header: &pb.ResponseHeader{}}, nil
}

func (k kv) Range(ctx context.Context, _ *pb.RangeRequest) (*pb.RangeResponse, error) {
	if err := k.wait(ctx); err != nil {
		return nil, err
	}
	return &pb.RangeResponse{Header: &pb.ResponseHeader{}}, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:23996", "listen address")
	delay := flag.Duration("delay", 0, "how long a request waits at least before its answer (0: answer at once)")
	every := flag.Duration("every", time.Millisecond, "how often the due requests are answered, together")
	flag.Parse()
	if *delay < 0 || *every <= 0 {
		fmt.Fprintln(os.Stderr, "groupnoop: -delay must be 0 or more and -every more than 0")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	var k kv
	if *delay > 0 {
		k.g = &groups{delay: *delay}
		go k.g.run(context.Background(), *every)
	}
	s := grpc.NewServer()
	pb.RegisterKVServer(s, k)
	log.Fatal(s.Serve(ln))
}
