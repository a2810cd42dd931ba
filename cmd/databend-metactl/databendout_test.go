package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/metasrv/metasrv/api/databendpb"
	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/client"
	"github.com/metasrv/metasrv/internal/clustertest"
)

func metaOf(expireAt, proposedAt *uint64) client.DatabendMeta {
	m := client.DatabendMeta{Set: true}
	if expireAt != nil {
		m.ExpireAt, m.HasExpireAt = *expireAt, true
	}
	if proposedAt != nil {
		m.ProposedAtMs, m.HasProposedAt = *proposedAt, true
	}
	return m
}

func u64(v uint64) *uint64 { return &v }

// The forms of databend-meta's own tests: watch_display.rs,
// seqv_display.rs (Display), seq-marked's SeqV and KVMeta (Debug),
// serde's SeqV (get).
func TestDatabendForms(t *testing.T) {
	prev := client.KV{Key: "test_key", Seq: 1, Data: []byte("test_prev"), Meta: metaOf(u64(1723102819), u64(1_723_102_800_000))}
	cur := client.KV{Key: "test_key", Seq: 2, Data: []byte("test_current")}
	ev := client.WatchEvent{Key: "test_key", Prev: prev, Current: cur}
	for _, tt := range []struct{ got, want string }{
		{dbWatchLine(ev), "received-watch-event: CHANGE:(test_key: (seq=1 [expire=2024-08-08T07:40:19.000, proposed=2024-08-08T07:40:00.000] 'test_prev') -> (seq=2 [] 'test_current'))"},
		{dbWatchLine(client.WatchEvent{Key: "k", Current: cur, Initialization: true}), "received-watch-event: INIT:(k: None -> (seq=2 [] 'test_current'))"},
		{dbWatchLine(client.WatchEvent{FlushDone: true}), "received-watch-event: CHANGE:None"},
		{dbSeqVDisplay(client.KV{Seq: 3, Data: []byte{0xff, 1}, Meta: metaOf(u64(100_000_000_001), nil)}), "(seq=3 [expire=1973-03-03T09:46:40.001] [255, 1])"},
		{dbSeqVDebug(client.KV{Seq: 42, Meta: metaOf(nil, u64(7))}), `Some(SeqV { seq: 42, meta: Some(KVMeta { expire_at: None, proposed_at_ms: Some(7) }), data: "[binary]" })`},
		{dbUpsertLine("mykey", client.UpsertResult{Result: client.KV{Seq: 123}}), `upsert-result: mykey: None -> Some(SeqV { seq: 123, meta: None, data: "[binary]" })`},
	} {
		if tt.got != tt.want {
			t.Errorf("got  %s\nwant %s", tt.got, tt.want)
		}
	}
	for _, tt := range []struct {
		kv   client.KV
		want string
	}{
		{client.KV{}, "null"},
		{client.KV{Seq: 123, Data: []byte("myvalue")}, `{"seq":123,"meta":null,"data":[109,121,118,97,108,117,101]}`},
		{client.KV{Seq: 5, Data: []byte("v"), Meta: metaOf(u64(1667291034), u64(1667291000000))}, `{"seq":5,"meta":{"expire_at":1667291034,"proposed_at_ms":1667291000000},"data":[118]}`},
		{client.KV{Seq: 5, Data: []byte{}, Meta: metaOf(nil, nil)}, `{"seq":5,"meta":{},"data":[]}`},
	} {
		got, err := dbGetJSON(tt.kv)
		if err != nil || string(got) != tt.want {
			t.Errorf("get %+v: %s, %v; want %s", tt.kv, got, err, tt.want)
		}
	}
	var b strings.Builder
	st := &databendpb.ClusterStatus{Id: 1, BinaryVersion: "v1", DataVersion: "V004", RaftLogSize: 1234, SnapshotKeyCount: 5678,
		Endpoint: "127.0.0.1:28004", State: "Leader", CurrentTerm: 1, LastSeq: 100, LastLogIndex: 200, LastApplied: "T1-N0.200",
		Leader: strPtr("id=1 raft=127.0.0.1:28004 grpc=127.0.0.1:9191"), Replication: map[uint64]string{2: "T1-N0.199", 1: "T1-N0.200"},
		Voters: []string{"id=1 raft=127.0.0.1:28004 grpc=127.0.0.1:9191"}}
	if err := writeDatabendStatus(&b, st); err != nil {
		t.Fatal(err)
	}
	want := `BinaryVersion: v1
DataVersion: V004
RaftLogSize: 1234
SnapshotKeyCount: 5678
Node: id=1 raft=127.0.0.1:28004
State: Leader
Leader: id=1 raft=127.0.0.1:28004 grpc=127.0.0.1:9191
CurrentTerm: 1
LastSeq: 100
LastLogIndex: 200
LastApplied: T1-N0.200
Replication:
  - [1] T1-N0.200
  - [2] T1-N0.199 *
Voters:
  - id=1 raft=127.0.0.1:28004 grpc=127.0.0.1:9191
`
	if b.String() != want {
		t.Errorf("status:\n%s\nwant\n%s", b.String(), want)
	}
}

