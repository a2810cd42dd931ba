package backup

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/databendfixtures"
	"github.com/metasrv/metasrv/internal/databendjson"
	"github.com/metasrv/metasrv/internal/statemachine"
)

// fixtureLines decodes every line of a fixture dump.
func fixtureLines(t testing.TB, name string) []databendjson.Line {
	t.Helper()
	var out []databendjson.Line
	for i, b := range bytes.Split(bytes.TrimSuffix(databendfixtures.Read(t, name), []byte("\n")), []byte("\n")) {
		l, err := databendjson.DecodeLine(b)
		if err != nil {
			t.Fatalf("%s line %d: %v", name, i+1, err)
		}
		out = append(out, l)
	}
	return out
}

// importFixture imports a fixture dump into a new directory without an
// initial cluster, and loads the directory back.
func importFixture(t testing.TB, name string) (*ImportResult, *Loaded) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "raft")
	res, err := Import(ImportConfig{Dir: dir, DefaultClusterName: "foo_cluster"}, bytes.NewReader(databendfixtures.Read(t, name)))
	if err != nil {
		t.Fatalf("import %s: %v", name, err)
	}
	ld, err := LoadDir(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res, ld
}

// TestImportDatabendFixtures: both dumps of the real cluster import, and
// the state holds every key of their state_machine section with its seq,
// value and expiry, the generic-kv sequence as the last seq, the node
// table as the members and the last applied log id as the snapshot's.
func TestImportDatabendFixtures(t *testing.T) {
	for _, tc := range []struct{ name, version string }{
		{databendfixtures.V004, "V004"},
		{databendfixtures.V003, "V003"},
	} {
		name := tc.name
		t.Run(name, func(t *testing.T) {
			lines := fixtureLines(t, name)
			res, ld := importFixture(t, name)

			var (
				keys    int
				lastSeq uint64
				entries int
			)
			for _, l := range lines {
				switch e := l.Entry.(type) {
				case *databendjson.DumpGenericKV:
					keys++
					got := ld.SM.Get(e.Key, 0) // time 0: nothing counts as expired
					wantMs, _ := e.Value.Meta.ExpireAtMs()
					if got == nil || got.GetSeq() != e.Value.Seq || !bytes.Equal(got.GetData(), e.Value.Data) ||
						got.GetExpireAtMs() != wantMs || got.GetCreateSeq() != e.Value.Seq || got.GetVersion() != 1 {
						t.Errorf("key %q: got %v, want seq %d, expire_at_ms %d, data %q", e.Key, got, e.Value.Seq, wantMs, e.Value.Data)
					}
				case *databendjson.DumpSequences:
					lastSeq = e.Value
				case *databendjson.DumpLogEntry, *databendjson.DumpLogs:
					entries++
				}
			}
			want := &ImportResult{ClusterName: "foo_cluster", ID: 1, Format: "databend " + tc.version, Keys: uint64(keys),
				LastSeq: lastSeq, Index: 83, Term: 1, Voters: []uint64{1, 2, 3}, LogEntries: entries}
			if diff := cmp.Diff(want, res); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if keys != 71 || lastSeq != 159 || ld.SM.KeyCount() != keys || ld.SM.LastSeq() != lastSeq {
				t.Errorf("%d keys, last seq %d in the dump; the state has %d keys, last seq %d",
					keys, lastSeq, ld.SM.KeyCount(), ld.SM.LastSeq())
			}
			if ld.SM.AppliedIndex() != 83 || ld.AppliedTerm != 1 || ld.ID != 1 || ld.ClusterName != "foo_cluster" {
				t.Errorf("applied %d term %d, node %d of %q", ld.SM.AppliedIndex(), ld.AppliedTerm, ld.ID, ld.ClusterName)
			}
			// The clock is the last applied command's time.
			if ld.SM.NowMs() < 1667290820099 || ld.SM.NowMs() >= 1667291025000 {
				t.Errorf("clock %d", ld.SM.NowMs())
			}
			var members []string
			for _, n := range ld.SM.Nodes() {
				members = append(members, fmt.Sprintf("%d %s %s %v", n.GetId(), n.GetRaftAddress(), n.GetGrpcAddress(), n.GetVoter()))
			}
			wantMembers := []string{"1 localhost:28103 0.0.0.0:9191 true", "2 localhost:28203 0.0.0.0:28202 true", "3 localhost:28303 0.0.0.0:28302 true"}
			if diff := cmp.Diff(wantMembers, members); diff != "" {
				t.Errorf("members (-want +got):\n%s", diff)
			}
		})
	}
}

