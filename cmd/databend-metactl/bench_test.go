package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/client/clienttest"
)

// benchFields are the peers' output fields, in their order.
var benchFields = []string{"system", "workload", "clients", "conns", "total", "errors",
	"seconds", "ops_per_sec", "p50_ms", "p99_ms", "p999_ms"}

// runBenchCLI runs bench against addrs, requires exit 0 and one output line,
// and returns the decoded line and stderr.
func runBenchCLI(t *testing.T, addrs []string, args ...string) (benchResult, string) {
	t.Helper()
	args = append([]string{"--grpc-api-address", strings.Join(addrs, ","), "bench"}, args...)
	stdout, stderr, code := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d, stderr %q", args, code, stderr)
	}
	if strings.Count(stdout, "\n") != 1 || !strings.HasSuffix(stdout, "\n") {
		t.Fatalf("%v: want one line, got %q", args, stdout)
	}
	checkFieldOrder(t, stdout)
	var res benchResult
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("%v: decode %q: %v", args, stdout, err)
	}
	return res, stderr
}

// checkFieldOrder fails unless line is a JSON object with exactly
// benchFields, in that order.
func checkFieldOrder(t *testing.T, line string) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("%q: not an object", line)
	}
	var got []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got = append(got, tok.(string))
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
	}
	if strings.Join(got, ",") != strings.Join(benchFields, ",") {
		t.Fatalf("fields %v, want %v", got, benchFields)
	}
}

func TestBenchWorkloads(t *testing.T) {
	cl := clienttest.Start(t, 3)
	tests := []struct {
		workload string
		extra    []string
	}{
		{"put", nil},
		{"get", nil},
		{"get-serializable", nil},
		{"txn-cas", nil},
		{"mixed", []string{"--rw-ratio", "1"}},
		{"watch", nil},
	}
	for _, tt := range tests {
		t.Run(tt.workload, func(t *testing.T) {
			args := append([]string{"--workload", tt.workload, "--clients", "4", "--conns", "3",
				"--total", "200", "--keys", "50"}, tt.extra...)
			res, stderr := runBenchCLI(t, cl.Addrs(), args...)
			want := benchResult{System: "metasrv", Workload: tt.workload, Clients: 4, Conns: 3, Total: 200}
			got := res
			got.Seconds, got.OpsPerSec, got.P50ms, got.P99ms, got.P999ms = 0, 0, 0, 0, 0
			if got != want {
				t.Fatalf("got %+v, want %+v", res, want)
			}
			if stderr != "" {
				t.Errorf("stderr %q", stderr)
			}
			if res.Seconds <= 0 || res.OpsPerSec <= 0 || res.P50ms <= 0 ||
				res.P50ms > res.P99ms || res.P99ms > res.P999ms {
				t.Errorf("implausible numbers: %+v", res)
			}
		})
	}
	// Requests were spread over the three servers; watch stream j went to
	// server j.
	for i, s := range cl.Servers {
		if s.Calls("Upsert") == 0 || s.Calls("Get") == 0 || s.Calls("Txn") == 0 || s.Calls("Watch") == 0 {
			t.Errorf("server %d: Upsert %d, Get %d, Txn %d, Watch %d calls: want some of each",
				i, s.Calls("Upsert"), s.Calls("Get"), s.Calls("Txn"), s.Calls("Watch"))
		}
	}
}

