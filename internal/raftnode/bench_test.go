package raftnode

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// syncStorage is a MemoryStorage whose Save also writes and fsyncs a small
// record, the disk cost of a WAL Save.
type syncStorage struct {
	*raft.MemoryStorage
	f *os.File
}

func (s *syncStorage) Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error {
	if _, err := s.f.Write(make([]byte, 64+300*len(ents))); err != nil {
		return err
	}
	if err := s.f.Sync(); err != nil {
		return err
	}
	if !raft.IsEmptySnap(snap) {
		if err := s.ApplySnapshot(snap); err != nil {
			return err
		}
	}
	if !raft.IsEmptyHardState(hs) {
		if err := s.SetHardState(hs); err != nil {
			return err
		}
	}
	return s.Append(ents)
}

// benchNet connects nodes 1-3 in one process: one goroutine per receiver
// steps what the others send (a copy), as a transport's reader does.
type benchNet struct {
	nodes [4]atomic.Pointer[Node]
	inC   [4]chan *raftpb.Message
}

// benchTransport is node's side of a benchNet.
type benchTransport struct{ net *benchNet }

func (t benchTransport) Send(msgs []*raftpb.Message) {
	for _, m := range msgs {
		select {
		case t.net.inC[m.GetTo()] <- proto.Clone(m).(*raftpb.Message):
		default: // dropped, as a full peer queue
		}
	}
}

func (n *benchNet) deliver(id uint64, stopC <-chan struct{}) {
	for {
		select {
		case m := <-n.inC[id]:
			_ = n.nodes[id].Load().Process(context.Background(), m)
		case <-stopC:
			return
		}
	}
}

// benchCluster is three nodes on a MemNetwork whose Saves fsync; the
// leader's applied proposals are announced by their 8-byte number.
type benchCluster struct {
	leader *Node
	mu     sync.Mutex
	wait   map[uint64]chan struct{}
}

func startBenchCluster(b *testing.B) *benchCluster {
	b.Helper()
	c := &benchCluster{wait: map[uint64]chan struct{}{}}
	net := &benchNet{}
	stopC := make(chan struct{})
	b.Cleanup(func() { close(stopC) })
	peers := []raft.Peer{{ID: 1}, {ID: 2}, {ID: 3}}
	for id := uint64(1); id <= 3; id++ {
		net.inC[id] = make(chan *raftpb.Message, 4096)
		f, err := os.Create(filepath.Join(b.TempDir(), "wal"))
		if err != nil {
			b.Fatal(err)
		}
		n, err := Start(Config{
			ID: id, TickInterval: 10 * time.Millisecond, HeartbeatTick: 1, ElectionTick: 10,
			Storage: &syncStorage{MemoryStorage: raft.NewMemoryStorage(), f: f}, Transport: benchTransport{net}, Peers: peers,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			b.Fatal(err)
		}
		net.nodes[id].Store(n)
		go net.deliver(id, stopC)
		b.Cleanup(func() { n.Stop(); f.Close() })
		if id == 1 {
			c.leader = n
		}
		go func() {
			for ap := range n.ApplyC() {
				for _, e := range ap.Entries {
					if id == 1 && e.GetType() == raftpb.EntryNormal && len(e.GetData()) == 8 {
						c.applied(binary.BigEndian.Uint64(e.GetData()))
					}
					if e.GetType() == raftpb.EntryConfChange {
						var cc raftpb.ConfChange
						_ = proto.Unmarshal(e.GetData(), &cc)
						n.ApplyConfChange(cc.AsV2())
					}
				}
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for !c.leader.IsLeader() {
		if time.Now().After(deadline) {
			b.Fatal("node 1 did not become leader")
		}
		_ = c.leader.Campaign(context.Background())
		// The benchmark measures the pipeline on real ticks (a ticker
		// drives the node): the election takes real time to win.
		time.Sleep(20 * time.Millisecond)
	}
	return c
}

func (c *benchCluster) applied(k uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.wait[k]; ok {
		close(ch)
		delete(c.wait, k)
	}
}

// propose proposes k on the leader and waits until the leader applied it.
func (c *benchCluster) propose(b *testing.B, k uint64) {
	ch := make(chan struct{})
	c.mu.Lock()
	c.wait[k] = ch
	c.mu.Unlock()
	if err := c.leader.Propose(context.Background(), binary.BigEndian.AppendUint64(nil, k)); err != nil {
		b.Error(err)
		return
	}
	<-ch
}

// BenchmarkProposeToApply measures, on three in-process nodes whose Saves
// fsync, the time from Propose on the leader until the leader applies the
// entry: the raft glue's share of a write, without gRPC. ns/op at 1
// proposer is the latency; at 100 it is 1/throughput.
func BenchmarkProposeToApply(b *testing.B) {
	for _, proposers := range []int{1, 100} {
		b.Run(map[int]string{1: "proposers=1", 100: "proposers=100"}[proposers], func(b *testing.B) {
			c := startBenchCluster(b)
			var next atomic.Uint64
			b.ResetTimer()
			var wg sync.WaitGroup
			for range proposers {
				wg.Go(func() {
					for k := next.Add(1); k <= uint64(b.N); k = next.Add(1) {
						c.propose(b, k)
					}
				})
			}
			wg.Wait()
		})
	}
}
