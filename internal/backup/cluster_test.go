package backup_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/backup"
	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/server"
	"github.com/metasrv/metasrv/internal/storage"
)

// put writes key through srv and returns the stored value.
func put(t *testing.T, c *clustertest.Cluster, srv *server.Server, req *metapb.UpsertRequest) *metapb.SeqV {
	t.Helper()
	reply, err := srv.Upsert(c.Ctx(), req)
	if err != nil {
		t.Fatalf("upsert %q: %v", req.GetKey(), err)
	}
	return reply.GetResult()
}

// writeSample writes keys of every kind through the leader and returns the
// last value of each present key.
func writeSample(t *testing.T, c *clustertest.Cluster) map[string]*metapb.SeqV {
	t.Helper()
	srv := c.Node(c.WaitLeader()).Server
	want := map[string]*metapb.SeqV{}
	for i := range 30 {
		k := fmt.Sprintf("k/%03d", i)
		want[k] = put(t, c, srv, &metapb.UpsertRequest{Key: k, Value: []byte(fmt.Sprint("v", i))})
	}
	for i := range 5 { // updated: version and create_seq differ from seq
		k := fmt.Sprintf("k/%03d", i)
		want[k] = put(t, c, srv, &metapb.UpsertRequest{Key: k, Value: []byte("updated")})
	}
	put(t, c, srv, &metapb.UpsertRequest{Key: "k/010", Op: metapb.UpsertRequest_DELETE})
	delete(want, "k/010")
	want["bin"] = put(t, c, srv, &metapb.UpsertRequest{Key: "bin", Value: []byte{0, 0xff, 1}})
	want["ttl"] = put(t, c, srv, &metapb.UpsertRequest{Key: "ttl", Value: []byte("t"), TtlMs: 3_600_000})
	far := uint64(time.Now().Add(48 * time.Hour).UnixMilli())
	want["expire-at"] = put(t, c, srv, &metapb.UpsertRequest{Key: "expire-at", Value: []byte("e"), ExpireAtMs: far})
	return want
}

// exportFrom exports through srv.
func exportFrom(t *testing.T, c *clustertest.Cluster, srv *server.Server) string {
	t.Helper()
	var buf bytes.Buffer
	sm, name, now, err := srv.ExportSource(c.Ctx())
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	if err := backup.ExportStateMachine(&buf, sm, name, now); err != nil {
		t.Fatalf("export: %v", err)
	}
	return buf.String()
}

// parse reads a whole dump.
func parse(t *testing.T, dump string) (backup.Header, map[string]backup.KV, []string) {
	t.Helper()
	r, err := backup.NewReader(strings.NewReader(dump))
	if err != nil {
		t.Fatalf("read dump: %v", err)
	}
	kvs := map[string]backup.KV{}
	var order []string
	for {
		kv, err := r.Next()
		if err == io.EOF {
			return r.Header(), kvs, order
		}
		if err != nil {
			t.Fatalf("read dump: %v", err)
		}
		kvs[kv.Key] = kv
		order = append(order, kv.Key)
	}
}

// stateDump exports a node's state machine with a fixed export time, to
// compare states.
func stateDump(t *testing.T, nd *clustertest.Node) string {
	t.Helper()
	var buf bytes.Buffer
	if err := backup.ExportStateMachine(&buf, nd.Server.StateMachine(), "test", 1); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func kvLines(dump string) []string {
	var out []string
	for _, l := range strings.Split(dump, "\n") {
		if strings.HasPrefix(l, `{"type":"kv"`) {
			out = append(out, l)
		}
	}
	return out
}

func checkMatches(t *testing.T, kvs map[string]backup.KV, want map[string]*metapb.SeqV) {
	t.Helper()
	if len(kvs) != len(want) {
		t.Errorf("dump holds %d keys, want %d", len(kvs), len(want))
	}
	for k, v := range want {
		got, ok := kvs[k]
		if !ok {
			t.Errorf("key %q missing from the dump", k)
			continue
		}
		w := backup.KV{Key: k, Seq: v.GetSeq(), CreateSeq: v.GetCreateSeq(), Version: v.GetVersion(),
			ExpireAtMs: v.GetExpireAtMs(), Data: v.GetData()}
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("key %q (-want +got):\n%s", k, diff)
		}
	}
}

func TestExportFromCluster(t *testing.T) {
	c := clustertest.New(t, 3, clustertest.Options{ManualTicks: true})
	want := writeSample(t, c)
	lead := c.WaitLeader()
	for _, nd := range c.Nodes() {
		t.Run(fmt.Sprintf("node %d", nd.ID), func(t *testing.T) {
			// Linearizable: a write acknowledged just before is in the
			// dump, even when exporting from a follower.
			v := put(t, c, c.Node(lead).Server, &metapb.UpsertRequest{Key: "last", Value: []byte(fmt.Sprint(nd.ID))})
			want["last"] = v
			h, kvs, _ := parse(t, exportFrom(t, c, nd.Server))
			checkMatches(t, kvs, want)
			if h.LastSeq != v.GetSeq() || h.ClusterName != "test" || len(h.Nodes) != 3 {
				t.Errorf("header %+v: want last_seq %d, cluster test, 3 nodes", h, v.GetSeq())
			}
			for _, n := range h.Nodes {
				if n.RaftAddress != clustertest.Addr(n.ID) || n.GrpcAddress == "" || !n.Voter {
					t.Errorf("header node %+v", n)
				}
			}
		})
	}
}