// With --writes-to-leader every write of every workload goes to the
// leader Status names, whether or not it is one of the addresses given;
// reads still go to each address in turn.
func TestBenchWritesToLeader(t *testing.T) {
	workloads := [][]string{
		{"--workload", "put"},
		{"--workload", "txn-cas"},
		{"--workload", "mixed", "--rw-ratio", "1"},
		{"--workload", "load", "--batch", "10"},
		{"--workload", "watch"},
	}
	for _, leaderListed := range []bool{true, false} {
		for _, w := range workloads {
			t.Run(fmt.Sprintf("%s/leader listed=%v", w[1], leaderListed), func(t *testing.T) {
				cl := clienttest.Start(t, 3)
				leader := cl.Servers[1]
				cl.SetLeader(leader.ID())
				addrs := cl.Addrs()
				if !leaderListed {
					addrs = []string{cl.Servers[0].Addr, cl.Servers[2].Addr}
				}
				args := append([]string{"--writes-to-leader", "--clients", "4", "--conns", "2", "--keys", "50"}, w...)
				if w[1] != "load" {
					args = append(args, "--total", "60")
				}
				res, stderr := runBenchCLI(t, addrs, args...)
				if res.Errors != 0 {
					t.Fatalf("%d errors; stderr %q", res.Errors, stderr)
				}
				if want := fmt.Sprintf("writes go to the leader, node 2 at %s\n", leader.Addr); !strings.HasSuffix(stderr, want) {
					t.Errorf("stderr %q, want it to end with %q", stderr, want)
				}
				for i, s := range cl.Servers {
					writes := s.Calls("Upsert") + s.Calls("Txn")
					if (s == leader) != (writes > 0) {
						t.Errorf("server %d (leader: %v): %d writes", i, s == leader, writes)
					}
				}
				if w[1] == "mixed" && (cl.Servers[0].Calls("Get") == 0 || cl.Servers[2].Calls("Get") == 0) {
					t.Errorf("gets %d and %d: want reads on every address given", cl.Servers[0].Calls("Get"), cl.Servers[2].Calls("Get"))
				}
			})
		}
	}
}

// --writes-to-leader with no leader known fails before the run, saying so.
func TestBenchWritesToLeaderNoLeader(t *testing.T) {
	cl := clienttest.Start(t, 2)
	cl.SetLeader(0)
	stdout, stderr, code := runCLI(t, "--grpc-api-address", strings.Join(cl.Addrs(), ","), "bench", "--writes-to-leader", "--total", "5")
	if code != exitError || stdout != "" || !strings.Contains(stderr, "found no leader") || !strings.Contains(stderr, "knows no leader") {
		t.Fatalf("exit %d, stdout %q, stderr %q: want exit 1, no leader", code, stdout, stderr)
	}
	if n := cl.Servers[0].Calls("Upsert") + cl.Servers[1].Calls("Upsert"); n != 0 {
		t.Fatalf("%d writes sent", n)
	}
}

func TestBenchPreloadsKeys(t *testing.T) {
	cl := clienttest.Start(t, 1)
	runBenchCLI(t, cl.Addrs(), "--workload", "get", "--total", "10", "--keys", "30", "--key-size", "20", "--val-size", "7")
	kvs := cl.Store.List("bench/key/", 0)
	if len(kvs) != 30 {
		t.Fatalf("%d keys preloaded, want 30", len(kvs))
	}
	for _, kv := range kvs {
		if len(kv.GetKey()) != 20 || len(kv.GetValue().GetData()) != 7 {
			t.Fatalf("key %q (want 20 bytes) with %d bytes of value (want 7)", kv.GetKey(), len(kv.GetValue().GetData()))
		}
	}
	if k := kvs[0].GetKey(); k != "bench/key/0000000000" {
		t.Errorf("first key %q, want bench/key/0000000000", k)
	}
}

