package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/metasrv/metasrv/api/metapb"
)

// metactl runs databend-metactl with args in dir.
func metactl(t testing.TB, dir string, args ...string) cmdResult {
	t.Helper()
	return runCmd(t, dir, 30*time.Second, metactlBin(t), args...)
}

// metactlJSON runs databend-metactl with args and --output json, requires
// exit code 0, and decodes stdout into v.
func metactlJSON(t testing.TB, dir string, v any, args ...string) {
	t.Helper()
	args = append(args, "--output", "json")
	res := metactl(t, dir, args...)
	if res.code != 0 {
		t.Fatalf("databend-metactl %s: exit code %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
	}
	// Decode into a zero value: a reused struct would keep the fields
	// this output lacks.
	reflect.ValueOf(v).Elem().SetZero()
	dec := json.NewDecoder(strings.NewReader(res.stdout))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("databend-metactl %s: stdout is not the JSON expected (%v):\n%s", strings.Join(args, " "), err, res.stdout)
	}
	if dec.More() {
		t.Fatalf("databend-metactl %s: more than one JSON document on stdout:\n%s", strings.Join(args, " "), res.stdout)
	}
}

// ctlValue is a value in metactl's JSON output.
type ctlValue struct {
	Seq         uint64  `json:"seq"`
	Value       *string `json:"value"`
	ValueBase64 *string `json:"value_base64"`
	ExpireAtMs  uint64  `json:"expire_at_ms"`
}

type ctlKV struct {
	Key       string  `json:"key"`
	KeyBase64 *string `json:"key_base64"`
	ctlValue
}

type ctlUpsert struct {
	Key       string   `json:"key"`
	KeyBase64 *string  `json:"key_base64"`
	Applied   bool     `json:"applied"`
	Prev      ctlValue `json:"prev"`
	Result    ctlValue `json:"result"`
}

func strp(s string) *string { return &s }

