package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/metasrv/metasrv/client/clienttest"
	"github.com/metasrv/metasrv/internal/buildinfo"
)

// runCLI runs the command line in-process.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// runJSON runs args against addrs with --output json, requires exit 0 and
// decodes stdout into v.
func runJSON(t *testing.T, addrs []string, v any, args ...string) {
	t.Helper()
	args = append([]string{"--grpc-api-address", strings.Join(addrs, ","), "--output", "json", "--timeout", "5s"}, args...)
	stdout, stderr, code := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d, stderr %q", args, code, stderr)
	}
	if stderr != "" {
		t.Errorf("%v: unexpected stderr %q", args, stderr)
	}
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%v: decode %q: %v", args, stdout, err)
	}
}

func refusedAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	return addr
}

// kvOut is the JSON of get and of a list item, with every field optional so
// that a test sees which ones were present.
type kvOut struct {
	Key         string  `json:"key"`
	KeyBase64   *string `json:"key_base64"`
	Seq         uint64  `json:"seq"`
	Value       *string `json:"value"`
	ValueBase64 *string `json:"value_base64"`
	ExpireAtMs  *uint64 `json:"expire_at_ms"`
}

type valueOut struct {
	Seq         uint64  `json:"seq"`
	Value       *string `json:"value"`
	ValueBase64 *string `json:"value_base64"`
	ExpireAtMs  *uint64 `json:"expire_at_ms"`
}

type upsertOut struct {
	Key       string   `json:"key"`
	KeyBase64 *string  `json:"key_base64"`
	Applied   bool     `json:"applied"`
	Deleted   *bool    `json:"deleted"` // del only
	Prev      valueOut `json:"prev"`
	Result    valueOut `json:"result"`
	Retried   bool     `json:"retried"`
}

func strp(s string) *string { return &s }

func eqStr(a, b *string) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func TestGetJSON(t *testing.T) {
	cl := clienttest.Start(t, 1)
	cl.Store.Put("utf8", []byte("héllo\nworld"))
	bin := []byte{0xff, 0x00, 0xfe}
	cl.Store.Put("binary", bin)
	cl.Store.Put("empty", nil)

	tests := []struct {
		key     string
		seq     uint64
		value   *string
		base64  *string
		expires bool
	}{
		{"utf8", 1, strp("héllo\nworld"), nil, false},
		{"binary", 2, nil, strp(base64.StdEncoding.EncodeToString(bin)), false},
		{"empty", 3, strp(""), nil, false},
		{"absent", 0, nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			var got kvOut
			runJSON(t, cl.Addrs(), &got, "get", "--key", tt.key)
			if got.Key != tt.key || got.Seq != tt.seq || !eqStr(got.Value, tt.value) || !eqStr(got.ValueBase64, tt.base64) || got.ExpireAtMs != nil {
				t.Fatalf("get %s = %+v", tt.key, got)
			}
		})
	}
}