// TestExportUnderWrites exports while a writer runs: the dump is the state
// at exactly its last_seq, holding every write with a seq up to it and
// none after.
func TestExportUnderWrites(t *testing.T) {
	c := clustertest.New(t, 3, clustertest.Options{ManualTicks: true})
	lead := c.Node(c.WaitLeader()).Server // leader throughout: raft's time stands still
	var (
		mu      sync.Mutex
		written = map[string]uint64{}
		stop    = make(chan struct{})
		done    = make(chan error, 1)
	)
	ctx := c.Ctx()
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			k := fmt.Sprintf("w/%06d", i)
			reply, err := lead.Upsert(ctx, &metapb.UpsertRequest{Key: k, Value: []byte("x")})
			if err != nil {
				done <- err
				return
			}
			mu.Lock()
			written[k] = reply.GetResult().GetSeq()
			mu.Unlock()
		}
	}()
	c.Eventually(func() bool { mu.Lock(); defer mu.Unlock(); return len(written) >= 20 }, "20 writes")
	dump := exportFrom(t, c, lead)
	c.Eventually(func() bool { mu.Lock(); defer mu.Unlock(); return len(written) >= 60 }, "more writes after the export")
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	h, kvs, _ := parse(t, dump)
	var in, out int
	for k, seq := range written {
		kv, ok := kvs[k]
		switch {
		case seq <= h.LastSeq && (!ok || kv.Seq != seq):
			t.Errorf("write %q at seq %d <= last_seq %d: dump has %+v (present %v)", k, seq, h.LastSeq, kv, ok)
		case seq > h.LastSeq && ok:
			t.Errorf("write %q at seq %d > last_seq %d is in the dump", k, seq, h.LastSeq)
		case ok:
			in++
		default:
			out++
		}
	}
	if in == 0 || out == 0 {
		t.Errorf("%d writes in the dump, %d after it: want both", in, out)
	}
}