// TestMetactl drives databend-metactl against the guide's cluster with
// --output json: member-list, status, upsert, get, list, del, a
// --match-seq mismatch, and fail-over past a dead address.
func TestMetactl(t *testing.T) {
	t.Parallel()
	metactlBin(t) // fail early, before starting a cluster
	c := newGuideCluster(t, clusterOptions{})
	c.startAll()
	var addrs []string
	for _, n := range c.nodes {
		addrs = append(addrs, n.grpcAddr())
	}
	all := []string{"--grpc-api-address", strings.Join(addrs, ",")}
	via := func(n *node) []string { return []string{"--grpc-api-address", n.grpcAddr()} }
	dir := c.dir

	// member-list: three voters.
	var members []struct {
		ID          uint64 `json:"id"`
		RaftAddress string `json:"raft_address"`
		GrpcAddress string `json:"grpc_address"`
		Voter       bool   `json:"voter"`
	}
	metactlJSON(t, dir, &members, append([]string{"member-list"}, all...)...)
	var ids []uint64
	for _, m := range members {
		if !m.Voter || m.RaftAddress == "" || m.GrpcAddress == "" {
			t.Errorf("member-list: %+v, want a voter with both addresses", m)
		}
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []uint64{1, 2, 3}) {
		t.Errorf("member-list ids %v, want [1 2 3]", ids)
	}

	// status: one entry per node, one leader.
	var status []struct {
		ID       uint64 `json:"id"`
		State    string `json:"state"`
		LeaderID uint64 `json:"leader_id"`
		Error    string `json:"error"`
	}
	metactlJSON(t, dir, &status, append([]string{"status"}, via(c.node(2))...)...)
	leaders := 0
	for _, s := range status {
		if s.Error != "" || s.LeaderID == 0 {
			t.Errorf("status: %+v, want no error and a leader", s)
		}
		if s.State == "leader" {
			leaders++
		}
	}
	if len(status) != 3 || leaders != 1 {
		t.Errorf("status: %d nodes with %d leaders, want 3 nodes, 1 leader: %+v", len(status), leaders, status)
	}

	// upsert through node 2, get through node 3.
	var up ctlUpsert
	metactlJSON(t, dir, &up, append([]string{"upsert", "--key", "cli/a", "--value", "hello"}, via(c.node(2))...)...)
	if !up.Applied || up.Key != "cli/a" || up.Prev.Seq != 0 || up.Result.Seq == 0 || !reflect.DeepEqual(up.Result.Value, strp("hello")) {
		t.Fatalf("upsert cli/a = hello: %+v", up)
	}
	seqA := up.Result.Seq
	// get prints exactly {"key":..,"seq":..,"value":..}.
	var raw map[string]any
	metactlJSON(t, dir, &raw, append([]string{"get", "--key", "cli/a"}, via(c.node(3))...)...)
	if want := map[string]any{"key": "cli/a", "seq": json.Number(fmt.Sprint(seqA)), "value": "hello"}; !reflect.DeepEqual(raw, want) {
		t.Errorf("get cli/a: %v, want %v", raw, want)
	}
	// Text output is there too.
	if res := metactl(t, dir, append([]string{"get", "--key", "cli/a"}, via(c.node(1))...)...); res.code != 0 || !strings.Contains(res.stdout, `"hello"`) {
		t.Errorf("get --output text: exit code %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}

	// --match-seq mismatch: nothing changes, applied false.
	metactlJSON(t, dir, &up, append([]string{"upsert", "--key", "cli/a", "--value", "other", "--match-seq", fmt.Sprint(seqA + 100)}, all...)...)
	if up.Applied || up.Result.Seq != seqA || !reflect.DeepEqual(up.Result.Value, strp("hello")) {
		t.Errorf("upsert --match-seq %d (mismatch): %+v, want applied false and the value unchanged at seq %d", seqA+100, up, seqA)
	}
	// --match-seq 0 on an existing key: create-only, a mismatch too.
	metactlJSON(t, dir, &up, append([]string{"upsert", "--key", "cli/a", "--value", "other", "--match-seq", "0"}, all...)...)
	if up.Applied {
		t.Errorf("upsert --match-seq 0 on an existing key applied: %+v", up)
	}
	var kv ctlKV
	metactlJSON(t, dir, &kv, append([]string{"get", "--key", "cli/a"}, all...)...)
	if kv.Seq != seqA || !reflect.DeepEqual(kv.Value, strp("hello")) {
		t.Errorf("after the mismatches get cli/a = %+v, want hello at seq %d", kv, seqA)
	}
	// --match-seq with the right seq applies.
	metactlJSON(t, dir, &up, append([]string{"upsert", "--key", "cli/a", "--value", "hello2", "--match-seq", fmt.Sprint(seqA)}, all...)...)
	if !up.Applied || up.Prev.Seq != seqA || up.Result.Seq <= seqA || !reflect.DeepEqual(up.Result.Value, strp("hello2")) {
		t.Errorf("upsert --match-seq %d (match): %+v", seqA, up)
	}

	// --ttl sets an expiry in the future.
	before := uint64(time.Now().UnixMilli())
	metactlJSON(t, dir, &up, append([]string{"upsert", "--key", "cli/ttl", "--value", "t", "--ttl", "30s"}, all...)...)
	metactlJSON(t, dir, &kv, append([]string{"get", "--key", "cli/ttl"}, all...)...)
	if kv.ExpireAtMs < before+20_000 || kv.ExpireAtMs > before+60_000 {
		t.Errorf("upsert --ttl 30s: get shows expire_at_ms %d, want about now+30s (%d)", kv.ExpireAtMs, before+30_000)
	}

	// A value that is not UTF-8 comes out as base64.
	c.node(1).mustUpsert("cli/bin", "\xff\x00")
	metactlJSON(t, dir, &kv, append([]string{"get", "--key", "cli/bin"}, all...)...)
	if kv.Value != nil || !reflect.DeepEqual(kv.ValueBase64, strp("/wA=")) {
		t.Errorf("get of a non-UTF-8 value: %+v, want value_base64 \"/wA=\" and no value", kv)
	}

	// list --prefix: the keys in order, nothing outside the prefix.
	metactlJSON(t, dir, &up, append([]string{"upsert", "--key", "cli/b", "--value", "bee"}, all...)...)
	metactlJSON(t, dir, &up, append([]string{"upsert", "--key", "clj", "--value", "outside"}, all...)...)
	var list []ctlKV
	metactlJSON(t, dir, &list, append([]string{"list", "--prefix", "cli/"}, via(c.node(3))...)...)
	var keys []string
	for _, kv := range list {
		keys = append(keys, kv.Key)
	}
	if want := []string{"cli/a", "cli/b", "cli/bin", "cli/ttl"}; !slices.Equal(keys, want) {
		t.Errorf("list --prefix cli/: keys %v, want %v", keys, want)
	} else if !reflect.DeepEqual(list[1].Value, strp("bee")) || list[1].Seq == 0 {
		t.Errorf("list --prefix cli/: %+v, want cli/b = bee", list[1])
	}

	// del, then the key reads as absent and is not listed.
	metactlJSON(t, dir, &up, append([]string{"del", "--key", "cli/b"}, all...)...)
	if !up.Applied || up.Prev.Seq == 0 || up.Result.Seq != 0 {
		t.Errorf("del cli/b: %+v, want applied with prev set and result seq 0", up)
	}
	metactlJSON(t, dir, &raw, append([]string{"get", "--key", "cli/b"}, via(c.node(2))...)...)
	if want := map[string]any{"key": "cli/b", "seq": json.Number("0")}; !reflect.DeepEqual(raw, want) {
		t.Errorf("get of a deleted key: %v, want %v", raw, want)
	}
	metactlJSON(t, dir, &list, append([]string{"list", "--prefix", "cli/"}, all...)...)
	if len(list) != 3 {
		t.Errorf("list after del: %+v, want 3 keys", list)
	}
	metactlJSON(t, dir, &list, append([]string{"list", "--prefix", "nothing/"}, all...)...)
	if list == nil || len(list) != 0 {
		t.Errorf("list of an empty prefix: %+v, want []", list)
	}

	// Keys are bytes: databend-metactl writes a key that is not UTF-8 as
	// the shell passes it, shows it as key_base64 and reads it back by
	// --key-base64; a raw Get of the node reads the same bytes. Bytes that
	// are not protobuf get InvalidArgument from the node, not Internal.
	metactlJSON(t, dir, &up, append([]string{"upsert", "--key", "bin/\xff", "--value", "b"}, all...)...)
	if !up.Applied || up.Key != "" || !reflect.DeepEqual(up.KeyBase64, strp("YmluL/8=")) {
		t.Errorf("upsert of a key that is not UTF-8: %+v, want applied, key_base64 \"YmluL/8=\" and no key", up)
	}
	metactlJSON(t, dir, &kv, append([]string{"get", "--key-base64", "YmluL/8="}, via(c.node(3))...)...)
	if !reflect.DeepEqual(kv.Value, strp("b")) || !reflect.DeepEqual(kv.KeyBase64, strp("YmluL/8=")) {
		t.Errorf("get --key-base64 of it: %+v, want value b", kv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got metapb.GetReply
	if err := c.node(1).conn().Invoke(ctx, metapb.Meta_Get_FullMethodName, &metapb.GetRequest{Key: "bin/\xff"}, &got); err != nil || string(got.GetValue().GetData()) != "b" {
		t.Errorf("raw Get of the key that is not UTF-8: %v, %v; want value b", &got, err)
	}
	truncated := &metapb.ExportChunk{} // field 1: 5 bytes announced, 1 present
	truncated.ProtoReflect().SetUnknown(protoreflect.RawFields{0x0a, 0x05, 'c'})
	err := c.node(1).conn().Invoke(ctx, metapb.Meta_Get_FullMethodName, truncated, &metapb.GetReply{})
	if st := grpcstatus.Convert(err); st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), "malformed metasrv.v1.GetRequest: ") {
		t.Errorf("raw Get of truncated protobuf: %v, want InvalidArgument \"malformed metasrv.v1.GetRequest: ...\"", err)
	}

	// A dead first address: reads go to the next one.
	dead := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	metactlJSON(t, dir, &kv, "get", "--key", "cli/a", "--grpc-api-address", dead+","+c.node(2).grpcAddr())
	if !reflect.DeepEqual(kv.Value, strp("hello2")) {
		t.Errorf("get past a dead address: %+v, want hello2", kv)
	}
	// Only dead addresses: after a second a line saying what it waits for,
	// then exit 1 with one line of error.
	res := metactl(t, dir, "get", "--key", "cli/a", "--grpc-api-address", dead, "--timeout", "3s")
	lines := strings.Split(strings.TrimRight(res.stderr, "\n"), "\n")
	waiting := "databend-metactl: waiting for " + dead + ": connection refused (retrying for up to 3s)"
	if res.code != 1 || len(lines) != 2 || lines[0] != waiting || !strings.HasPrefix(lines[1], "databend-metactl: ") {
		t.Errorf("get with only a dead address: exit code %d, stderr %q; want 1, %q, and one line of error", res.code, res.stderr, waiting)
	}
}

// ctlTxnReply is the JSON output of databend-metactl txn.
type ctlTxnReply struct {
	Success       bool   `json:"success"`
	ExecutionPath string `json:"execution_path"`
	Responses     []struct {
		Get *struct {
			Key   string    `json:"key"`
			Value *ctlValue `json:"value"`
		} `json:"get"`
		Put *struct {
			Key     string    `json:"key"`
			Applied bool      `json:"applied"`
			Prev    *ctlValue `json:"prev"`
			Current *ctlValue `json:"current"`
		} `json:"put"`
		Delete *struct {
			Key     string    `json:"key"`
			Success bool      `json:"success"`
			Prev    *ctlValue `json:"prev"`
		} `json:"delete"`
		FetchIncreaseU64 *struct {
			Key     string `json:"key"`
			Applied bool   `json:"applied"`
			Before  uint64 `json:"before"`
			After   uint64 `json:"after"`
		} `json:"fetch_increase_u64"`
		PutSequential *struct {
			Key     string    `json:"key"`
			Current *ctlValue `json:"current"`
		} `json:"put_sequential"`
	} `json:"responses"`
}

// ctlWatchLine is one line of databend-metactl watch.
type ctlWatchLine struct {
	Key            string    `json:"key"`
	Revision       uint64    `json:"revision"`
	Seq            uint64    `json:"seq"`
	Prev           *ctlValue `json:"prev"`
	Current        *ctlValue `json:"current"`
	Initialization bool      `json:"initialization"`
	FlushDone      bool      `json:"flush_done"`
}

// TestMetactlTxnWatch drives `databend-metactl txn --file` with files in
// the README's JSON form (both forms: condition/if_then/else_then and
// branches), a file with a typo, and `databend-metactl watch --prefix`
// as a running subprocess printing one JSON line per change.
func TestMetactlTxnWatch(t *testing.T) {
	t.Parallel()
	metactlBin(t) // fail early, before starting a cluster
	c := newGuideCluster(t, clusterOptions{})
	c.startAll()
	nodes, _ := followerFirst(c)
	all := []string{"--grpc-api-address", strings.Join(grpcAddrs(nodes...), ",")}
	dir := c.dir

	writeFile(t, dir, "cond.json", `{
  "condition": [{"key": "cli-txn/k", "seq": {"eq": 0}}],
  "if_then": [
    {"put": {"key": "cli-txn/k", "value": "v1", "ttl": "1h"}},
    {"fetch_increase_u64": {"key": "cli-txn/ctr", "delta": 5, "max_value": 10}},
    {"put_sequential": {"prefix": "cli-txn/q/", "sequence_key": "cli-txn/qseq", "value": "first"}}
  ],
  "else_then": [
    {"get": {"key": "cli-txn/k"}},
    {"fetch_increase_u64": {"key": "cli-txn/ctr", "delta": 1}},
    {"put_sequential": {"prefix": "cli-txn/q/", "sequence_key": "cli-txn/qseq", "value": "second"}}
  ]
}
`)
	txn := func(file string) ctlTxnReply {
		t.Helper()
		var r ctlTxnReply
		metactlJSON(t, dir, &r, append([]string{"txn", "--file", file}, all...)...)
		if len(r.Responses) != 3 {
			t.Fatalf("txn --file %s: %d responses, want 3: %+v", file, len(r.Responses), r)
		}
		return r
	}

	// cli-txn/k is absent: the then ops run.
	r := txn("cond.json")
	if !r.Success || r.ExecutionPath != "then" {
		t.Fatalf("txn --file cond.json (key absent): success %v path %q, want true, then", r.Success, r.ExecutionPath)
	}
	put, fi, ps := r.Responses[0].Put, r.Responses[1].FetchIncreaseU64, r.Responses[2].PutSequential
	if put == nil || !put.Applied || put.Prev != nil || put.Current == nil || !reflect.DeepEqual(put.Current.Value, strp("v1")) || put.Current.ExpireAtMs == 0 {
		t.Errorf("then[0] put: %+v, want applied, prev null, current v1 with an expiry", put)
	}
	if fi == nil || !fi.Applied || fi.Before != 0 || fi.After != 15 {
		t.Errorf("then[1] fetch_increase_u64 delta 5 max 10 of absent: %+v, want before 0, after 15", fi)
	}
	if ps == nil || !strings.HasPrefix(ps.Key, "cli-txn/q/") || ps.Current == nil || !reflect.DeepEqual(ps.Current.Value, strp("first")) {
		t.Errorf("then[2] put_sequential: %+v, want a key under cli-txn/q/ holding first", ps)
	}
	firstKey := ""
	if ps != nil {
		firstKey = ps.Key
	}

	// Again: the key exists, the else ops run.
	r = txn("cond.json")
	if r.Success || r.ExecutionPath != "else" {
		t.Fatalf("txn --file cond.json (key present): success %v path %q, want false, else", r.Success, r.ExecutionPath)
	}
	get, fi, ps := r.Responses[0].Get, r.Responses[1].FetchIncreaseU64, r.Responses[2].PutSequential
	if get == nil || get.Value == nil || !reflect.DeepEqual(get.Value.Value, strp("v1")) || put == nil || put.Current == nil || get.Value.Seq != put.Current.Seq {
		t.Errorf("else[0] get: %+v, want v1 as the first run put it", get)
	}
	if fi == nil || fi.Before != 15 || fi.After != 16 {
		t.Errorf("else[1] fetch_increase_u64 delta 1 of 15: %+v, want before 15, after 16", fi)
	}
	if ps == nil || ps.Key <= firstKey {
		t.Errorf("else[2] put_sequential: %+v, want a key sorting after the first run's %q", ps, firstKey)
	}

	// The branches form: the first branch whose predicate holds runs.
	writeFile(t, dir, "branches.json", `{
  "branches": [
    {"predicate": {"and": [{"key": "cli-txn/k", "value": {"eq": "nope"}}]},
     "ops": [{"put": {"key": "cli-txn/branch", "value": "0"}}]},
    {"predicate": {"or": [{"key": "cli-txn/absent", "value": {"ne": "x"}},
                          {"key": "cli-txn/q/", "keys_with_prefix": {"eq": 2}}]},
     "ops": [{"delete": {"key": "cli-txn/k"}},
             {"put": {"key": "cli-txn/branch", "value": "1", "match_seq": 0}},
             {"get": {"key": "cli-txn/branch"}}]},
    {"ops": [{"put": {"key": "cli-txn/branch", "value": "default"}}]}
  ]
}
`)
	r = txn("branches.json")
	if !r.Success || r.ExecutionPath != "branch:1" {
		t.Fatalf("txn --file branches.json: success %v path %q, want true, branch:1", r.Success, r.ExecutionPath)
	}
	if d := r.Responses[0].Delete; d == nil || !d.Success || d.Prev == nil || !reflect.DeepEqual(d.Prev.Value, strp("v1")) {
		t.Errorf("branch 1 delete cli-txn/k: %+v, want success with prev v1", d)
	}
	if p := r.Responses[1].Put; p == nil || !p.Applied {
		t.Errorf("branch 1 put cli-txn/branch match_seq 0: %+v, want applied", p)
	}
	if g := r.Responses[2].Get; g == nil || g.Value == nil || !reflect.DeepEqual(g.Value.Value, strp("1")) {
		t.Errorf("branch 1 get cli-txn/branch: %+v, want 1 (written by the same txn)", g)
	}
	if v, err := c.node(3).get("cli-txn/k", linearizable); err != nil || v != nil {
		t.Errorf("cli-txn/k after the branches txn deleted it: %v, %v", v, err)
	}

	// A typo: nothing is sent, exit 2, one line naming the field.
	writeFile(t, dir, "typo.json", `{"if_then": [{"put": {"key": "cli-txn/typo", "vaule": "x"}}]}`)
	res := metactl(t, dir, append([]string{"txn", "--file", "typo.json"}, all...)...)
	line := strings.TrimRight(res.stderr, "\n")
	if res.code != 2 || strings.Contains(line, "\n") || !strings.Contains(line, "if_then[0].put") || !strings.Contains(line, `"vaule"`) {
		t.Errorf("txn --file typo.json: exit code %d, stderr %q; want 2 and one line naming if_then[0].put and \"vaule\"", res.code, res.stderr)
	}
	if v, err := c.node(1).get("cli-txn/typo", linearizable); err != nil || v != nil {
		t.Errorf("cli-txn/typo after a refused file: %v, %v; want absent", v, err)
	}

	// watch --prefix: one JSON line per change, from --start-revision on.
	st := c.node(1).mustGrpcStatus()
	start := st.GetRevision() + 1
	p := startProc(t, dir, metactlBin(t), append([]string{"watch", "--prefix", "cli-watch/", "--start-revision", fmt.Sprint(start)}, all...)...)
	type change struct {
		key, value string // value "" = delete
		seq, rev   uint64
	}
	var want []change
	for i, n := range c.nodes {
		key, val := fmt.Sprintf("cli-watch/%d", i), fmt.Sprintf("value %d", i)
		r := n.mustUpsert(key, val).GetResult()
		want = append(want, change{key, val, r.GetSeq(), r.GetModRevision()})
	}
	c.node(2).mustUpsert("cli-watch-not/x", "outside the prefix")
	seqBefore := c.node(2).mustGrpcStatus().GetLastSeq()
	del, err := c.node(2).meta().Upsert(context.Background(), &metapb.UpsertRequest{Key: "cli-watch/0", Op: metapb.UpsertRequest_DELETE})
	if err != nil {
		t.Fatal(err)
	}
	if !del.GetApplied() {
		t.Fatalf("delete cli-watch/0: %v", del)
	}
	// A delete takes no seq (as in databend-meta): its event carries the
	// deleted value's seq, and the revision of its entry, the last one as
	// nothing else is written.
	afterDel := c.node(2).mustGrpcStatus()
	if afterDel.GetLastSeq() != seqBefore {
		t.Errorf("last_seq %d after a delete, was %d: a delete takes no seq", afterDel.GetLastSeq(), seqBefore)
	}
	want = append(want, change{"cli-watch/0", "", want[0].seq, afterDel.GetRevision()})
	for i, w := range want {
		l, err := p.nextLine(10 * time.Second)
		if err != nil {
			t.Fatalf("watch line %d: %v", i, err)
		}
		var ev ctlWatchLine
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("watch line %d is not a JSON event (%v): %s", i, err, l)
		}
		ok := ev.Key == w.key && ev.Seq == w.seq && ev.Revision == w.rev && !ev.Initialization
		if w.value == "" {
			ok = ok && ev.Current == nil && ev.Prev != nil && reflect.DeepEqual(ev.Prev.Value, strp("value 0"))
		} else {
			ok = ok && ev.Prev == nil && ev.Current != nil && ev.Current.Seq == w.seq && reflect.DeepEqual(ev.Current.Value, strp(w.value))
		}
		if !ok {
			t.Errorf("watch line %d: %s; want %+v", i, l, w)
		}
	}
	if code := p.interrupt(10 * time.Second); code != 0 {
		t.Errorf("watch after SIGINT: exit code %d, want 0; stderr: %s", code, p.stderr())
	}

	// watch --initial-flush: the current values, then flush_done.
	p = startProc(t, dir, metactlBin(t), append([]string{"watch", "--prefix", "cli-watch/", "--initial-flush"}, all...)...)
	var keys []string
	for {
		l, err := p.nextLine(10 * time.Second)
		if err != nil {
			t.Fatalf("watch --initial-flush: %v", err)
		}
		var ev ctlWatchLine
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("watch --initial-flush line is not JSON (%v): %s", err, l)
		}
		if ev.FlushDone {
			if l != `{"flush_done":true}` {
				t.Errorf("watch --initial-flush marker %s, want {\"flush_done\":true}", l)
			}
			break
		}
		if !ev.Initialization || ev.Current == nil {
			t.Errorf("watch --initial-flush: %s, want an initial value", l)
		}
		keys = append(keys, ev.Key)
	}
	if want := []string{"cli-watch/1", "cli-watch/2"}; !slices.Equal(keys, want) {
		t.Errorf("watch --initial-flush printed keys %v, want %v", keys, want)
	}
	if code := p.interrupt(10 * time.Second); code != 0 {
		t.Errorf("watch --initial-flush after SIGINT: exit code %d, want 0; stderr: %s", code, p.stderr())
	}
}
