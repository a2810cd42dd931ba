package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/metasrv/metasrv/api/databendpb"
	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/databendapi"
	"github.com/metasrv/metasrv/internal/databendfixtures"
	"github.com/metasrv/metasrv/internal/databendjson"
)

// A databend-meta cluster's dump moved to metasrv with the real binaries,
// as Databend's operators restore one: databend-metactl import of the
// fixture (from --db, and from stdin) on each node with --id and
// Databend's --initial-cluster ID=HOST:RAFT_PORT,GRPC_HOST:GRPC_PORT, then
// databend-meta on each raft_dir. The export in Databend's format of the
// imported raft_dir gives want_exported_v004's lines; from the running
// cluster, through both faces, the same lines but the keys that expired
// (the leader removes them on time); every key of the dump reads the same
// through both faces; the next put takes Sequences.generic-kv + 1.
func TestDatabendDumpImported(t *testing.T) {
	t.Parallel()
	want := wantExportedLines(t)
	for _, name := range []string{databendfixtures.V004, databendfixtures.V003} {
		t.Run(name, func(t *testing.T) {
			testDatabendDumpImported(t, databendfixtures.File(t, name), want)
		})
	}
}

// wantExportedLines returns the header and state_machine/0 lines of
// want_exported_v004, as they are in the file.
func wantExportedLines(t *testing.T) []string {
	t.Helper()
	return withoutRaftLog(string(databendfixtures.Read(t, databendfixtures.WantExported)))
}

// withoutRaftLog returns the lines of a Databend dump but its raft_log
// section.
func withoutRaftLog(dump string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(dump, "\n"), "\n") {
		if !strings.HasPrefix(l, `["raft_log",`) {
			out = append(out, l)
		}
	}
	return out
}