func TestUpsertDelJSON(t *testing.T) {
	cl := clienttest.Start(t, 1)
	addrs := cl.Addrs()

	var up upsertOut
	runJSON(t, addrs, &up, "upsert", "--key", "k", "--value", "v1", "--match-seq", "0")
	if up.Key != "k" || !up.Applied || up.Deleted != nil || up.Prev.Seq != 0 || up.Prev.Value != nil || up.Result.Seq != 1 || !eqStr(up.Result.Value, strp("v1")) {
		t.Fatalf("create: %+v", up)
	}

	up = upsertOut{}
	runJSON(t, addrs, &up, "upsert", "--key", "k", "--value", "v2", "--match-seq", "7")
	if up.Applied || up.Prev.Seq != 1 || up.Result.Seq != 1 || !eqStr(up.Result.Value, strp("v1")) {
		t.Fatalf("mismatch: %+v", up)
	}

	up = upsertOut{}
	runJSON(t, addrs, &up, "upsert", "--key", "k", "--value", "v2", "--ttl", "1h")
	if !up.Applied || up.Result.Seq != 2 || up.Result.ExpireAtMs == nil || !eqStr(up.Prev.Value, strp("v1")) {
		t.Fatalf("update with ttl: %+v", up)
	}
	var got kvOut
	runJSON(t, addrs, &got, "get", "--key", "k")
	if got.ExpireAtMs == nil || *got.ExpireAtMs != *up.Result.ExpireAtMs {
		t.Fatalf("get after ttl upsert: %+v", got)
	}

	up = upsertOut{}
	runJSON(t, addrs, &up, "del", "--key", "k", "--match-seq", "1")
	if up.Applied || up.Deleted == nil || *up.Deleted || up.Result.Seq != 2 {
		t.Fatalf("del with stale seq: %+v", up)
	}
	up = upsertOut{}
	runJSON(t, addrs, &up, "del", "--key", "k")
	if !up.Applied || up.Deleted == nil || !*up.Deleted || up.Prev.Seq != 2 || up.Result.Seq != 0 || up.Result.Value != nil {
		t.Fatalf("del: %+v", up)
	}
	up = upsertOut{}
	runJSON(t, addrs, &up, "del", "--key", "k")
	// An absent key: applied (nothing to mismatch), but nothing deleted.
	if !up.Applied || up.Deleted == nil || *up.Deleted || up.Prev.Seq != 0 {
		t.Fatalf("del absent: %+v", up)
	}
}

func TestListJSON(t *testing.T) {
	cl := clienttest.Start(t, 1) // 2 keys per chunk: several chunks
	for _, k := range []string{"p/c", "p/a", "q/a", "p/b"} {
		cl.Store.Put(k, []byte(k))
	}
	cl.Store.Put("p/bin", []byte{0x80})

	var items []kvOut
	runJSON(t, cl.Addrs(), &items, "list", "--prefix", "p/")
	var keys []string
	for _, it := range items {
		keys = append(keys, it.Key)
	}
	if strings.Join(keys, ",") != "p/a,p/b,p/bin,p/c" {
		t.Fatalf("list keys = %v", keys)
	}
	if !eqStr(items[0].Value, strp("p/a")) || items[0].Seq != 2 || !eqStr(items[2].ValueBase64, strp("gA==")) {
		t.Fatalf("list items = %+v", items)
	}

	items = nil
	runJSON(t, cl.Addrs(), &items, "list", "--prefix", "p/", "--limit", "2")
	if len(items) != 2 {
		t.Fatalf("list --limit 2 = %+v", items)
	}

	stdout, _, code := runCLI(t, "--grpc-api-address", cl.Addrs()[0], "--output", "json", "list", "--prefix", "none/")
	if code != 0 || strings.TrimSpace(stdout) != "[]" {
		t.Fatalf("empty list = %q (exit %d), want []", stdout, code)
	}
}

func TestMemberListJSON(t *testing.T) {
	cl := clienttest.Start(t, 3)
	var nodes []nodeJSON
	runJSON(t, cl.Addrs()[:1], &nodes, "member-list")
	if len(nodes) != 3 {
		t.Fatalf("member-list = %+v", nodes)
	}
	for i, n := range nodes {
		if n.ID != uint64(i+1) || n.GRPCAddress != cl.Servers[i].Addr || n.RaftAddress == "" || !n.Voter {
			t.Errorf("member %d = %+v", i, n)
		}
	}
}

func TestStatusJSON(t *testing.T) {
	cl := clienttest.Start(t, 3)
	cl.Store.Put("a", []byte("1"))

	// Given one address, status finds the other members.
	var got []statusJSON
	runJSON(t, cl.Addrs()[:1], &got, "status")
	if len(got) != 3 {
		t.Fatalf("status = %+v", got)
	}
	for i, s := range got {
		if s.ID != uint64(i+1) || s.GRPCAddress != cl.Servers[i].Addr || s.Endpoint != cl.Servers[i].Addr ||
			s.LeaderID != 1 || s.LastSeq != 1 || s.KeyCount != 1 {
			t.Errorf("status[%d] = %+v", i, s)
		}
	}
	if got[0].State != "leader" || got[1].State != "follower" {
		t.Errorf("states = %q, %q", got[0].State, got[1].State)
	}
}