func encodeLine(t testing.TB, l databendjson.Line) string {
	t.Helper()
	b, err := databendjson.AppendLine(nil, l)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestExportDatabendMatchesWantExported: importing meta_v004.txt and
// exporting the node's directory gives want_exported_v004's header and
// state_machine lines (what databend-metactl exports after the same
// import), byte for byte: every key's meta as written (null, {}, expire_at
// in seconds), the expiry index, the Nodes, Sequences, LastApplied and
// LastMembership with the log id of the last membership change (8, not
// LastApplied's 83).
func TestExportDatabendMatchesWantExported(t *testing.T) {
	_, ld := importFixture(t, databendfixtures.V004)
	var out bytes.Buffer
	if err := ExportDatabend(&out, ld.SM, ld.ID, ld.TermOf); err != nil {
		t.Fatal(err)
	}
	var got []string
	var gotRaft []databendjson.Line
	for _, b := range strings.SplitAfter(out.String(), "\n") {
		if b == "" {
			continue
		}
		if !strings.HasSuffix(b, "\n") {
			t.Fatalf("line %q does not end with a newline", b)
		}
		l, err := databendjson.DecodeLine([]byte(b))
		if err != nil {
			t.Fatalf("export line %q: %v", b, err)
		}
		if l.Tree == databendjson.TreeRaftLog {
			gotRaft = append(gotRaft, l)
			continue
		}
		got = append(got, strings.TrimSuffix(b, "\n"))
	}

	// The fixture's own lines, as they are in the file.
	var want []string
	for _, b := range strings.Split(strings.TrimSuffix(string(databendfixtures.Read(t, databendfixtures.WantExported)), "\n"), "\n") {
		if !strings.HasPrefix(b, `["`+databendjson.TreeRaftLog+`"`) {
			want = append(want, b)
		}
	}
	if len(want) != 81 {
		t.Fatalf("%s has %d header and state_machine lines, want 81", databendfixtures.WantExported, len(want))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("header and state_machine lines (-want +got):\n%s", diff)
	}

	// The raft state of a node whose log is all in its state machine.
	wantRaft := []string{
		`["raft_log",{"NodeId":1}]`,
		`["raft_log",{"Vote":{"leader_id":{"term":1,"node_id":1},"committed":false}}]`,
		`["raft_log",{"Committed":{"leader_id":{"term":1,"node_id":0},"index":83}}]`,
		`["raft_log",{"Purged":{"leader_id":{"term":1,"node_id":0},"index":83}}]`,
	}
	var gotRaftText []string
	for _, l := range gotRaft {
		gotRaftText = append(gotRaftText, encodeLine(t, l))
	}
	if diff := cmp.Diff(wantRaft, gotRaftText); diff != "" {
		t.Errorf("raft_log lines (-want +got):\n%s", diff)
	}
}

// TestDatabendRoundTrip: a metasrv state exported in Databend's format
// and imported again holds the same keys, seqs, values and expiries
// (create_seq and version are Databend's: seq and 1) and exports to the
// same lines.
func TestDatabendRoundTrip(t *testing.T) {
	src := sampleState(t)
	var first bytes.Buffer
	if err := ExportDatabend(&first, src, 1, func(uint64) uint64 { return 3 }); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "raft")
	res, err := Import(ImportConfig{Dir: dir, ClusterName: "test"}, bytes.NewReader(first.Bytes()))
	if err != nil {
		t.Fatalf("import: %v\n%s", err, first.String())
	}
	if res.Index != src.AppliedIndex() || res.Term != 3 || res.LastSeq != src.LastSeq() || !cmp.Equal(res.Voters, []uint64{1, 2}) {
		t.Errorf("result %+v", res)
	}
	ld, err := LoadDir(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	src.Range("", allKeysEnd, 0, func(kv *metapb.KV) bool {
		got := ld.SM.Get(kv.GetKey(), 0)
		v := kv.GetValue()
		if got.GetSeq() != v.GetSeq() || !bytes.Equal(got.GetData(), v.GetData()) || got.GetExpireAtMs() != v.GetExpireAtMs() ||
			got.GetCreateSeq() != v.GetSeq() || got.GetVersion() != 1 {
			t.Errorf("key %q: got %v, want %v", kv.GetKey(), got, v)
		}
		return true
	})
	if ld.SM.KeyCount() != src.KeyCount() {
		t.Errorf("%d keys, want %d", ld.SM.KeyCount(), src.KeyCount())
	}
	var second bytes.Buffer
	if err := ExportDatabend(&second, ld.SM, 1, ld.TermOf); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(strings.Split(first.String(), "\n"), strings.Split(second.String(), "\n")); diff != "" {
		t.Errorf("second export (-first +second):\n%s", diff)
	}
}

// A small Databend dump, valid as it is; the refusal cases below break
// one thing each.
const smallDump = `["header",{"DataHeader":{"key":"header","value":{"version":"V004"}}}]
["raft_log",{"NodeId":2}]
["raft_log",{"LogEntry":{"log_id":{"leader_id":{"term":1,"node_id":0},"index":3},"payload":{"Normal":{"time_ms":1000,"cmd":{"AddNode":{"node_id":2,"node":{"name":"2","endpoint":{"addr":"h2","port":2},"grpc_api_advertise_address":null},"overriding":false}}}}}}]
["state_machine/0",{"Sequences":{"key":"generic-kv","value":7}}]
["state_machine/0",{"StateMachineMeta":{"key":"LastApplied","value":{"LogId":{"leader_id":{"term":2,"node_id":0},"index":5}}}}]
["state_machine/0",{"StateMachineMeta":{"key":"LastMembership","value":{"Membership":{"log_id":null,"membership":{"configs":[[2]],"nodes":{"2":{},"3":{}}}}}}}]
["state_machine/0",{"Nodes":{"key":2,"value":{"name":"2","endpoint":{"addr":"h2","port":2},"grpc_api_advertise_address":null}}}]
["state_machine/0",{"Nodes":{"key":3,"value":{"name":"3","endpoint":{"addr":"h3","port":3},"grpc_api_advertise_address":"g3:9191"}}}]
["state_machine/0",{"Expire":{"key":{"time_ms":5000,"seq":6},"value":{"seq":1,"key":"b"}}}]
["state_machine/0",{"GenericKV":{"key":"a","value":{"seq":2,"meta":null,"data":[49]}}}]
["state_machine/0",{"GenericKV":{"key":"b","value":{"seq":6,"meta":{"expire_at":5},"data":[]}}}]
`

func TestImportDatabendSmallDump(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "raft")
	res, err := Import(ImportConfig{Dir: dir, DefaultClusterName: "c"}, strings.NewReader(smallDump))
	if err != nil {
		t.Fatal(err)
	}
	want := &ImportResult{ClusterName: "c", ID: 2, Format: "databend V004", Keys: 2, LastSeq: 7, Index: 5, Term: 2,
		Voters: []uint64{2}, Learners: []uint64{3}, LogEntries: 1}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	ld, err := LoadDir(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ld.SM.NowMs() != 1000 {
		t.Errorf("clock %d, want the applied command's 1000", ld.SM.NowMs())
	}
	nodes := ld.SM.Nodes()
	if len(nodes) != 2 || nodes[0].GetRaftAddress() != "h2:2" || nodes[0].GetGrpcAddress() != "" || !nodes[0].GetVoter() ||
		nodes[1].GetRaftAddress() != "h3:3" || nodes[1].GetGrpcAddress() != "g3:9191" || nodes[1].GetVoter() {
		t.Errorf("members %v", nodes)
	}
	if b := ld.SM.Get("b", 0); b.GetExpireAtMs() != 5000 || b.GetSeq() != 6 {
		t.Errorf("b: %v", b)
	}
	// LastMembership's log id is null: none, and exported null again.
	if _, id := ld.SM.Membership(); id != (statemachine.LogID{}) {
		t.Errorf("membership log id %+v, want none", id)
	}
	var out bytes.Buffer
	if err := ExportDatabend(&out, ld.SM, ld.ID, ld.TermOf); err != nil {
		t.Fatal(err)
	}
	if want := `{"key":"LastMembership","value":{"Membership":{"log_id":null,`; !strings.Contains(out.String(), want) {
		t.Errorf("export lacks %s:\n%s", want, out.String())
	}
}

// TestImportDatabendMembershipLogID: the members' log id is the dump's
// LastMembership's when they are kept, and the last applied log id when an
// initial cluster replaces them (as databend-metactl import does).
func TestImportDatabendMembershipLogID(t *testing.T) {
	dump := databendfixtures.Read(t, databendfixtures.V004)
	for _, tc := range []struct {
		name    string
		initial []Node
		want    statemachine.LogID
	}{
		{"the dump's members", nil, statemachine.LogID{Index: 8, Term: 1}},
		{"an initial cluster", []Node{{ID: 1, RaftAddress: "h1:1"}, {ID: 4, RaftAddress: "h4:4"}}, statemachine.LogID{Index: 83, Term: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "raft")
			if _, err := Import(ImportConfig{Dir: dir, ID: 1, DefaultClusterName: "c", InitialCluster: tc.initial}, bytes.NewReader(dump)); err != nil {
				t.Fatal(err)
			}
			ld, err := LoadDir(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, id := ld.SM.Membership(); id != tc.want {
				t.Errorf("membership log id %+v, want %+v", id, tc.want)
			}
		})
	}
}

func TestImportDatabendRefuses(t *testing.T) {
	edit := func(old, new string) string {
		if !strings.Contains(smallDump, old) {
			t.Fatalf("%q is not in the dump", old)
		}
		return strings.Replace(smallDump, old, new, 1)
	}
	const pending = `["raft_log",{"LogEntry":{"log_id":{"leader_id":{"term":2,"node_id":0},"index":6},"payload":{"Normal":{"time_ms":2000,"cmd":{"UpsertKV":{"key":"c","seq":"Any","value":{"Update":[]},"value_meta":null}}}}}}]` + "\n"
	c := ImportConfig{DefaultClusterName: "c"}
	runImportRefusals(t, []importRefusal{
		{"old version", c, edit(`"V004"`, `"V001"`), ErrInvalidDump, "only V002, V003 and V004"},
		{"no header", c, smallDump[strings.Index(smallDump, "\n")+1:], ErrInvalidDump, "want the header first"},
		{"a second header", c, smallDump + strings.SplitAfter(smallDump, "\n")[0], ErrInvalidDump, "a second header"},
		{"not JSON", c, edit(`["raft_log",{"NodeId":2}]`, `["raft_log",{"NodeId":2}`), ErrInvalidDump, "line 2"},
		{"unknown field", c, edit(`"meta":null,`, `"meta":null,"x":1,`), databendjson.ErrShape, "unknown field"},
		{"a command not applied", c, edit(`["state_machine/0",{"Sequences"`, pending+`["state_machine/0",{"Sequences"`), ErrInvalidDump, "1 command entries after the state machine's last applied index 5 (indexes 6..6)"},
		{"membership after applied", c, edit(`"log_id":null`, `"log_id":{"leader_id":{"term":2,"node_id":0},"index":6}`), ErrInvalidDump, "last membership is at log index 6, after the state machine's last applied index 5"},
		{"seq above the sequence", c, edit(`"value":7}`, `"value":5}`), ErrInvalidDump, `key "b" has seq 6, above the Sequences "generic-kv" 5`},
		{"no sequence", c, edit(`["state_machine/0",{"Sequences":{"key":"generic-kv","value":7}}]`+"\n", ""), ErrInvalidDump, "no Sequences"},
		{"unknown sequence", c, edit(`"generic-kv"`, `"other"`), ErrInvalidDump, `sequence "other"`},
		{"expiry index disagrees", c, edit(`"time_ms":5000`, `"time_ms":6000`), ErrInvalidDump, "in the expiry index at time_ms 6000"},
		{"expiry index lacks a key", c, edit(`"meta":null`, `"meta":{"expire_at":9}`), ErrInvalidDump, `key "a" expires at 9000 ms but is not in the expiry index`},
		{"expiry index of an absent key", c, edit(`["state_machine/0",{"GenericKV"`, `["state_machine/0",{"Expire":{"key":{"time_ms":1,"seq":1},"value":{"seq":1,"key":"z"}}}]`+"\n"+`["state_machine/0",{"GenericKV"`), ErrInvalidDump, `has key "z", which the state machine does not hold`},
		{"a deleted key", c, edit(`"seq":2,"meta"`, `"seq":0,"meta"`), ErrInvalidDump, "seq 0"},
		{"a key twice", c, edit(`"key":"a"`, `"key":"b"`), ErrInvalidDump, "listed twice"},
		{"two state machines", c, edit(`["state_machine/0",{"GenericKV":{"key":"a"`, `["state_machine/1",{"GenericKV":{"key":"a"`), ErrInvalidDump, "a second state machine"},
		{"a voter without address", c, edit(`"configs":[[2]]`, `"configs":[[2,4]]`), ErrInvalidCluster, "voter 4"},
		{"no node id", c, edit(`["raft_log",{"NodeId":2}]`, `["raft_log",{"NodeId":null}]`), ErrInvalidCluster, "give the node's id"},
		{"id not a member", ImportConfig{ID: 4, DefaultClusterName: "c"}, smallDump, ErrInvalidCluster, "not a member of the dump's cluster (2, 3)"},
		{"no cluster name", ImportConfig{}, smallDump, nil, "names no cluster"},
	})
}
