package databendapi_test

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	"github.com/metasrv/metasrv/api/databendpb"
	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/backup"
	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/databendfixtures"
	"github.com/metasrv/metasrv/internal/databendjson"
)

// fixtureState is what a fixture dump's state_machine section says: its
// keys, its last seq, and the times its log and its leases span.
type fixtureState struct {
	keys    []*databendjson.DumpGenericKV
	lastSeq uint64
	// lastEntryMs is the newest time_ms of its log; firstExpiryMs the
	// soonest expiry of a key.
	lastEntryMs, firstExpiryMs uint64
}

func readFixture(t *testing.T, name string) fixtureState {
	t.Helper()
	var st fixtureState
	st.firstExpiryMs = ^uint64(0)
	rd := databendjson.NewReader(bytes.NewReader(databendfixtures.Read(t, name)))
	for {
		l, err := rd.Next()
		if err == io.EOF {
			return st
		}
		if err != nil {
			t.Fatal(err)
		}
		switch e := l.Entry.(type) {
		case *databendjson.DumpGenericKV:
			st.keys = append(st.keys, e)
			if ms, ok := e.Value.Meta.ExpireAtMs(); ok {
				st.firstExpiryMs = min(st.firstExpiryMs, ms)
			}
		case *databendjson.DumpSequences:
			st.lastSeq = e.Value
		case *databendjson.DumpLogEntry:
			if le, ok := e.Entry.Payload.(*databendjson.LogEntry); ok && le.TimeMs != nil {
				st.lastEntryMs = max(st.lastEntryMs, *le.TimeMs)
			}
		case *databendjson.DumpLogs:
			if le, ok := e.Value.Payload.(*databendjson.LogEntry); ok && le.TimeMs != nil {
				st.lastEntryMs = max(st.lastEntryMs, *le.TimeMs)
			}
		}
	}
}

// importedCluster imports a fixture dump into a new 3-node cluster (as
// databend-metactl import --initial-cluster does, once per node) and
// starts it with now as the nodes' wall clock (nil: the real clock).
func importedCluster(t *testing.T, name string, now func() time.Time) *clustertest.Cluster {
	t.Helper()
	var initial []backup.Node
	for id := uint64(1); id <= 3; id++ {
		initial = append(initial, backup.Node{ID: id, RaftAddress: clustertest.Addr(id)})
	}
	dirs := map[uint64]string{}
	for id := uint64(1); id <= 3; id++ {
		dirs[id] = filepath.Join(t.TempDir(), "raft")
		_, err := backup.Import(backup.ImportConfig{Dir: dirs[id], ID: id, ClusterName: "test", InitialCluster: initial},
			bytes.NewReader(databendfixtures.Read(t, name)))
		if err != nil {
			t.Fatalf("import %s into node %d: %v", name, id, err)
		}
	}
	return clustertest.NewOnDirs(t, dirs, clustertest.Options{ManualTicks: true, Now: now})
}

// TestImportedFixtureServed: a cluster started on the import of a real
// databend-meta dump serves every key of its state_machine section
// through both faces, native metasrv.v1.Meta and Databend's KvApi and
// KvReadV1, with its seq, value and expiry; the next put takes the dump's
// generic-kv + 1. Two clocks: just after the dump's last entry, before its
// leases expire, every key is live; at the real clock the dump's leases
// (the __fd_clusters keys, years old) have expired, both faces hide them,
// and the next put still takes generic-kv + 1, since removing an expired
// key takes no seq.
func TestImportedFixtureServed(t *testing.T) {
	for _, name := range []string{databendfixtures.V004, databendfixtures.V003} {
		fx := readFixture(t, name)
		if len(fx.keys) == 0 || fx.lastEntryMs >= fx.firstExpiryMs {
			t.Fatalf("fixture: %d keys, last entry at %d, first expiry at %d", len(fx.keys), fx.lastEntryMs, fx.firstExpiryMs)
		}
		for _, tc := range []struct {
			name        string
			now         func() time.Time
			wantExpired int
		}{
			{"before the leases expire", clustertest.NewClock(time.UnixMilli(int64(fx.lastEntryMs + 1000))).Now, 0},
			{"at the real clock", nil, 3},
		} {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				now := tc.now
				if now == nil {
					now = time.Now
				}
				testImportedServed(t, name, fx, now, tc.wantExpired)
			})
		}
	}
}

