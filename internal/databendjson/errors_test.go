package databendjson

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// A dump line with a hole where a bad value goes.
const upsertLine = `["raft_log",{"LogEntry":{"log_id":{"leader_id":{"term":1,"node_id":0},"index":2},"payload":{"Normal":{"time_ms":1,"cmd":{"UpsertKV":{"key":"k","seq":%s,"value":{"Update":[1]},"value_meta":null}}}}}}]`

func withSeq(seq string) string { return strings.Replace(upsertLine, "%s", seq, 1) }

// TestDecodeLineErrors: a bad line's error says what was wrong and where
// (the path of fields to the value), and wraps ErrSyntax or ErrShape.
func TestDecodeLineErrors(t *testing.T) {
	gkv := func(value string) string {
		return `["state_machine/0",{"GenericKV":{"key":"k","value":` + value + `}}]`
	}
	for _, tc := range []struct {
		name, in string
		err      error
		want     []string // substrings of the message
	}{
		{"not JSON", `hello`, ErrSyntax, []string{"invalid character 'h'"}},
		{"truncated", `["raft_log",{"NodeId":1}`, ErrSyntax, []string{"want , or ]"}},
		{"trailing text", `["raft_log",{"NodeId":1}] x`, ErrSyntax, []string{"text after the JSON value"}},
		{"not a pair", `["raft_log"]`, ErrShape, []string{"[tree, entry], got no entry"}},
		{"three elements", `["raft_log",{"NodeId":1},3]`, ErrShape, []string{"[tree, entry]"}},
		{"not an array", `{"raft_log":1}`, ErrShape, []string{"want a dump line [tree, entry], got an object"}},
		{"unknown tree", `["sled",{"NodeId":1}]`, ErrShape, []string{`unknown tree "sled"`}},
		{"kind in the wrong tree", `["state_machine/0",{"NodeId":1}]`, ErrShape,
			[]string{`a NodeId entry cannot be in tree "state_machine/0"`, "GenericKV"}},
		{"unknown kind", `["raft_log",{"Snapshot":1}]`, ErrShape, []string{`unknown RaftStoreEntry variant "Snapshot"`}},
		{"two variants", `["raft_log",{"NodeId":1,"Vote":null}]`, ErrShape, []string{"more than one RaftStoreEntry variant"}},
		{"unknown MatchSeq", withSeq(`"Sometimes"`), ErrShape, []string{
			"LogEntry.payload.Normal.cmd.UpsertKV.seq:", `unknown MatchSeq variant "Sometimes" (want Any, Exact, GE)`}},
		{"unit variant with a value", withSeq(`{"Any":null}`), ErrShape, []string{`variant "Any" carries no value`}},
		{"data variant without", withSeq(`"GE"`), ErrShape, []string{`variant "GE" carries a value`}},
		{"negative seq", withSeq(`{"GE":-1}`), ErrShape, []string{"UpsertKV.seq.GE:", "want an unsigned integer of 64 bits, got -1"}},
		{"float seq", withSeq(`{"Exact":1.0}`), ErrShape, []string{"fraction or exponent"}},
		{"unknown field", gkv(`{"seq":1,"meta":null,"data":[],"extra":1}`), ErrShape,
			[]string{"GenericKV.value:", `unknown field "extra" (want seq, meta, data)`}},
		{"repeated field", gkv(`{"seq":1,"seq":2,"meta":null,"data":[]}`), ErrShape, []string{`repeated field "seq"`}},
		{"missing field", gkv(`{"seq":1,"meta":null}`), ErrShape, []string{"GenericKV.value:", `missing field "data"`}},
		{"byte out of range", gkv(`{"seq":1,"meta":null,"data":[1,2,300]}`), ErrShape,
			[]string{"GenericKV.value.data[2]:", "got 300"}},
		{"meta of the wrong type", gkv(`{"seq":1,"meta":[],"data":[]}`), ErrShape, []string{"want an object, got an array"}},
		{"port out of range", `["state_machine/0",{"Nodes":{"key":1,"value":{"name":"1","endpoint":{"addr":"a","port":70000},"grpc_api_advertise_address":null}}}]`,
			ErrShape, []string{"Nodes.value.endpoint.port:", "of 16 bits, got 70000"}},
		{"unknown data version", `["header",{"DataHeader":{"key":"header","value":{"version":"V100","upgrading":null}}}]`,
			ErrShape, []string{`unknown DataVersion variant "V100"`}},
		{"membership node not empty", `["raft_log",{"LogEntry":{"log_id":{"leader_id":{"term":1,"node_id":0},"index":4},"payload":{"Membership":{"configs":[[1]],"nodes":{"1":{"addr":"x"}}}}}}]`,
			ErrShape, []string{"payload.Membership.nodes.1:", `unknown field "addr"`}},
		{"membership node id", `["raft_log",{"LogEntry":{"log_id":{"leader_id":{"term":1,"node_id":0},"index":4},"payload":{"Membership":{"configs":[[1]],"nodes":{"x":{}}}}}}]`,
			ErrShape, []string{`node id "x"`}},
		{"lone surrogate", `["state_machine/0",{"Sequences":{"key":"\ud800","value":1}}]`, ErrSyntax, []string{"lone surrogate"}},
		{"invalid UTF-8", "[\"state_machine/0\",{\"Sequences\":{\"key\":\"\xc3\",\"value\":1}}]", ErrSyntax, []string{"invalid UTF-8"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeLine([]byte(tc.in))
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not an *Error", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if de.Offset < 0 || de.Offset > len(tc.in) {
				t.Errorf("offset %d outside the line", de.Offset)
			}
		})
	}
}

// TestReaderLineNumbers: the Reader's errors name the line.
func TestReaderLineNumbers(t *testing.T) {
	good := `["raft_log",{"NodeId":1}]`
	for _, tc := range []struct {
		name, in string
		line     int
		want     string
	}{
		{"bad third line", good + "\n" + good + "\n" + withSeq(`"No"`) + "\n" + good + "\n", 3, `line 3: LogEntry.payload`},
		{"empty line", good + "\n\n" + good + "\n", 2, "line 2: empty line"},
		{"last line without newline", good + "\n" + `["raft_log",{"NodeId":-1}]`, 2, "line 2: NodeId:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tc.in))
			var err error
			for err == nil {
				_, err = r.Next()
			}
			var de *Error
			if !errors.As(err, &de) || de.Line != tc.line || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want line %d saying %q", err, tc.line, tc.want)
			}
		})
	}

	r := NewReader(strings.NewReader(good + "\n" + good))
	for range 2 {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last line: %v, want io.EOF", err)
	}
}