// load writes each key exactly once (version 1), whatever the batch and
// however the keys divide into batches, and its line counts keys.
func TestBenchLoad(t *testing.T) {
	tests := []struct {
		name         string
		keys, batch  int
		clients      int
		upserts, txn int // requests of each kind, over all servers
	}{
		{"one key a request", 50, 1, 4, 50, 0},
		{"uneven batches", 50, 7, 4, 0, 8},
		{"one batch", 30, 1000, 3, 0, 1},
		{"more clients than batches", 10, 4, 16, 0, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := clienttest.Start(t, 3)
			res, stderr := runBenchCLI(t, cl.Addrs(), "--workload", "load", "--keys", strconv.Itoa(tt.keys),
				"--batch", strconv.Itoa(tt.batch), "--clients", strconv.Itoa(tt.clients), "--conns", "2", "--val-size", "9")
			if res.Workload != "load" || res.Total != tt.keys || res.Errors != 0 || res.OpsPerSec <= 0 || stderr != "" {
				t.Fatalf("line %+v, stderr %q: want workload load, total %d, no errors", res, stderr, tt.keys)
			}
			kvs := cl.Store.List("bench/key/", 0)
			if len(kvs) != tt.keys {
				t.Fatalf("%d keys written, want %d", len(kvs), tt.keys)
			}
			for i, kv := range kvs {
				if want := fmt.Sprintf("bench/key/%08d", i); kv.GetKey() != want {
					t.Fatalf("key %d is %q, want %q", i, kv.GetKey(), want)
				}
				if v := kv.GetValue(); v.GetVersion() != 1 || len(v.GetData()) != 9 {
					t.Fatalf("%s: version %d with %d bytes: want written once, 9 bytes", kv.GetKey(), v.GetVersion(), len(v.GetData()))
				}
			}
			upserts, txns := 0, 0
			for _, s := range cl.Servers {
				upserts += s.Calls("Upsert")
				txns += s.Calls("Txn")
			}
			if upserts != tt.upserts || txns != tt.txn {
				t.Errorf("%d upserts and %d txns, want %d and %d", upserts, txns, tt.upserts, tt.txn)
			}
		})
	}
}

// A failed load request leaves keys missing: the line still tells, and the
// exit status is 1.
func TestBenchLoadFailsOnErrors(t *testing.T) {
	cl := clienttest.Start(t, 2)
	failCalls(cl.Servers[1], "Txn")
	stdout, stderr, code := runCLI(t, "--grpc-api-address", strings.Join(cl.Addrs(), ","), "bench",
		"--workload", "load", "--keys", "40", "--batch", "10")
	if code != exitError || !strings.Contains(stderr, "2 requests failed") {
		t.Fatalf("exit %d, stderr %q: want exit 1 and the count", code, stderr)
	}
	checkFieldOrder(t, stdout)
	if n := len(cl.Store.List("bench/key/", 0)); n != 20 {
		t.Errorf("%d keys written, want 20 (the batches sent to the healthy server)", n)
	}
}

// --batch also makes the preload of the read workloads send txns.
func TestBenchPreloadBatched(t *testing.T) {
	cl := clienttest.Start(t, 1)
	runBenchCLI(t, cl.Addrs(), "--workload", "mixed", "--rw-ratio", "1000", "--total", "5", "--keys", "25", "--batch", "10")
	if n := len(cl.Store.List("bench/key/", 0)); n != 25 {
		t.Fatalf("%d keys preloaded, want 25", n)
	}
	if n := cl.Servers[0].Calls("Txn"); n != 3 {
		t.Errorf("%d txns, want 3 (batches of 10, 10 and 5)", n)
	}
}

// failCalls makes s answer every call of method with Unavailable.
func failCalls(s *clienttest.Server, method string) {
	s.SetHook(func(_ context.Context, m string, stage clienttest.Stage) error {
		if m == method && stage == clienttest.Before {
			return status.Error(codes.Unavailable, "injected")
		}
		return nil
	})
}

// The default keys are bench/key/%08d, those of the etcd runs bench is
// compared with.
func TestBenchKeys(t *testing.T) {
	keys := benchKeys(benchKeyPrefix, 10000, 18)
	if keys[0] != "bench/key/00000000" || keys[9999] != "bench/key/00009999" {
		t.Fatalf("keys %q .. %q", keys[0], keys[9999])
	}
}

