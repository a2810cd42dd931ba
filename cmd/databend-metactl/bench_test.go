package main

import (
	"bytes"
	"context"
	"encoding/json"
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

// The default keys are the peers': bench/key/%08d.
func TestBenchKeys(t *testing.T) {
	keys := benchKeys(10000, 18)
	if keys[0] != "bench/key/00000000" || keys[9999] != "bench/key/00009999" {
		t.Fatalf("keys %q .. %q", keys[0], keys[9999])
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
	cl.Servers[1].SetHook(func(_ context.Context, method string, stage clienttest.Stage) error {
		if method == "Upsert" && stage == clienttest.Before {
			return status.Error(codes.Unavailable, "injected")
		}
		return nil
	})
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