// testImportedServed checks the keys of fx on a cluster started on the
// import of fixture name at clock now: each key that has not expired at
// now (there must be wantExpired that have) through both faces, the
// others through neither, then the seq of the next put.
func testImportedServed(t *testing.T, name string, fx fixtureState, now func() time.Time, wantExpired int) {
	cl := importedCluster(t, name, now)
	lead := cl.WaitLeader()
	kv := dialDatabend(t, cl, cl.Node(followerOf(cl, lead)))
	native := metapb.NewMetaClient(dialDatabend(t, cl, cl.Node(lead)).conn)
	nowMs := uint64(now().UnixMilli())

	keys := make([]string, len(fx.keys))
	var live []*databendjson.DumpGenericKV
	for i, k := range fx.keys {
		keys[i] = k.Key
		if ms, ok := k.Value.Meta.ExpireAtMs(); !ok || ms > nowMs {
			live = append(live, k)
		}
	}
	if expired := len(fx.keys) - len(live); expired != wantExpired {
		t.Fatalf("%d of the fixture's keys have expired at %d, want %d", expired, nowMs, wantExpired)
	}
	items := kv.readV1(&databendjson.MGetKV{Keys: keys})
	r, err := kv.c.KvApi(kv.ctx, &databendpb.RaftRequest{Data: `{"ListKV":{"prefix":""}}`})
	if err != nil {
		t.Fatal(err)
	}
	var list databendjson.ListKVReply
	if err := databendjson.Unmarshal([]byte(r.GetData()), &list); err != nil {
		t.Fatalf("ListKV reply %q: %v", r.GetData(), err)
	}
	if len(items) != len(keys) || len(list.Items) != len(live) {
		t.Fatalf("KvReadV1 MGetKV answered %d items, want %d; KvApi ListKV %d, want %d", len(items), len(keys), len(list.Items), len(live))
	}
	show := func(key string, seq, expireMs uint64, data []byte) string {
		if seq == 0 {
			return key + " absent"
		}
		return fmt.Sprintf("%s seq %d expire_at_ms %d data %q", key, seq, expireMs, data)
	}
	li := 0
	for i, k := range fx.keys {
		wantMs, _ := k.Value.Meta.ExpireAtMs()
		want := show(k.Key, k.Value.Seq, wantMs, k.Value.Data)
		isLive := wantMs == 0 || wantMs > nowMs
		if !isLive {
			want = show(k.Key, 0, 0, nil)
		}

		g, err := native.Get(cl.Ctx(), &metapb.GetRequest{Key: k.Key})
		if err != nil {
			t.Fatal(err)
		}
		v := g.GetValue()
		if got := show(k.Key, v.GetSeq(), v.GetExpireAtMs(), v.GetData()); got != want {
			t.Errorf("native Get:\n got %s\nwant %s", got, want)
		}

		it := items[i]
		ms := databendjson.ExpireAtMs(it.GetValue().GetMeta().GetExpireAt())
		if got := show(it.GetKey(), it.GetValue().GetSeq(), ms, it.GetValue().GetData()); got != want {
			t.Errorf("KvReadV1 MGetKV:\n got %s\nwant %s", got, want)
		}

		if !isLive {
			continue
		}
		l := list.Items[li]
		li++
		ms, _ = l.Value.Meta.ExpireAtMs()
		if got := show(l.Key, l.Value.Seq, ms, l.Value.Data); got != want {
			t.Errorf("KvApi ListKV:\n got %s\nwant %s", got, want)
		}
	}

	put, err := native.Upsert(cl.Ctx(), &metapb.UpsertRequest{Key: "after-import", Value: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if put.GetResult().GetSeq() != fx.lastSeq+1 {
		t.Errorf("the first put after the import took seq %d, want generic-kv %d + 1", put.GetResult().GetSeq(), fx.lastSeq)
	}
}

// exportRPC reads the whole of a Databend export stream: its lines and
// the number of lines of each chunk.
func exportRPC(t *testing.T, recv func() (*databendpb.ExportedChunk, error)) (lines []string, chunks []int) {
	t.Helper()
	for {
		c, err := recv()
		if err == io.EOF {
			return lines, chunks
		}
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, c.GetData()...)
		chunks = append(chunks, len(c.GetData()))
	}
}

// keyLines are the lines of a Databend export that a running cluster
// without writes keeps as they are: the header and the keys (the
// sequence, the expiry index, the values). The log id of the last applied
// entry and the member table move on as the nodes record their addresses.
func keyLines(lines []string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, `["header",`) || strings.Contains(l, `{"Sequences":`) ||
			strings.Contains(l, `{"Expire":`) || strings.Contains(l, `{"GenericKV":`) {
			out = append(out, l)
		}
	}
	return out
}

