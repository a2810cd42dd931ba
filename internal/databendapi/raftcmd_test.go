package databendapi_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/databendapi"
	"github.com/metasrv/metasrv/internal/databendfixtures"
	"github.com/metasrv/metasrv/internal/databendjson"
	"github.com/metasrv/metasrv/internal/statemachine"
)

// fixtureDump is what the replay needs of a Databend dump: its raft log
// entries in order, and its keys and sequence.
type fixtureDump struct {
	entries []databendjson.Entry
	keys    []databendjson.DumpGenericKV
	seq     uint64
}

func readFixtureDump(t *testing.T, name string) fixtureDump {
	t.Helper()
	r := databendjson.NewReader(bytes.NewReader(databendfixtures.Read(t, name)))
	var d fixtureDump
	for {
		l, err := r.Next()
		if errors.Is(err, io.EOF) {
			return d
		}
		if err != nil {
			t.Fatalf("%s line %d: %v", name, r.LineNumber(), err)
		}
		switch e := l.Entry.(type) {
		case *databendjson.DumpLogEntry: // V004
			d.entries = append(d.entries, e.Entry)
		case *databendjson.DumpLogs: // V003
			d.entries = append(d.entries, e.Value)
		case *databendjson.DumpGenericKV:
			d.keys = append(d.keys, *e)
		case *databendjson.DumpSequences:
			if e.Key == "generic-kv" {
				d.seq = e.Value
			}
		}
	}
}

// The commands of a Databend dump's raft log (82 entries of databend-meta
// 2022: AddNode, UpsertKV with Update, AsIs and value_meta, Transactions
// of Puts and Deletes, Membership), translated by CmdToNative and applied
// to an empty state machine each at its entry's index and time_ms, end in
// the dump's keys: the same keys, seqs, data and expire_at (in the form
// written), and its Sequences generic-kv as the last seq.
//
// The one difference is the one today's databend-meta has too
// (docs/DATABEND.md section 4): the 2022 writer stored no proposed_at_ms
// (and "meta":null for an upsert without value_meta, {"expire_at":null}
// for a Put); today every write's meta is an object with proposed_at_ms,
// the time_ms of the entry that wrote it. So a replayed meta is the
// fixture's expire_at with proposed_at_ms = the time_ms of the last entry
// that wrote the key, found here from the log itself.
func TestFixtureRaftLogReplay(t *testing.T) {
	for _, name := range []string{"meta_v004.txt", "meta_v003.txt"} {
		t.Run(name, func(t *testing.T) {
			d := readFixtureDump(t, name)
			if len(d.entries) == 0 || len(d.keys) == 0 || d.seq == 0 {
				t.Fatalf("%d entries, %d keys, sequence %d: not a dump of a used cluster", len(d.entries), len(d.keys), d.seq)
			}
			sm := statemachine.New()
			written := map[string]uint64{} // key -> time_ms of its last write
			for _, e := range d.entries {
				le, ok := e.Payload.(*databendjson.LogEntry)
				if !ok { // Blank, Membership: no command
					sm.ApplyEmpty(e.LogID.Index)
					continue
				}
				cmd, err := databendapi.CmdToNative(le.Cmd)
				if err != nil {
					t.Fatalf("entry %d: %v", e.LogID.Index, err)
				}
				var at uint64
				if le.TimeMs != nil {
					at = *le.TimeMs
				}
				res := sm.Apply(e.LogID.Index, at, cmd)
				if res.Err != nil {
					t.Fatalf("entry %d: %v", e.LogID.Index, res.Err)
				}
				// Every condition of the fixture's transactions held.
				if res.Txn != nil && !res.Txn.GetSuccess() {
					t.Fatalf("entry %d: transaction took %q", e.LogID.Index, res.Txn.GetExecutionPath())
				}
				noteWrites(written, le.Cmd, at)
			}

			var got []*metapb.KV
			sm.List("", 0, 0, func(kv *metapb.KV) bool { got = append(got, kv); return true })
			if len(got) != len(d.keys) {
				t.Errorf("%d keys replayed, the dump has %d", len(got), len(d.keys))
			}
			for i := range min(len(got), len(d.keys)) {
				want, kv := d.keys[i], got[i]
				if kv.GetKey() != want.Key {
					t.Fatalf("key %d: %q, the dump has %q", i, kv.GetKey(), want.Key)
				}
				v := kv.GetValue()
				if v.GetSeq() != want.Value.Seq || string(v.GetData()) != string(want.Value.Data) {
					t.Errorf("%s: seq %d data %q, the dump has seq %d data %q", want.Key, v.GetSeq(), v.GetData(), want.Value.Seq, want.Value.Data)
				}
				wantMeta := &metapb.KVMeta{ProposedAtMs: proto.Uint64(written[want.Key])}
				if m := want.Value.Meta; m != nil && m.ExpireAt.Valid {
					wantMeta.ExpireAt = proto.Uint64(m.ExpireAt.Value)
				}
				if !proto.Equal(v.GetMeta(), wantMeta) {
					t.Errorf("%s: meta %v, want %v (the dump's %+v)", want.Key, v.GetMeta(), wantMeta, want.Value.Meta)
				}
			}
			if sm.LastSeq() != d.seq {
				t.Errorf("last seq %d, the dump's Sequences generic-kv %d", sm.LastSeq(), d.seq)
			}
		})
	}
}