// --prefix chooses where the keys go; they stay after the run unless
// --cleanup deletes them, and only them.
func TestBenchPrefixAndCleanup(t *testing.T) {
	cl := clienttest.Start(t, 1)
	cl.Store.Put("mine-too", []byte("not under the prefix"))
	keysUnder := func(prefix string) []string {
		var keys []string
		for _, kv := range cl.Store.List(prefix, 0) {
			keys = append(keys, kv.GetKey())
		}
		return keys
	}

	_, stderr := runBenchCLI(t, cl.Addrs(), "--workload", "load", "--keys", "5", "--prefix", "mine/")
	if got := keysUnder("mine/"); len(got) != 5 || got[0] != "mine/0000000000000" {
		t.Fatalf("after a run without --cleanup: keys %q, want mine/0000000000000 .. 4", got)
	}
	if strings.Contains(stderr, "cleanup") {
		t.Errorf("stderr %q without --cleanup", stderr)
	}

	_, stderr = runBenchCLI(t, cl.Addrs(), "--workload", "put", "--total", "20", "--keys", "3", "--prefix", "mine/", "--cleanup")
	if got := keysUnder("mine"); len(got) != 1 || got[0] != "mine-too" {
		t.Errorf("after --cleanup: keys %q, want only mine-too", got)
	}
	if !strings.Contains(stderr, `databend-metactl: bench: --cleanup deleted 5 keys under "mine/"`) {
		t.Errorf("stderr %q: want the count of keys deleted", stderr)
	}
}

// bench's help names no path of this repository.
func TestBenchHelp(t *testing.T) {
	stdout, _, code := runCLI(t, "bench", "--help")
	if code != 0 || !strings.Contains(stdout, "--cleanup") || strings.Contains(stdout, "../") || strings.Contains(stdout, "peers") {
		t.Errorf("bench --help: exit %d:\n%s", code, stdout)
	}
}

// With one client on one key, every compare-and-swap but none fails: the
// client learns each new seq from the put's answer.
func TestBenchTxnCASLearnsSeq(t *testing.T) {
	cl := clienttest.Start(t, 1)
	cl.Store.Put("bench/key/00000000", []byte("old")) // seq 1: the first CAS (seq 0) fails
	runBenchCLI(t, cl.Addrs(), "--workload", "txn-cas", "--total", "10", "--keys", "1")
	v := cl.Store.Get("bench/key/00000000")
	if v.GetVersion() != 10 {
		t.Fatalf("version %d after 10 CAS of which the first failed: want 10 (1 + 9 puts)", v.GetVersion())
	}
}

func TestBenchCountsErrors(t *testing.T) {
	cl := clienttest.Start(t, 2)
	failCalls(cl.Servers[1], "Upsert")
	res, stderr := runBenchCLI(t, cl.Addrs(), "--workload", "put", "--total", "100")
	// One client alternates between the two servers.
	if res.Errors != 50 {
		t.Errorf("errors %d, want 50", res.Errors)
	}
	if !strings.Contains(stderr, "50 errors") || !strings.Contains(stderr, "injected") {
		t.Errorf("stderr %q: want the count and the first error", stderr)
	}
}

func TestBenchWatchCountsLostEvents(t *testing.T) {
	cl := clienttest.Start(t, 1)
	// The watch stream breaks after the initial flush: no event arrives,
	// and the run does not wait for the stream that ended.
	sent := 0
	cl.Servers[0].SetWatchSendHook(func(r *metapb.WatchResponse) error {
		sent++
		if sent > 1 {
			return status.Error(codes.Unavailable, "injected")
		}
		return nil
	})
	start := time.Now()
	res, stderr := runBenchCLI(t, cl.Addrs(), "--workload", "watch", "--total", "20", "--keys", "5")
	if res.Errors != 20 {
		t.Errorf("errors %d, want 20 (every event lost)", res.Errors)
	}
	if !strings.Contains(stderr, "ended early") || !strings.Contains(stderr, "20 of 20 events") {
		t.Errorf("stderr %q", stderr)
	}
	if time.Since(start) > watchIdleTimeout {
		t.Errorf("took %v", time.Since(start))
	}
}