func strPtr(s string) *string { return &s }

// The commands with --output databend against a node.
func TestOutputDatabend(t *testing.T) {
	c := clustertest.New(t, 1, clustertest.Options{ManualTicks: true})
	nd := c.Node(c.WaitLeader())
	addr := c.ServePublic(nd, clustertest.ServeOptions{})
	db := []string{"--grpc-api-address", addr, "--output", "databend", "--timeout", "10s"}
	run := func(args ...string) string {
		t.Helper()
		stdout, stderr, code := runCLI(t, append(append([]string{}, db...), args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d, stderr %q", args, code, stderr)
		}
		return stdout
	}
	if got := run("get", "--key", "k"); got != "null\n" {
		t.Errorf("get absent: %q", got)
	}
	got := run("upsert", "--key", "k", "--value", "v")
	kv, err := nd.Server.Get(c.Ctx(), "k", metapb.ReadConsistency_LINEARIZABLE)
	if err != nil {
		t.Fatal(err)
	}
	at := kv.GetMeta().GetProposedAtMs()
	if want := fmt.Sprintf("upsert-result: k: None -> Some(SeqV { seq: 1, meta: Some(KVMeta { expire_at: None, proposed_at_ms: Some(%d) }), data: \"[binary]\" })\n", at); got != want {
		t.Errorf("upsert:\n%s\nwant\n%s", got, want)
	}
	if got, want := run("get", "--key", "k"), fmt.Sprintf(`{"seq":1,"meta":{"proposed_at_ms":%d},"data":[118]}`+"\n", at); got != want {
		t.Errorf("get: %q, want %q", got, want)
	}
	if got := run("member-list"); got != addr+"\n" && got != clustertest.Addr(1)+"\n" {
		t.Errorf("member-list: %q", got)
	}
	status := run("status")
	for _, w := range []string{"DataVersion: V004\n", "Node: id=1 raft=" + clustertest.Addr(1) + "\n", "State: Leader\n", "LastSeq: 1\n", "Voters:\n  - id=1 "} {
		if !strings.Contains(status, w) {
			t.Errorf("status lacks %q:\n%s", w, status)
		}
	}

	// watch: the initial flush (always), its end, then a change.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- runContext(ctx, append(append([]string{}, db...), "watch", "--prefix", "k"), pw, &strings.Builder{})
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	next := func() string {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("watch ended: %v", lines.Err())
		}
		return lines.Text()
	}
	if got, want := next(), fmt.Sprintf("received-watch-event: INIT:(k: None -> (seq=1 [proposed=%s] 'v'))", dbTime(at)); got != want {
		t.Errorf("watch init:\n%s\nwant\n%s", got, want)
	}
	if got := next(); got != "received-watch-event: CHANGE:None" {
		t.Errorf("watch flush end: %s", got)
	}
	if _, err := nd.Server.Upsert(c.Ctx(), &metapb.UpsertRequest{Key: "k", Value: []byte("w")}); err != nil {
		t.Fatal(err)
	}
	kv, _ = nd.Server.Get(c.Ctx(), "k", metapb.ReadConsistency_LINEARIZABLE)
	if got, want := next(), fmt.Sprintf("received-watch-event: CHANGE:(k: (seq=1 [proposed=%s] 'v') -> (seq=2 [proposed=%s] 'w'))", dbTime(at), dbTime(kv.GetMeta().GetProposedAtMs())); got != want {
		t.Errorf("watch change:\n%s\nwant\n%s", got, want)
	}
	cancel()
	go io.Copy(io.Discard, pr)
	if code := <-done; code != 0 {
		t.Errorf("watch: exit %d", code)
	}
}