// noteWrites records at as the time of the keys c writes: an UpsertKV's
// key unless it deletes it, the Puts of a Transaction's if_then (every
// condition of the fixture's transactions holds; the test checks it);
// deleted keys are forgotten.
func noteWrites(written map[string]uint64, c databendjson.Cmd, at uint64) {
	switch c := c.(type) {
	case *databendjson.UpsertKV:
		if c.Value.Kind == databendjson.OpDelete {
			delete(written, c.Key)
		} else {
			written[c.Key] = at
		}
	case *databendjson.TxnRequest:
		for _, op := range c.IfThen {
			switch r := op.Request.(type) {
			case *databendjson.TxnPutRequest:
				written[r.Key] = at
			case *databendjson.TxnDeleteRequest:
				delete(written, r.Key)
			}
		}
	}
}

// CmdToNative on what the fixtures do not have: branches, every op, a
// node command, and what it refuses.
func TestCmdToNative(t *testing.T) {
	u := proto.Uint64
	for _, tt := range []struct {
		cmd  string
		want *metapb.TxnRequest
	}{
		{`{"AddNode":{"node_id":4,"node":{"name":"4","endpoint":{"addr":"h","port":1},"grpc_api_advertise_address":null},"overriding":false}}`, &metapb.TxnRequest{}},
		{`{"Transaction":{"operations":[{"predicate":{"operator":1,"sub_expressions":[],"conditions":[{"key":"a","expected":5,"target":{"Value":[1]}}]},"operations":[` +
			`{"request":{"Get":{"key":"a"}}},` +
			`{"request":{"Put":{"key":"b","value":[2],"expire_at":1700000000,"ttl_ms":5,"match_seq":3}}},` +
			`{"request":{"Delete":{"key":"c","match_seq":null}}},` +
			`{"request":{"DeleteByPrefix":{"prefix":"d/"}}},` +
			`{"request":{"FetchIncreaseU64":{"key":"e","match_seq":null,"delta":-2,"max_value":7}}},` +
			`{"request":{"PutSequential":{"prefix":"f/","sequence_key":"s","value":[3],"expires_at_ms":1700000000123,"ttl_ms":null}}}]}],` +
			`"condition":[{"key":"g","expected":2,"target":{"KeysWithPrefix":4}}],"if_then":[],"else_then":[]}}`,
			&metapb.TxnRequest{Branches: []*metapb.ConditionalOps{
				{
					Predicate: &metapb.BoolExpression{Combiner: metapb.BoolExpression_OR, Conditions: []*metapb.TxnCondition{
						{Key: "a", Op: metapb.TxnCondition_NE, Target: &metapb.TxnCondition_Value{Value: []byte{1}}},
					}},
					Ops: []*metapb.TxnOp{
						&metapb.TxnOp{Request: &metapb.TxnOp_Get{Get: &metapb.TxnGet{Key: "a"}}},
						&metapb.TxnOp{Request: &metapb.TxnOp_Put{Put: &metapb.TxnPut{Key: "b", Value: []byte{2}, ExpireAt: u(1700000000), TtlMs: 5,
							MatchSeq: &metapb.MatchSeq{Kind: metapb.MatchSeq_EXACT, Seq: 3}}}},
						&metapb.TxnOp{Request: &metapb.TxnOp_Delete{Delete: &metapb.TxnDelete{Key: "c"}}},
						&metapb.TxnOp{Request: &metapb.TxnOp_DeleteByPrefix{DeleteByPrefix: &metapb.TxnDeleteByPrefix{Prefix: "d/"}}},
						&metapb.TxnOp{Request: &metapb.TxnOp_FetchIncreaseU64{FetchIncreaseU64: &metapb.FetchIncreaseU64{Key: "e", Delta: -2, MaxValue: 7}}},
						&metapb.TxnOp{Request: &metapb.TxnOp_PutSequential{PutSequential: &metapb.PutSequential{Prefix: "f/", SequenceKey: "s", Value: []byte{3}, ExpireAt: u(1700000000123)}}},
					},
				},
				{Predicate: &metapb.BoolExpression{Conditions: []*metapb.TxnCondition{
					{Key: "g", Op: metapb.TxnCondition_GE, Target: &metapb.TxnCondition_KeysWithPrefix{KeysWithPrefix: 4}},
				}}},
			}}},
	} {
		c, err := databendjson.UnmarshalCmd([]byte(tt.cmd))
		if err != nil {
			t.Fatal(err)
		}
		got, err := databendapi.CmdToNative(c)
		if err != nil {
			t.Fatalf("%s: %v", tt.cmd, err)
		}
		if !proto.Equal(got.GetTxn(), tt.want) {
			t.Errorf("%s:\n got %v\nwant %v", tt.cmd, got.GetTxn(), tt.want)
		}
	}
	c, err := databendjson.UnmarshalCmd([]byte(`{"KvTransaction":{"branches":[]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := databendapi.CmdToNative(c); err == nil || !errors.Is(err, databendapi.ErrInvalidArgument) {
		t.Errorf("KvTransaction: %v, want a refusal", err)
	}
}