func TestBenchUsage(t *testing.T) {
	cl := clienttest.Start(t, 1)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--workload", "scan"}, "invalid --workload"},
		{[]string{"--clients", "0"}, "invalid --clients"},
		{[]string{"--conns", "0"}, "invalid --conns"},
		{[]string{"--total", "0"}, "invalid --total"},
		{[]string{"--keys", "0"}, "invalid --keys"},
		{[]string{"--key-size", "17"}, "invalid --key-size"},
		{[]string{"--keys", "1000000000", "--key-size", "18"}, "invalid --key-size 18: want 19..4096"},
		{[]string{"--val-size", "-1"}, "invalid --val-size"},
		{[]string{"--workload", "watch", "--val-size", "15"}, "needs at least 16 bytes"},
		{[]string{"--rw-ratio", "-1"}, "invalid --rw-ratio"},
		{[]string{"--progress", "maybe"}, "invalid --progress"},
		{[]string{"--batch", "0"}, "invalid --batch"},
		{[]string{"--batch", "1001"}, "invalid --batch 1001: want 1..1000"},
		{[]string{"--workload", "load", "--total", "5"}, "--total does not apply"},
		{[]string{"--prefix", ""}, `--prefix is empty: bench's keys need a prefix of their own (default "bench/key/")`},
		{[]string{"--prefix", "b\xff/"}, `--prefix "b\xff/" is not valid UTF-8`},
		{[]string{"--prefix", "a-much-longer-prefix/"}, `invalid --key-size 18: want 29..4096 ("a-much-longer-prefix/"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			args := append([]string{"--grpc-api-address", cl.Addrs()[0], "bench"}, tt.args...)
			stdout, stderr, code := runCLI(t, args...)
			if code != exitUsage || stdout != "" || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q: want exit 2 and %q", code, stdout, stderr, tt.want)
			}
		})
	}
}

func TestBenchNoServer(t *testing.T) {
	stdout, stderr, code := runCLI(t, "--grpc-api-address", refusedAddr(t), "bench", "--total", "1")
	if code != exitError || stdout != "" || !strings.Contains(stderr, "is a metasrv node listening there?") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestPercentile(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	var thousand []time.Duration
	for i := 1; i <= 1000; i++ {
		thousand = append(thousand, ms(i))
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   float64
	}{
		{"empty", nil, 0.5, 0},
		{"one", []time.Duration{ms(3)}, 0.999, 3},
		{"p50 of 1000", thousand, 0.50, 500}, // index int(0.5*999) = 499
		{"p99 of 1000", thousand, 0.99, 990}, // index 989
		{"p999 of 1000", thousand, 0.999, 999},
	}
	for _, tt := range tests {
		if got := percentileMs(tt.sorted, tt.p); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestProgressLine(t *testing.T) {
	tests := []struct {
		done, total int64
		want        string
	}{
		{0, 100, "put [>                             ]   0%  0/100  0 ops/s  2.0s "},
		{50, 100, "put [===============>              ]  50%  50/100  25 ops/s  2.0s "},
		{100, 100, "put [==============================] 100%  100/100  50 ops/s  2.0s "},
	}
	for _, tt := range tests {
		if got := progressLine("put", tt.done, tt.total, 2*time.Second); got != tt.want {
			t.Errorf("progressLine(%d/%d)\n got %q\nwant %q", tt.done, tt.total, got, tt.want)
		}
	}
}

// The bar is drawn for runs past progressDelay only, and ends its line.
func TestProgressDrawnAfterDelay(t *testing.T) {
	var done atomic.Int64
	var quick bytes.Buffer
	startProgress(&quick, true, "put", 10, &done).finish()
	if quick.Len() != 0 {
		t.Fatalf("quick run drew %q", quick.String())
	}
	var slow bytes.Buffer // written by the bar's goroutine only before finish returns
	p := startProgress(&slow, true, "put", 10, &done)
	done.Store(10)
	time.Sleep(progressDelay + progressEvery)
	p.finish()
	if s := slow.String(); !strings.HasPrefix(s, "\rput [") || !strings.HasSuffix(s, "\n") || !strings.Contains(s, "100%") {
		t.Fatalf("slow run drew %q", s)
	}
}
