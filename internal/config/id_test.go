package config

import (
	"errors"
	"math"
	"strings"
	"testing"

	"go.etcd.io/raft/v3"
)

// TestLoadNodeIDs checks that node ids take every uint64 but 0, in the
// file and as flags, and that an id out of range says which range is
// valid.
func TestLoadNodeIDs(t *testing.T) {
	const valid = "1..18446744073709551613"
	tests := []struct {
		name    string
		file    string // config file content; none if ""
		args    []string
		want    uint64 // raft_config.id, or Options.LeaveID with --leave-via
		wantErr error
		msg     string // in the error
	}{
		{"file: largest", "[raft_config]\nid = 18446744073709551613\n", nil, MaxNodeID, nil, ""},
		{"file: 2^63", "[raft_config]\nid = 9223372036854775808\n", nil, 1 << 63, nil, ""},
		{"file: hex with underscores", "[raft_config]\nid = 0xffff_ffff_ffff_fffd # max\n", nil, MaxNodeID, nil, ""},
		{"file: plus sign", "[raft_config]\nid = +18446744073709551613\n", nil, MaxNodeID, nil, ""},
		{"file: inline table", "raft_config = {id = 18446744073709551612, single = true}\n", nil, MaxNodeID - 1, nil, ""},
		{"file: after a byte order mark", "\ufeff[raft_config]\nid = 18446744073709551613\n", nil, MaxNodeID, nil, ""},
		{"file: reserved by raft", "[raft_config]\nid = 18446744073709551614\n", nil, 0, ErrInvalidID,
			`config file "FILE": raft_config.id: invalid node id 18446744073709551614: give every node a unique id in ` + valid + " (raft keeps 0 and the two largest"},
		{"file: 2^64-1", "[raft_config]\nid = 18446744073709551615\n", nil, 0, ErrInvalidID, valid},
		{"file: 2^64", "[raft_config]\nid = 18446744073709551616\n", nil, 0, ErrType,
			"raft_config.id: wrong type: want an integer in " + valid + ", got 18446744073709551616"},
		{"file: -1", "[raft_config]\nid = -1\n", nil, 0, ErrType,
			"raft_config.id: wrong type: want an integer in " + valid + ", got -1"},
		{"file: far below", "[raft_config]\nid = -9999999999999999999\n", nil, 0, ErrType,
			"want an integer in " + valid + ", got -9999999999999999999"},
		{"file: 0", "[raft_config]\nid = 0\n", nil, 0, ErrInvalidID, "give every node a unique id in " + valid},
		{"file: a big id twice", "[raft_config]\nid = 18446744073709551613\nid = 18446744073709551612\n", nil, 0, ErrSyntax, "line 3"},

		{"flag: largest", "", []string{"--id", "18446744073709551613"}, MaxNodeID, nil, ""},
		{"flag: overrides the file", "[raft_config]\nid = 18446744073709551613\n", []string{"--id", "2"}, 2, nil, ""},
		{"flag: reserved by raft", "", []string{"--id", "18446744073709551615"}, 0, ErrInvalidID, "flag --id: raft_config.id: invalid node id 18446744073709551615"},
		{"flag: 2^64", "", []string{"--id", "18446744073709551616"}, 0, ErrFlag, "want a node id in " + valid},
		{"flag: -1", "", []string{"--id=-1"}, 0, ErrFlag, "want a node id in " + valid},
		{"flag: 0", "", []string{"--id", "0"}, 0, ErrInvalidID, valid},
		{"leave-id: largest", "", []string{"--leave-id", "18446744073709551613", "--leave-via", "a:1"}, MaxNodeID, nil, ""},
		{"leave-id: this node's largest id", "[raft_config]\nid = 18446744073709551613\n", []string{"--leave-via", "a:1"}, MaxNodeID, nil, ""},
		{"leave-id: reserved by raft", "", []string{"--leave-id", "18446744073709551614", "--leave-via", "a:1"}, 0, ErrInvalidID,
			"--leave-id 18446744073709551614"},
		{"leave-id: 2^64", "", []string{"--leave-id", "18446744073709551616", "--leave-via", "a:1"}, 0, ErrFlag,
			"want a node id in " + valid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, path := configArgs(t, tt.file, tt.args)
			cfg, opts, err := Load(args)
			if tt.wantErr != nil {
				msg := strings.ReplaceAll(tt.msg, "FILE", path)
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), msg) {
					t.Fatalf("Load(%q) error = %v, want %v containing %q", args, err, tt.wantErr, msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load(%q): %v", args, err)
			}
			got := cfg.Raft.ID
			if len(opts.LeaveVia) > 0 {
				got = opts.LeaveID
			}
			if got != tt.want {
				t.Errorf("Load(%q): id %d, want %d", args, got, tt.want)
			}
		})
	}
}

// TestDecodeBigIntegers checks integers beyond int64 for keys that are
// not node ids: each key says its own range or type, as for any value.
func TestDecodeBigIntegers(t *testing.T) {
	tests := []struct {
		name string
		file string
		want error
		msg  string
	}{
		{"int key", "grpc_api_max_message_size = 99999999999999999999\n", ErrType,
			"grpc_api_max_message_size: wrong type: want an integer in 0..9223372036854775807, got 99999999999999999999"},
		{"uint32 key", "[raft_config]\nraft_api_port = 99999999999999999999\n", ErrType, "raft_config.raft_api_port: wrong type: want an integer in 0..4294967295"},
		{"string key", "log_dir = 99999999999999999999\n", ErrType, "log_dir: wrong type: want a string in double quotes, like \"x\", got the integer 99999999999999999999"},
		{"in a list", "[raft_config]\njoin = [\"a:1\", 99999999999999999999]\n", ErrType, "got the integer 99999999999999999999 in the list"},
		{"user field", "[[auth.users]]\nname = 99999999999999999999\n", ErrType, "name: want a string in double quotes, got the integer 99999999999999999999"},
		{"unknown key", "foo = 99999999999999999999\n", ErrUnknownKey, "unknown key foo"},
		{"a string that looks like a marker", "log_dir = \"\\u0000int:1\"\n", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			_, err := decodeTOML(&c, []byte(tt.file), "f.toml")
			if tt.want == nil {
				if err != nil {
					t.Fatalf("decodeTOML: %v", err)
				}
				if c.LogDir != "\x00int:1" {
					t.Errorf("log_dir = %q, want the string as written", c.LogDir)
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("decodeTOML error = %v, want %v containing %q", err, tt.want, tt.msg)
			}
		})
	}
}

// TestTOMLLargestID checks that show-config's output of the largest id
// loads back.
func TestTOMLLargestID(t *testing.T) {
	c := Default()
	c.Raft.ID = MaxNodeID
	got, _ := mustLoad(t, "-c", writeFile(t, "show.toml", c.TOML()))
	if got.Raft.ID != MaxNodeID {
		t.Errorf("id %d after a round trip, want %d", got.Raft.ID, uint64(MaxNodeID))
	}
}

// TestMaxNodeID checks MaxNodeID against the ids raft refuses.
func TestMaxNodeID(t *testing.T) {
	if MaxNodeID != math.MaxUint64-2 {
		t.Errorf("MaxNodeID = %d, want 2^64-3", uint64(MaxNodeID))
	}
	for id := MaxNodeID + 1; id != 0; id++ {
		if !raft.IsLocalMsgTarget(id) {
			t.Errorf("id %d is above MaxNodeID but raft takes it", id)
		}
	}
	if raft.IsLocalMsgTarget(MaxNodeID) {
		t.Errorf("raft reserves MaxNodeID")
	}
}