func testDatabendDumpImported(t *testing.T, fixture string, want []string) {
	dir := t.TempDir()
	metactl := func(stdin string, args ...string) cmdResult {
		t.Helper()
		res := runMetactl(t, dir, stdin, nil, args...)
		if res.code != 0 {
			t.Fatalf("databend-metactl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
		}
		return res
	}

	// Without --initial-cluster the dump's members are kept: the raft_dir
	// exports exactly what databend-metactl exports after its import.
	metactl("", "import", "--raft-dir", "./_kept", "--db", fixture)
	kept := metactl("", "export", "--raft-dir", "./_kept", "--format", "databend")
	diffLines(t, "export --raft-dir of the import without --initial-cluster", want, withoutRaftLog(kept.stdout))

	// A new cluster of nodes 4, 5 and 6, as in Databend's restore guide.
	ids := []uint64{4, 5, 6}
	p := map[uint64]nodePorts{}
	var initial []string
	for _, id := range ids {
		p[id] = newNodePorts(t)
		initial = append(initial, "--initial-cluster", fmt.Sprintf("%d=localhost:%d,127.0.0.1:%d", id, p[id].raft, p[id].grpc))
	}
	var nodes []*node
	for i, id := range ids {
		raftDir := fmt.Sprintf("./_new_meta%d", id)
		args := append([]string{"import", "--raft-dir", raftDir, fmt.Sprintf("--id=%d", id)}, initial...)
		stdin := ""
		if i == 1 {
			// The dump piped in, without --db.
			b, err := os.ReadFile(fixture)
			if err != nil {
				t.Fatal(err)
			}
			stdin = string(b)
		} else {
			args = append(args, "--db", fixture)
		}
		metactl(stdin, args...)
		nodes = append(nodes, newRestoredNode(t, id, dir, raftDir, fmt.Sprintf("./_new_logs%d", id), p[id]))
	}

	// What the new cluster's export must be: want_exported_v004 with the
	// new members, set at LastApplied's log id (83) as databend-metactl
	// import --initial-cluster records them, and LastApplied wherever the
	// new cluster's log is (its leader's first entry is past 83).
	const lastApplied83 = `{"leader_id":{"term":1,"node_id":0},"index":83}`
	lastAppliedLine := regexp.MustCompile(`^\["state_machine/0",\{"StateMachineMeta":\{"key":"LastApplied","value":\{"LogId":\{"leader_id":\{"term":(\d+),"node_id":0\},"index":(\d+)\}\}\}\}\]$`)
	var newWant []string
	for _, l := range want {
		switch {
		case strings.Contains(l, `{"Nodes":`):
			if !strings.Contains(l, `"key":1,`) {
				continue
			}
			for _, id := range ids {
				newWant = append(newWant, fmt.Sprintf(`["state_machine/0",{"Nodes":{"key":%d,"value":{"name":"%d","endpoint":{"addr":"localhost","port":%d},"grpc_api_advertise_address":"127.0.0.1:%d"}}}]`,
					id, id, p[id].raft, p[id].grpc))
			}
		case strings.Contains(l, `"key":"LastMembership"`):
			newWant = append(newWant, `["state_machine/0",{"StateMachineMeta":{"key":"LastMembership","value":{"Membership":{"log_id":`+lastApplied83+
				`,"membership":{"configs":[[4,5,6]],"nodes":{"4":{},"5":{},"6":{}}}}}}}]`)
		default:
			newWant = append(newWant, l)
		}
	}
	checkNewExport := func(what string, lines []string) {
		t.Helper()
		got := slices.Clone(withoutRaftLog(strings.Join(lines, "\n")))
		for i, l := range got {
			m := lastAppliedLine.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			if index, _ := strconv.ParseUint(m[2], 10, 64); index <= 83 {
				t.Errorf("%s: %s: the new cluster's log goes on past 83", what, l)
			}
			got[i] = strings.Replace(l, `{"LogId":`+fmt.Sprintf(`{"leader_id":{"term":%s,"node_id":0},"index":%s}`, m[1], m[2]), `{"LogId":`+lastApplied83, 1)
		}
		diffLines(t, what, newWant, got)
	}

	startTogether(t, nodes...)
	c := &cluster{t: t, dir: dir, nodes: nodes}
	leader := c.waitLeader(nodes...)
	follower := nodes[0]
	if follower == leader {
		follower = nodes[1]
	}

	// The dump's keys expired in 2022: the new leader removes them (one
	// expire entry, no seq taken), and no other write is made. Exported
	// from the cluster once it did, through the native API
	// (databend-metactl export --format databend) and Databend's Export:
	// the import's lines without the expired keys and their expiry index.
	live := withoutExpired(newWant, uint64(time.Now().UnixMilli()))
	if len(newWant)-len(live) != 6 {
		t.Fatalf("the dump's 3 expired keys and their expiry index make %d lines, want 6", len(newWant)-len(live))
	}
	newWant = live
	var exported cmdResult
	waitFor(t, clusterTimeout, "the leader removing the dump's expired keys", func() error {
		exported = metactl("", "--grpc-api-address", follower.grpcAddr(), "export", "--format", "databend")
		if strings.Contains(exported.stdout, `{"Expire":`) {
			return fmt.Errorf("the export still holds the expiry index")
		}
		return nil
	})
	checkNewExport("databend-metactl export --format databend", strings.Split(strings.TrimSuffix(exported.stdout, "\n"), "\n"))
	db := &databendConn{n: leader, db: databendpb.NewMetaServiceClient(leader.conn())}
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	if err := db.handshake(ctx); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	authed := metadata.AppendToOutgoingContext(ctx, databendapi.TokenKey, string(db.token))
	st, err := db.db.Export(authed, &databendpb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	var rpcLines []string
	for _, chunk := range recvAll(t, "Export", st.Recv) {
		rpcLines = append(rpcLines, chunk.GetData()...)
	}
	checkNewExport("Databend's Export RPC", rpcLines)

	// Every key of the dump, through both faces, at the real clock: the
	// dump's leases expired long ago, and both hide them.
	var keys []string
	wantKV := map[string]string{}
	lastSeq := uint64(0)
	nowMs := uint64(time.Now().UnixMilli())
	rd := databendjson.NewReader(bytes.NewReader(databendfixtures.Read(t, filepath.Base(fixture))))
	for {
		l, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch e := l.Entry.(type) {
		case *databendjson.DumpSequences:
			lastSeq = e.Value
		case *databendjson.DumpGenericKV:
			keys = append(keys, e.Key)
			var meta *kvMeta
			if m := e.Value.Meta; m != nil {
				meta = &kvMeta{m.ExpireAt.Ptr(), m.ProposedAtMs}
			}
			if ms, ok := e.Value.Meta.ExpireAtMs(); ok && ms <= nowMs {
				wantKV[e.Key] = "absent"
				continue
			}
			wantKV[e.Key] = showValue(e.Value.Seq, meta, e.Value.Data)
		}
	}
	expired := 0
	for _, v := range wantKV {
		if v == "absent" {
			expired++
		}
	}
	if len(keys) != 71 || expired != 3 || lastSeq != 159 {
		t.Fatalf("%s: %d keys, %d expired, generic-kv %d; want 71, 3, 159", fixture, len(keys), expired, lastSeq)
	}

	req, err := databendjson.MarshalKvRequest(&databendjson.MGetKV{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := db.db.KvReadV1(authed, &databendpb.RaftRequest{Data: string(req)})
	if err != nil {
		t.Fatal(err)
	}
	items := recvAll(t, "KvReadV1", rs.Recv)
	if len(items) != len(keys) {
		t.Fatalf("KvReadV1 MGetKV of %d keys answered %d items", len(keys), len(items))
	}
	for i, k := range keys {
		it := items[i]
		got := "absent"
		if v := it.GetValue(); v != nil {
			var meta *kvMeta
			if m := v.GetMeta(); m != nil {
				meta = &kvMeta{m.ExpireAt, m.ProposedAtMs}
			}
			got = showValue(v.GetSeq(), meta, v.GetData())
		}
		if it.GetKey() != k || got != wantKV[k] {
			t.Errorf("KvReadV1 %s: got %s %s, want %s", k, it.GetKey(), got, wantKV[k])
		}
		for _, n := range nodes {
			v, err := n.get(k, metapb.ReadConsistency_LINEARIZABLE)
			if err != nil {
				t.Fatalf("%v: get %s: %v", n, k, err)
			}
			got := "absent"
			if v != nil {
				var meta *kvMeta
				if m := v.GetMeta(); m != nil {
					meta = &kvMeta{m.ExpireAt, m.ProposedAtMs}
				}
				got = showValue(v.GetSeq(), meta, v.GetData())
			}
			if got != wantKV[k] {
				t.Errorf("native Get %s on %v: got %s, want %s", k, n, got, wantKV[k])
			}
		}
	}

	// The next put takes the dump's generic-kv + 1: the removal of the
	// expired leases takes no seq.
	r, err := follower.upsert("after-import", "x")
	if err != nil {
		t.Fatal(err)
	}
	if r.GetResult().GetSeq() != lastSeq+1 {
		t.Errorf("the first put after the import took seq %d, want %d", r.GetResult().GetSeq(), lastSeq+1)
	}
}

// withoutExpired returns the lines of a Databend dump without the keys
// whose expiry index entry is before nowMs, and without those entries.
func withoutExpired(lines []string, nowMs uint64) []string {
	expireLine := regexp.MustCompile(`^\["state_machine/0",\{"Expire":\{"key":\{"time_ms":(\d+),"seq":\d+\},"value":\{"seq":\d+,"key":("(?:[^"\\]|\\.)*")\}\}\}\]$`)
	gone := map[string]bool{}
	for _, l := range lines {
		if m := expireLine.FindStringSubmatch(l); m != nil {
			if at, _ := strconv.ParseUint(m[1], 10, 64); at < nowMs {
				gone[l] = true
				gone[`["state_machine/0",{"GenericKV":{"key":`+m[2]+`,`] = true
			}
		}
	}
	var out []string
	for _, l := range lines {
		if gone[l] {
			continue
		}
		if i := strings.Index(l, `,"value":`); i >= 0 && gone[l[:i+1]] {
			continue
		}
		out = append(out, l)
	}
	return out
}

// newRestoredNode returns the unstarted node id of a new cluster whose
// raft_dir (relative to dir) import built: databend-meta from flags alone,
// its raft port advertised as localhost, its other ports on 127.0.0.1.
func newRestoredNode(t testing.TB, id uint64, dir, raftDir, logDir string, p nodePorts) *node {
	return newNode(t, id, dir, []string{
		"--id", strconv.FormatUint(id, 10),
		"--raft-dir", raftDir,
		"--log-dir", logDir,
		"--raft-api-port", strconv.Itoa(p.raft),
		"--raft-listen-host", "127.0.0.1",
		"--raft-advertise-host", "localhost",
		"--grpc-api-address", fmt.Sprintf("127.0.0.1:%d", p.grpc),
		"--admin-api-address", fmt.Sprintf("127.0.0.1:%d", p.admin),
		"--metric-api-address", fmt.Sprintf("127.0.0.1:%d", p.metric),
		"--heartbeat-interval", strconv.Itoa(heartbeatMs),
	}, p.raft, p.grpc, p.admin)
}

// recvAll receives from a server stream until its end; an error fails
// the test, naming the call.
func recvAll[T any](t *testing.T, call string, recv func() (T, error)) []T {
	t.Helper()
	var out []T
	for {
		m, err := recv()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", call, err)
		}
		out = append(out, m)
	}
}

// kvMeta is a value's KVMeta as each face gives it.
type kvMeta struct{ expireAt, proposedAtMs *uint64 }

// showValue renders a value for comparison across faces: seq, its KVMeta
// (nil: none) and data.
func showValue(seq uint64, m *kvMeta, data []byte) string {
	opt := func(p *uint64) string {
		if p == nil {
			return "-"
		}
		return strconv.FormatUint(*p, 10)
	}
	meta := "null"
	if m != nil {
		meta = fmt.Sprintf("{expire_at %s proposed_at_ms %s}", opt(m.expireAt), opt(m.proposedAtMs))
	}
	return fmt.Sprintf("seq %d meta %s data %q", seq, meta, data)
}

// diffLines fails the test when got differs from want, naming the first
// line that does.
func diffLines(t *testing.T, what string, want, got []string) {
	t.Helper()
	for i := range max(len(want), len(got)) {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			t.Errorf("%s: %d lines, want %d; line %d:\n got  %s\n want %s", what, len(got), len(want), i+1, g, w)
			return
		}
	}
}