func TestExportFromStoppedDir(t *testing.T) {
	// Small snapshot interval: the state comes from a snapshot and WAL
	// entries after it.
	c := clustertest.New(t, 3, clustertest.Options{ManualTicks: true, SnapshotLogsSinceLast: 10, MaxAppliedLogToKeep: 5})
	want := writeSample(t, c)
	lead := c.WaitLeader()
	var follower *clustertest.Node
	for _, nd := range c.Nodes() {
		if nd.ID != lead {
			follower = nd
		}
	}
	leadSM := c.Node(lead).Server.StateMachine()
	c.Settled(func() bool {
		return follower.Server.StateMachine().AppliedIndex() == leadSM.AppliedIndex()
	}, "the follower applies everything")
	// A snapshot now, then a few writes (fewer than
	// snapshot_logs_since_last): entries after it, whenever the automatic
	// snapshots fell (each node draws a slack on their threshold).
	if _, err := follower.Server.TriggerSnapshot(c.Ctx()); err != nil {
		t.Fatal(err)
	}
	srv := c.Node(lead).Server
	for i := range 3 {
		k := fmt.Sprintf("after-snapshot/%d", i)
		want[k] = put(t, c, srv, &metapb.UpsertRequest{Key: k, Value: []byte("a")})
	}
	c.Settled(func() bool {
		return follower.Server.StateMachine().AppliedIndex() == leadSM.AppliedIndex()
	}, "the follower applies the writes after its snapshot")
	live := stateDump(t, follower)

	// A running node's directory is refused.
	if _, err := backup.LoadDir(follower.Dir, nil); !errors.Is(err, storage.ErrLocked) {
		t.Fatalf("LoadDir of a running node: %v, want ErrLocked", err)
	}

	dir := c.Stop(follower.ID)
	ro, err := storage.OpenReadOnly(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ro.Snapshot.GetMetadata().GetIndex() == 0 || len(ro.Entries) == 0 {
		t.Errorf("want a snapshot and entries after it to replay: snapshot index %d, %d entries",
			ro.Snapshot.GetMetadata().GetIndex(), len(ro.Entries))
	}
	if _, err := backup.LoadDir(dir, nil); !errors.Is(err, storage.ErrLocked) {
		t.Errorf("LoadDir while OpenReadOnly holds the dir: %v, want ErrLocked", err)
	}
	ro.Close()
	ld, err := backup.LoadDir(dir, nil)
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	if ld.ID != follower.ID || ld.ClusterName != "test" {
		t.Errorf("loaded id %d cluster %q", ld.ID, ld.ClusterName)
	}
	var buf bytes.Buffer
	if err := backup.ExportStateMachine(&buf, ld.SM, ld.ClusterName, 1); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(kvLines(live), kvLines(buf.String())); diff != "" {
		t.Errorf("export of the stopped node's dir differs from its live state (-live +dir):\n%s", diff)
	}
	h, kvs, _ := parse(t, buf.String())
	checkMatches(t, kvs, want)
	if h.LastSeq != leadSM.LastSeq() {
		t.Errorf("last_seq %d, want %d", h.LastSeq, leadSM.LastSeq())
	}

	// The directory is unchanged and the node restarts on it.
	nd := c.Restart(follower.ID, dir)
	c.Tick(1) // the leader's heartbeat: the node learns the commit index again
	c.Settled(func() bool { return nd.Server.StateMachine().AppliedIndex() >= leadSM.AppliedIndex() }, "the restarted node catches up")

	if _, err := backup.LoadDir(filepath.Join(t.TempDir(), "none"), nil); !errors.Is(err, storage.ErrNotRaftDir) {
		t.Errorf("LoadDir of a missing dir: %v, want ErrNotRaftDir", err)
	}
}

func TestImportIntoNewCluster(t *testing.T) {
	src := clustertest.New(t, 3, clustertest.Options{ManualTicks: true})
	want := writeSample(t, src)
	dump := exportFrom(t, src, src.Node(src.WaitLeader()).Server)
	srcHeader, _, _ := parse(t, dump)
	src.StopAll()

	ids := []uint64{11, 12, 13}
	var initial []backup.Node
	for _, id := range ids {
		initial = append(initial, backup.Node{ID: id, RaftAddress: clustertest.Addr(id)})
	}
	dirs := map[uint64]string{}
	for _, id := range ids {
		dirs[id] = filepath.Join(t.TempDir(), "raft")
		res, err := backup.Import(backup.ImportConfig{Dir: dirs[id], ID: id, InitialCluster: initial}, strings.NewReader(dump))
		if err != nil {
			t.Fatalf("import node %d: %v", id, err)
		}
		if res.ClusterName != "test" || res.LastSeq != srcHeader.LastSeq || res.Keys != uint64(len(want)) {
			t.Errorf("import result %+v", res)
		}
	}

	c := clustertest.NewOnDirs(t, dirs, clustertest.Options{ManualTicks: true})
	lead := c.WaitLeader()
	for _, nd := range c.Nodes() {
		sm := nd.Server.StateMachine()
		if sm.LastSeq() != srcHeader.LastSeq {
			t.Errorf("node %d: last seq %d, want %d", nd.ID, sm.LastSeq(), srcHeader.LastSeq)
		}
		if diff := cmp.Diff(kvLines(dump), kvLines(stateDump(t, nd))); diff != "" {
			t.Errorf("node %d: restored state differs (-exported +restored):\n%s", nd.ID, diff)
		}
		var gotIDs []uint64
		for _, m := range nd.Server.Members() {
			gotIDs = append(gotIDs, m.GetId())
			if m.GetRaftAddress() != clustertest.Addr(m.GetId()) || !m.GetVoter() {
				t.Errorf("node %d: member %v", nd.ID, m)
			}
		}
		if diff := cmp.Diff(ids, gotIDs); diff != "" {
			t.Errorf("node %d: members (-want +got):\n%s", nd.ID, diff)
		}
	}

	// New writes continue from last_seq + 1, and every node applies them.
	v := put(t, c, c.Node(lead).Server, &metapb.UpsertRequest{Key: "after-import", Value: []byte("x")})
	if v.GetSeq() != srcHeader.LastSeq+1 {
		t.Errorf("first write after import got seq %d, want %d", v.GetSeq(), srcHeader.LastSeq+1)
	}
	want["after-import"] = v
	for _, nd := range c.Nodes() {
		got, err := nd.Server.Get(c.Ctx(), "k/003", metapb.ReadConsistency_LINEARIZABLE)
		if err != nil || got.GetSeq() != want["k/003"].GetSeq() {
			t.Errorf("node %d: get k/003: %v, %v", nd.ID, got, err)
		}
		_, kvs, _ := parse(t, exportFrom(t, c, nd.Server))
		checkMatches(t, kvs, want)
	}

	// A restart keeps the imported state (snapshot plus log).
	dir := c.Stop(12)
	nd := c.Restart(12, dir)
	c.WaitLeader() // ticks until another node is elected, if node 12 led
	c.Tick(1)      // the leader's heartbeat: node 12 learns the commit index again
	c.Settled(func() bool { return nd.Server.StateMachine().LastSeq() == v.GetSeq() }, "node 12 restarts with the state")
}
