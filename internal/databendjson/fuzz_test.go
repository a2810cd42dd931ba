package databendjson

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/metasrv/metasrv/internal/databendfixtures"
)

// FuzzDecodeLine checks that DecodeLine never panics, that every error is
// an *Error wrapping ErrSyntax or ErrShape, and that what it accepts is a
// fixed point: encoded, it decodes to the same Line and encodes to the same
// bytes. Seeds: every line of the fixtures (when present) and the lines
// below; `go test` runs them, `go test -fuzz FuzzDecodeLine` explores.
func FuzzDecodeLine(f *testing.F) {
	for _, s := range []string{
		`["header",{"DataHeader":{"key":"header","value":{"version":"V003","upgrading":"V004","cleaning":true}}}]`,
		`["raft_log",{"NodeId":null}]`,
		`["raft_log",{"LogEntry":{"log_id":{"leader_id":{"term":1,"node_id":0},"index":1},"payload":"Blank"}}]`,
		`["raft_log",{"LogEntry":{"log_id":{"leader_id":{"term":2,"node_id":1},"index":3},"payload":{"Normal":{"txid":{"client":"c","serial":1},"cmd":{"SetFeature":{"feature":"f","enable":true}}}}}}]`,
		`["raft_log",{"LogEntry":{"log_id":{"leader_id":{"term":2,"node_id":1},"index":4},"payload":{"Normal":{"time_ms":9,"cmd":{"KvTransaction":{"branches":[{"predicate":{"Or":[{"Leaf":{"key":"k","target":{"KeysWithPrefix":2},"op":"Ge"}}]},"operations":[{"FetchIncreaseU64":{"target":{"key":"c","match_seq":null},"delta":-1,"floor":0}}]}]}}}}}}]`,
		`["raft_log",{"LogEntry":{"log_id":{"leader_id":{"term":2,"node_id":1},"index":5},"payload":{"Normal":{"time_ms":9,"cmd":{"Transaction":{"operations":[{"predicate":null,"operations":[{"request":{"PutSequential":{"prefix":"p/","sequence_key":"s","value":[1],"expires_at_ms":null,"ttl_ms":3}}}]}],"condition":[],"if_then":[],"else_then":[]}}}}}}]`,
		`["raft_state",{"RaftStateKV":{"key":"StateMachineId","value":{"StateMachineId":[1,0]}}}]`,
		`["state_machine/0",{"StateMachineMeta":{"key":"Initialized","value":{"Bool":true}}}]`,
		`["state_machine/0",{"GenericKV":{"key":"\u0000\ud83d\ude00\"","value":{"seq":1,"meta":{"expire_at":null},"data":[0,255]}}}]`,
		`["state_machine/0",{"GenericKV":{"key":"k","value":{"seq":1,"meta":{"expire_at":1.5},"data":[]}}}]`,
		` [ "raft_log" , { "Purged" : null } ] `,
		`["raft_log",{"Purged":null}`,
	} {
		f.Add([]byte(s))
	}
	if dir, err := databendfixtures.Path(); err == nil {
		for _, name := range fixtureFiles {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if errors.Is(err, fs.ErrNotExist) {
				break // the seeds above still run
			}
			if err != nil {
				f.Fatal(err)
			}
			for _, l := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
				f.Add(l)
			}
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		l, err := DecodeLine(in)
		if err != nil {
			var de *Error
			if !errors.As(err, &de) || !(errors.Is(err, ErrSyntax) || errors.Is(err, ErrShape)) {
				t.Fatalf("error %v (%T) is not an *Error of ErrSyntax or ErrShape", err, err)
			}
			return
		}
		out, err := AppendLine(nil, l)
		if err != nil {
			t.Fatalf("accepted line cannot be written: %v\n%s", err, in)
		}
		l2, err := DecodeLine(out)
		if err != nil {
			t.Fatalf("written line rejected: %v\n in: %s\nout: %s", err, in, out)
		}
		if diff := cmp.Diff(l, l2); diff != "" {
			t.Fatalf("written line reads back differently (-first +second):\n%s", diff)
		}
		out2, err := AppendLine(nil, l2)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("second encoding differs: %v\n%s\n%s", err, out, out2)
		}
	})
}