func TestStatusWithNodeDown(t *testing.T) {
	cl := clienttest.Start(t, 3)
	cl.Servers[2].Stop()
	for _, output := range []string{"json", "text"} {
		t.Run(output, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, "--grpc-api-address", cl.Addrs()[0], "--output", output, "--timeout", "3s", "status")
			if code != 1 {
				t.Fatalf("exit %d, want 1; stderr %q", code, stderr)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "1 of 3 nodes did not answer") {
				t.Fatalf("stderr = %q", stderr)
			}
			if output == "text" {
				if !strings.Contains(stdout, "GRPC_ADDRESS") || !strings.Contains(stdout, "3   error") {
					t.Fatalf("stdout = %q", stdout)
				}
				return
			}
			var got []struct {
				Endpoint string  `json:"endpoint"`
				ID       uint64  `json:"id"`
				State    *string `json:"state"`
				Error    *string `json:"error"`
			}
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatalf("decode %q: %v", stdout, err)
			}
			if len(got) != 3 || got[0].ID != 1 || got[0].Error != nil || got[0].State == nil {
				t.Fatalf("status = %s", stdout)
			}
			if down := got[2]; down.Error == nil || down.State != nil || down.ID != 3 || down.Endpoint != cl.Servers[2].Addr {
				t.Fatalf("status of the down node = %+v", down)
			}
		})
	}
}

func TestFailoverToSecondAddress(t *testing.T) {
	cl := clienttest.Start(t, 1)
	cl.Store.Put("k", []byte("v"))
	var got kvOut
	runJSON(t, []string{refusedAddr(t), cl.Addrs()[0]}, &got, "get", "--key", "k")
	if !eqStr(got.Value, strp("v")) {
		t.Fatalf("get = %+v", got)
	}

	// Global flags may follow the command, and spaces around commas are
	// fine.
	stdout, stderr, code := runCLI(t, "get", "--key", "k", "--output", "json",
		"--grpc-api-address", refusedAddr(t)+", "+cl.Addrs()[0])
	if code != 0 || !strings.Contains(stdout, `"value": "v"`) {
		t.Fatalf("flags after the command: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestCommandFailureExit1(t *testing.T) {
	down := refusedAddr(t)
	for _, args := range [][]string{
		{"get", "--key", "k"},
		{"upsert", "--key", "k", "--value", "v"},
		{"list"},
		{"member-list"},
		{"status"},
	} {
		args = append([]string{"--grpc-api-address", down, "--timeout", "300ms", "--output", "json"}, args...)
		stdout, stderr, code := runCLI(t, args...)
		if code != 1 {
			t.Errorf("%v: exit %d, want 1", args, code)
		}
		if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "databend-metactl: ") || !strings.Contains(stderr, down) {
			t.Errorf("%v: stderr %q, want one line naming %s", args, stderr, down)
		}
		if args[len(args)-1] != "status" && stdout != "" {
			t.Errorf("%v: stdout %q, want nothing", args, stdout)
		}
	}
}

// A command whose address is down says, after a second, what it waits for,
// then fails at --timeout as before.
func TestWaitingForDownAddress(t *testing.T) {
	down := refusedAddr(t)
	stdout, stderr, code := runCLI(t, "--grpc-api-address", down, "--timeout", "2s", "get", "--key", "k")
	lines := strings.SplitAfter(stderr, "\n")
	want := "databend-metactl: waiting for " + down + ": connection refused (retrying for up to 2s)\n"
	if code != exitError || stdout != "" || len(lines) != 3 || lines[0] != want || !strings.HasPrefix(lines[1], "databend-metactl: get \"k\"") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1, %q, then the error", code, stdout, stderr, want)
	}
}