// Export and ExportV1 stream the node's state as Databend's dump lines,
// in chunks of 32 lines or of chunk_size: the lines backup.ExportDatabend
// writes of that state.
func TestExport(t *testing.T) {
	fx := readFixture(t, databendfixtures.V004)
	clock := clustertest.NewClock(time.UnixMilli(int64(fx.lastEntryMs + 1000)))
	cl := importedCluster(t, databendfixtures.V004, clock.Now)
	lead := cl.WaitLeader()
	nd := cl.Node(followerOf(cl, lead))
	kv := dialDatabend(t, cl, nd)
	var want bytes.Buffer
	if err := backup.ExportDatabend(&want, nd.Server.StateMachine(), nd.ID, nd.Server.TermOf); err != nil {
		t.Fatal(err)
	}
	wantLines := strings.Split(strings.TrimSuffix(want.String(), "\n"), "\n")

	st, err := kv.c.Export(kv.ctx, &databendpb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	lines, chunks := exportRPC(t, st.Recv)
	if diff := cmp.Diff(keyLines(wantLines), keyLines(lines)); diff != "" || len(lines) != len(wantLines) {
		t.Errorf("Export: %d lines, want %d; key lines (-want +got):\n%s", len(lines), len(wantLines), diff)
	}
	for i, n := range chunks {
		if n != 32 && i != len(chunks)-1 {
			t.Errorf("chunk %d of %d has %d lines, want 32", i, len(chunks), n)
		}
	}
	// The generic-kv sequence and every key of the dump are there.
	if !strings.Contains(want.String(), fmt.Sprintf(`{"Sequences":{"key":"generic-kv","value":%d}}`, fx.lastSeq)) ||
		strings.Count(want.String(), `"GenericKV"`) != len(fx.keys) {
		t.Errorf("export:\n%s", want.String())
	}

	five := uint64(5)
	st1, err := kv.c.ExportV1(kv.ctx, &databendpb.ExportRequest{ChunkSize: &five})
	if err != nil {
		t.Fatal(err)
	}
	lines, chunks = exportRPC(t, st1.Recv)
	if diff := cmp.Diff(keyLines(wantLines), keyLines(lines)); diff != "" || len(lines) != len(wantLines) {
		t.Errorf("ExportV1: %d lines, want %d; key lines (-want +got):\n%s", len(lines), len(wantLines), diff)
	}
	if len(chunks) != (len(lines)+4)/5 || chunks[0] != 5 {
		t.Errorf("ExportV1 chunk_size 5: chunks of %v lines", chunks)
	}

	zero := uint64(0)
	st0, err := kv.c.ExportV1(kv.ctx, &databendpb.ExportRequest{ChunkSize: &zero})
	if err == nil {
		_, err = st0.Recv()
	}
	wantCode(t, "ExportV1 chunk_size 0", err, codes.InvalidArgument, "chunk_size 0")
}
