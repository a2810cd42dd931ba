package databendjson

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// These tests check the statements of docs/DATABEND.md against the
// fixtures.

// splitDump sorts a dump's lines by kind.
type splitDump struct {
	header  *DumpDataHeader
	raft    []DumpEntry // raft state and log entries, in order
	seq     map[string]uint64
	applied *LogID
	members *StoredMembership
	nodes   map[uint64]Node
	expire  []DumpExpire
	kv      map[string]SeqV
	kvOrder []string
}

func split(tb testing.TB, lines []Line) *splitDump {
	tb.Helper()
	s := &splitDump{seq: map[string]uint64{}, nodes: map[uint64]Node{}, kv: map[string]SeqV{}}
	for _, l := range lines {
		switch e := l.Entry.(type) {
		case *DumpDataHeader:
			s.header = e
		case *DumpSequences:
			s.seq[e.Key] = e.Value
		case *DumpStateMachineMeta:
			switch e.Key {
			case LastApplied:
				s.applied = &e.Value.LogID
			case LastMembership:
				s.members = &e.Value.Membership
			}
		case *DumpNodes:
			s.nodes[e.Key] = e.Value
		case *DumpExpire:
			s.expire = append(s.expire, *e)
		case *DumpGenericKV:
			s.kv[e.Key] = e.Value
			s.kvOrder = append(s.kvOrder, e.Key)
		default:
			s.raft = append(s.raft, e)
		}
	}
	return s
}

// entries returns the raft log entries of a V003 (Logs) or V004 (LogEntry)
// dump.
func (s *splitDump) entries() []Entry {
	var out []Entry
	for _, e := range s.raft {
		switch e := e.(type) {
		case *DumpLogs:
			out = append(out, e.Value)
		case *DumpLogEntry:
			out = append(out, e.Entry)
		}
	}
	return out
}

// TestFixtureV003HoldsTheSameData: the V003 and V004 dumps differ only in
// where and how the raft state is written, the order of the state machine
// lines and ExpireValue.seq.
func TestFixtureV003HoldsTheSameData(t *testing.T) {
	v3, v4 := split(t, decodeFixture(t, "meta_v003.txt")), split(t, decodeFixture(t, "meta_v004.txt"))

	if v3.header.Value.Version != V003 || v3.header.Value.Upgrading.Form != FormNull || v4.header.Value.Version != V004 {
		t.Fatalf("headers %+v %+v", v3.header.Value, v4.header.Value)
	}
	if diff := cmp.Diff(v3.entries(), v4.entries()); diff != "" {
		t.Errorf("log entries differ:\n%s", diff)
	}
	for _, e := range v3.raft {
		if l, ok := e.(*DumpLogs); ok && l.Key != l.Value.LogID.Index {
			t.Errorf("Logs key %d holds the entry of index %d", l.Key, l.Value.LogID.Index)
		}
	}
	// V003 raft state -> V004 raft state.
	want := fmt.Sprint([]string{"Id=NodeId 1", "HardState=Vote {{1 1} false}", "LastPurged=Purged {{1 0} 1}"})
	var got3, got4 []string
	for _, e := range v3.raft {
		switch e := e.(type) {
		case *DumpRaftStateKV:
			if e.Value.Kind == RaftStateValueNodeID {
				got3 = append(got3, fmt.Sprintf("%s=NodeId %d", e.Key, e.Value.NodeID))
			} else {
				got3 = append(got3, fmt.Sprintf("%s=Vote %v", e.Key, e.Value.Vote))
			}
		case *DumpLogMeta:
			got3 = append(got3, fmt.Sprintf("%s=Purged %v", e.Key, e.Value))
		}
	}
	for _, e := range v4.raft {
		switch e := e.(type) {
		case *DumpNodeID:
			got4 = append(got4, fmt.Sprintf("Id=NodeId %d", *e.NodeID))
		case *DumpVote:
			got4 = append(got4, fmt.Sprintf("HardState=Vote %v", *e.Vote))
		case *DumpPurged:
			got4 = append(got4, fmt.Sprintf("LastPurged=Purged %v", *e.LogID))
		case *DumpCommitted:
			if e.LogID != nil {
				t.Errorf("V004 Committed %v, want null", e.LogID)
			}
		}
	}
	if fmt.Sprint(got3) != want || fmt.Sprint(got4) != want {
		t.Errorf("raft state: V003 %v, V004 %v, want %v", got3, got4, want)
	}

	if diff := cmp.Diff([]any{v3.seq, v3.applied, v3.members, v3.nodes, v3.kv, v3.kvOrder},
		[]any{v4.seq, v4.applied, v4.members, v4.nodes, v4.kv, v4.kvOrder}); diff != "" {
		t.Errorf("state machines differ (-V003 +V004):\n%s", diff)
	}
	if len(v3.expire) != len(v4.expire) {
		t.Fatalf("%d and %d expire lines", len(v3.expire), len(v4.expire))
	}
	for i := range v3.expire {
		a, b := v3.expire[i], v4.expire[i]
		if a.Value.Seq != 0 || b.Value.Seq != 1 || a.Key != b.Key || a.Value.Key != b.Value.Key {
			t.Errorf("expire line %d: V003 %+v, V004 %+v", i, a, b)
		}
	}
}