// A usage error prints one line, then where the help is: not the usage
// itself, which would bury the message.
func TestUsageErrorsExit2(t *testing.T) {
	tests := []struct {
		args []string
		cmd  string // the command whose help the second line names
	}{
		{[]string{"get"}, "get"},
		{[]string{"get", "--key", ""}, "get"},
		{[]string{"get", "--key", "k", "extra"}, "get"},
		{[]string{"upsert", "--key", "k"}, "upsert"},
		{[]string{"upsert", "--key", "k", "--value", "v", "--match-seq", "x"}, "upsert"},
		{[]string{"upsert", "--key", "k", "--value", "v", "--ttl", "1us"}, "upsert"},
		{[]string{"list", "--limit", "-1"}, "list"},
		{[]string{"--output", "yaml", "status"}, "status"},
		{[]string{"--timeout", "0s", "status"}, "status"},
		{[]string{"--grpc-api-address", "nohost", "status"}, "status"},
		{[]string{"--grpc-api-address", "", "status"}, "status"},
		{[]string{"--no-such-flag", "status"}, ""}, // cobra stops at the root
		{[]string{"no-such-command"}, ""},
	}
	for _, tt := range tests {
		stdout, stderr, code := runCLI(t, tt.args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", tt.args, code, stderr)
		}
		see := "see databend-metactl --help\n"
		if tt.cmd != "" {
			see = "see databend-metactl " + tt.cmd + " --help\n"
		}
		lines := strings.SplitAfter(stderr, "\n")
		if len(lines) != 3 || lines[2] != "" || !strings.HasPrefix(lines[0], "databend-metactl: ") || lines[1] != see {
			t.Errorf("%v: stderr %q, want the error on one line, then %q", tt.args, stderr, see)
		}
		if stdout != "" {
			t.Errorf("%v: stdout %q", tt.args, stdout)
		}
	}
}

func TestTextOutput(t *testing.T) {
	cl := clienttest.Start(t, 2)
	cl.Store.Put("bin", []byte{0xff})
	addr := strings.Join(cl.Addrs(), ",")
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"upsert", "--key", "k", "--value", "v"}, []string{"applied: true", "prev:    seq=0 (absent)", `result:  seq=2 value="v"`}},
		{[]string{"get", "--key", "k"}, []string{"key:          k\n", "seq:          2\n", "value:        \"v\"\n"}},
		{[]string{"get", "--key", "bin"}, []string{"value_base64: /w==\n"}},
		{[]string{"get", "--key", "nope"}, []string{"seq:          0 (absent)\n"}},
		{[]string{"list"}, []string{"KEY", "bin", `value="v"`}},
		{[]string{"del", "--key", "k"}, []string{"applied: true\ndeleted: true\n", "result:  seq=0 (absent)"}},
		{[]string{"del", "--key", "k"}, []string{"applied: true\ndeleted: false (the key was absent)\nprev:    seq=0 (absent)"}},
		{[]string{"member-list"}, []string{"RAFT_ADDRESS", cl.Servers[1].Addr}},
		{[]string{"status"}, []string{"LAST_SEQ", "leader", "follower"}},
	}
	for _, tt := range tests {
		stdout, stderr, code := runCLI(t, append([]string{"--grpc-api-address", addr}, tt.args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d, stderr %q", tt.args, code, stderr)
		}
		for _, w := range tt.want {
			if !strings.Contains(stdout, w) {
				t.Errorf("%v: output lacks %q:\n%s", tt.args, w, stdout)
			}
		}
	}
}

