package databendjson

import (
	"errors"
	"testing"
)

// TestDumpLineShapes: every entry kind as a dump line, including those the
// fixtures lack (from Databend's export tests and the key space types).
func TestDumpLineShapes(t *testing.T) {
	for _, in := range []string{
		`["header",{"DataHeader":{"key":"header","value":{"version":"V004"}}}]`,
		`["header",{"DataHeader":{"key":"header","value":{"version":"V003","upgrading":"V004","cleaning":true}}}]`,
		`["raft_log",{"NodeId":null}]`,
		`["raft_log",{"Vote":null}]`,
		`["raft_log",{"Vote":{"leader_id":{"term":1,"node_id":0},"committed":true}}]`,
		`["raft_log",{"Committed":{"leader_id":{"term":1,"node_id":0},"index":6}}]`,
		`["raft_log",{"Purged":null}]`,
		`["raft_log",{"LogEntry":{"log_id":{"leader_id":{"term":1,"node_id":0},"index":1},"payload":"Blank"}}]`,
		`["raft_log",{"LogEntry":{"log_id":{"leader_id":{"term":1,"node_id":0},"index":4},"payload":{"Normal":{"time_ms":1111111111111,"cmd":{"Transaction":{"condition":[{"key":"foo","expected":2,"target":{"Seq":0}}],"if_then":[{"request":{"Put":{"key":"foo","value":[102,111,111],"expire_at":null,"match_seq":null}}}],"else_then":[{"request":{"Get":{"key":"foo"}}}]}}}}}}]`,
		`["raft_state",{"RaftStateKV":{"key":"StateMachineId","value":{"StateMachineId":[1,0]}}}]`,
		`["raft_state",{"RaftStateKV":{"key":"Committed","value":{"Committed":null}}}]`,
		`["raft_state",{"RaftStateKV":{"key":"Committed","value":{"Committed":{"leader_id":{"term":2,"node_id":1},"index":9}}}}]`,
		`["state_machine/0",{"StateMachineMeta":{"key":"Initialized","value":{"Bool":true}}}]`,
		`["state_machine/0",{"StateMachineMeta":{"key":"LastMembership","value":{"Membership":{"log_id":null,"membership":{"configs":[[1]],"nodes":{"1":{}}}}}}}]`,
		`["state_machine/0",{"GenericKV":{"key":"bar","value":{"seq":2,"meta":{"proposed_at_ms":1111111111111},"data":[98,97,114]}}}]`,
		`["state_machine/0",{"GenericKV":{"key":"esc\"\\\n\u0001é","value":{"seq":2,"meta":null,"data":[]}}}]`,
		`["state_machine/7",{"Sequences":{"key":"generic-kv","value":0}}]`,
	} {
		l, err := DecodeLine([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		out, err := AppendLine(nil, l)
		if err != nil || string(out) != in {
			t.Fatalf("round trip:\n in: %s\nout: %s (%v)", in, out, err)
		}
	}
}

// TestDumpEncoderValueErrors: dump values with no Databend form.
func TestDumpEncoderValueErrors(t *testing.T) {
	for name, v := range map[string]Shape{
		"bad DataVersion": &Header{Version: "V9"},
		"bad sm value":    &DumpStateMachineMeta{Key: LastApplied, Value: StateMachineMetaValue{Kind: 7}},
		"bad raft state":  &DumpRaftStateKV{Key: "Id", Value: RaftStateValue{Kind: 7}},
		"bad sm meta key": &DumpStateMachineMeta{Key: "Last"},
	} {
		if b, err := Marshal(v); !errors.Is(err, ErrValue) {
			t.Errorf("%s: Marshal = %s, %v; want ErrValue", name, b, err)
		}
	}
	for name, l := range map[string]Line{
		"LogEntry in the state machine tree": {Tree: TreeStateMachine, Entry: &DumpLogEntry{}},
		"nil entry":                          {Tree: TreeRaftLog},
		"unknown tree":                       {Tree: "sm", Entry: &DumpSequences{Key: "generic-kv"}},
	} {
		if b, err := AppendLine(nil, l); !errors.Is(err, ErrValue) {
			t.Errorf("%s: AppendLine = %s, %v; want ErrValue", name, b, err)
		}
	}
}