// TestFixtureStateMachine: the sequence is the largest seq of a key; every
// key that expires has an expire index line keyed by its expiry in ms and
// its seq; the raft state lines say what the doc says.
func TestFixtureStateMachine(t *testing.T) {
	s := split(t, decodeFixture(t, "meta_v004.txt"))

	var maxSeq uint64
	expiring := map[ExpireKey]string{}
	for k, v := range s.kv {
		maxSeq = max(maxSeq, v.Seq)
		if ms, ok := v.Meta.ExpireAtMs(); ok {
			expiring[ExpireKey{TimeMs: ms, Seq: v.Seq}] = k
		}
	}
	if len(s.seq) != 1 || s.seq["generic-kv"] != maxSeq || maxSeq != 159 {
		t.Errorf("Sequences %v, largest key seq %d", s.seq, maxSeq)
	}
	if len(s.expire) != len(expiring) || len(s.expire) != 3 {
		t.Errorf("%d expire lines, %d expiring keys", len(s.expire), len(expiring))
	}
	for _, x := range s.expire {
		if expiring[x.Key] != x.Value.Key {
			t.Errorf("expire line %+v has no key %q with that expiry and seq", x.Key, x.Value.Key)
		}
	}
	for i := 1; i < len(s.kvOrder); i++ {
		if s.kvOrder[i-1] >= s.kvOrder[i] {
			t.Errorf("GenericKV lines out of order: %q before %q", s.kvOrder[i-1], s.kvOrder[i])
		}
	}

	entries := s.entries()
	if len(entries) != 82 || entries[0].LogID.Index != 2 || entries[81].LogID.Index != 83 {
		t.Fatalf("%d entries", len(entries))
	}
	for i, e := range entries {
		if e.LogID.Index != uint64(i+2) || e.LogID.LeaderID != (LeaderID{Term: 1, NodeID: 0}) {
			t.Errorf("entry %d: log id %+v", i, e.LogID)
		}
	}
	if *s.applied != entries[81].LogID || *s.members.LogID != entries[6].LogID ||
		!reflect.DeepEqual(s.members.Membership, *entries[6].Payload.(*Membership)) {
		t.Errorf("LastApplied %+v, LastMembership %+v", s.applied, s.members)
	}
	for _, e := range entries {
		if le, ok := e.Payload.(*LogEntry); ok {
			if an, ok := le.Cmd.(*AddNode); ok && !reflect.DeepEqual(s.nodes[an.NodeID], an.Node) {
				t.Errorf("node %d: %+v, added as %+v", an.NodeID, s.nodes[an.NodeID], an.Node)
			}
		}
	}
}