// version and --version print buildinfo's line, the format of
// databend-meta --version.
func TestVersionAndHelp(t *testing.T) {
	want := buildinfo.Line("databend-metactl", version) + "\n"
	for _, args := range [][]string{{"version"}, {"--version"}, {"--grpc-api-address", "", "version"}} {
		stdout, stderr, code := runCLI(t, args...)
		if code != 0 || stdout != want || stderr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %q", args, code, stdout, stderr, want)
		}
	}
	stdout, _, code := runCLI(t, "get", "--help")
	if code != 0 || !strings.Contains(stdout, "--key") {
		t.Fatalf("get --help: %q, exit %d", stdout, code)
	}
}

// firstLine is the first line of s, without its newline.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// A required flag left out and one given as "" get different errors: the
// second was given, and is empty. Both are usage errors (exit 2).
func TestRequiredFlagAbsentOrEmpty(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string // the first line of stderr
	}{
		{[]string{"get"}, "--key is required"},
		{[]string{"get", "--key", ""}, "--key is empty: keys must be non-empty"},
		{[]string{"upsert", "--key", "", "--value", "v"}, "--key is empty: keys must be non-empty"},
		{[]string{"del", "--key", ""}, "--key is empty: keys must be non-empty"},
		{[]string{"txn"}, "--file is required"},
		{[]string{"txn", "--file", ""}, "--file is empty: give a file name, or - for standard input"},
		{[]string{"dump-raft-log-wal", "--raft-dir", ""}, "--raft-dir is empty: give the node's raft_dir"},
		{[]string{"repair", "--raft-dir", ""}, "--raft-dir is empty: give the node's raft_dir"},
		{[]string{"import", "--raft-dir", dir, "--db", "x", "--initial-cluster", "1=a:1"}, "--id is required with --initial-cluster: the new node's id, one of --initial-cluster"},
		{[]string{"import", "--raft-dir", dir, "--db", "x", "--id", "0"}, "invalid --id 0: node ids start at 1"},
		{[]string{"import", "--raft-dir", dir, "--db", "x", "--id", "1", "--initial-cluster", ""}, "--initial-cluster is empty: list every node of the new cluster as ID=HOST:RAFT_PORT, or leave it out to keep the dump's members"},
		{[]string{"import", "--raft-dir", dir, "--db", "x", "--initial-grpc", "1=a:1"}, "--initial-grpc needs --initial-cluster"},
		{[]string{"export", "--format", "json"}, `invalid --format "json": want metasrv or databend`},
		{[]string{"watch"}, "--prefix or --key is required"},
		{[]string{"watch", "--prefix", ""}, "--prefix is empty: give a non-empty prefix, or --key"},
		{[]string{"watch", "--key", ""}, "--key is empty: keys must be non-empty"},
	}
	for _, tt := range tests {
		stdout, stderr, code := runCLI(t, tt.args...)
		if code != exitUsage || stdout != "" || firstLine(stderr) != "databend-metactl: "+tt.want {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and %q", tt.args, code, stdout, stderr, tt.want)
		}
	}
}

// A user or password that is not valid UTF-8 cannot log in (the server's
// users are text): a usage error saying so, and nothing is sent. Keys, by
// contrast, are bytes (see TestBinaryKeys).
func TestInvalidUTF8Credentials(t *testing.T) {
	down := refusedAddr(t) // nothing is sent
	tests := []struct {
		args []string
		want string // the first line of stderr
	}{
		{[]string{"--user", "r\xfft", "--password", "pw", "get", "--key", "k"}, `--user "r\xfft" is not valid UTF-8`},
		{[]string{"--user", "root", "--password", "p\xffw", "get", "--key", "k"}, `the password (--password or METASRV_PASSWORD) is not valid UTF-8`},
	}
	for _, tt := range tests {
		args := append([]string{"--grpc-api-address", down, "--timeout", "2s"}, tt.args...)
		stdout, stderr, code := runCLI(t, args...)
		if code != exitUsage || stdout != "" || !strings.HasPrefix(firstLine(stderr), "databend-metactl: "+tt.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and %q", tt.args, code, stdout, stderr, tt.want)
		}
	}
}