// TestFixtureRaftLogReplays applies the raft log of meta_v004.txt, as the
// databend-meta of 2022 that wrote it did, and gets the dump's keys, seqs,
// values, metas and sequence: a put takes the next seq (an AsIs upsert
// too), a delete takes none; a txn Put stores meta {"expire_at":null}, an
// upsert stores its value_meta as it is (null when null). This is a model
// of the fixture, not of today's databend-meta (which also sets
// proposed_at_ms).
func TestFixtureRaftLogReplays(t *testing.T) {
	s := split(t, decodeFixture(t, "meta_v004.txt"))
	var seq uint64
	kv := map[string]SeqV{}
	seqOf := func(k string) uint64 { return kv[k].Seq }
	put := func(k string, data []byte, meta *KVMeta) {
		seq++
		kv[k] = SeqV{Seq: seq, Meta: meta, Data: data}
	}
	for _, e := range s.entries() {
		le, ok := e.Payload.(*LogEntry)
		if !ok {
			continue
		}
		switch c := le.Cmd.(type) {
		case *UpsertKV:
			cur, ok := kv[c.Key]
			match := c.Seq.Kind == MatchAny || (c.Seq.Kind == MatchExact && cur.Seq == c.Seq.N) ||
				(c.Seq.Kind == MatchGE && cur.Seq >= c.Seq.N)
			if !match {
				t.Fatalf("entry %d: seq does not match; the fixture has none such", e.LogID.Index)
			}
			var meta *KVMeta
			if c.ValueMeta != nil {
				meta = &KVMeta{ExpireAt: Opt[uint64]{Form: FormNull}}
				if c.ValueMeta.ExpireAt != nil {
					meta.ExpireAt = Some(*c.ValueMeta.ExpireAt)
				}
			}
			switch c.Value.Kind {
			case OpUpdate:
				put(c.Key, c.Value.Value, meta)
			case OpAsIs:
				if !ok {
					t.Fatalf("entry %d: AsIs on a missing key", e.LogID.Index)
				}
				put(c.Key, cur.Data, meta)
			case OpDelete:
				delete(kv, c.Key)
			}
		case *TxnRequest:
			for _, cond := range c.Condition {
				if cond.Expected != CondEQ || cond.Target.Kind != TargetSeq || seqOf(cond.Key) != cond.Target.N {
					t.Fatalf("entry %d: condition %+v does not hold; the fixture's all do", e.LogID.Index, cond)
				}
			}
			for _, op := range c.IfThen {
				switch r := op.Request.(type) {
				case *TxnPutRequest:
					put(r.Key, r.Value, &KVMeta{ExpireAt: Opt[uint64]{Form: FormNull}})
				case *TxnDeleteRequest:
					delete(kv, r.Key)
				default:
					t.Fatalf("entry %d: op %T", e.LogID.Index, r)
				}
			}
		}
	}
	if diff := cmp.Diff(s.kv, kv); diff != "" {
		t.Errorf("replayed keys differ (-dump +replayed):\n%s", diff)
	}
	if seq != s.seq["generic-kv"] {
		t.Errorf("replay ends at seq %d, the dump's sequence is %d", seq, s.seq["generic-kv"])
	}
}

// resetForms sets every Form of v to FormDefault and every
// OverridingAbsent to false: v is then written as a databend-meta of
// today writes it, but for fields that have a value.
func resetForms(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			resetForms(v.Elem())
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			resetForms(v.Index(i))
		}
	case reflect.Struct:
		if f := v.FieldByName("Form"); f.IsValid() && f.Type() == reflect.TypeFor[Form]() && f.CanSet() {
			f.SetUint(uint64(FormDefault))
		}
		if f := v.FieldByName("OverridingAbsent"); f.IsValid() && f.CanSet() {
			f.SetBool(false)
		}
		for i := range v.NumField() {
			resetForms(v.Field(i))
		}
	}
}

// TestFixtureWantExportedIsARewrite: want_exported_v004 is meta_v004.txt
// with every field that has no value written in the form of the
// databend-metactl that exported it: no txid, "match_seq":null on a Put,
// "meta":{} for {"expire_at":null}. Nothing else changes (not the order,
// not the values, not prev_value).
func TestFixtureWantExportedIsARewrite(t *testing.T) {
	in := decodeFixture(t, "meta_v004.txt")
	want := fixtureLines(t, "want_exported_v004")
	if len(in) != len(want) {
		t.Fatalf("%d and %d lines", len(in), len(want))
	}
	changed := 0
	for i, l := range in {
		before, err := AppendLine(nil, l)
		if err != nil {
			t.Fatal(err)
		}
		resetForms(reflect.ValueOf(&l))
		got, err := AppendLine(nil, l)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want[i]) {
			t.Fatalf("line %d:\n got: %s\nwant: %s", i+1, got, want[i])
		}
		if !bytes.Equal(before, got) {
			changed++
		}
	}
	if changed != 144 { // 78 Normal entries (not the 4 Membership ones) and 66 GenericKV lines
		t.Errorf("%d lines rewritten", changed)
	}
}
