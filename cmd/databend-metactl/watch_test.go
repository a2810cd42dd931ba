package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/client/clienttest"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// watchLine is one line of watch output, every field optional so that a
// test sees which ones were present.
type watchLine struct {
	Key            *string       `json:"key"`
	KeyBase64      *string       `json:"key_base64"`
	Revision       *uint64       `json:"revision"`
	Seq            *uint64       `json:"seq"`
	Prev           *valueOutJSON `json:"prev"`
	Current        *valueOutJSON `json:"current"`
	Initialization *bool         `json:"initialization"`
	FlushDone      *bool         `json:"flush_done"`
}

// cliRun is a databend-metactl run in the background.
type cliRun struct {
	stdout, stderr syncBuffer
	cancel         context.CancelFunc
	code           chan int
}

func startCLI(t *testing.T, args ...string) *cliRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &cliRun{cancel: cancel, code: make(chan int, 1)}
	go func() { r.code <- runContext(ctx, args, &r.stdout, &r.stderr) }()
	t.Cleanup(func() {
		cancel()
		<-r.code
	})
	return r
}

// wait returns the exit code, failing the test if the run takes longer
// than d.
func (r *cliRun) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case code := <-r.code:
		r.code <- code // for the cleanup
		return code
	case <-time.After(d):
		t.Fatalf("still running after %v; stderr %q", d, r.stderr.String())
		return -1
	}
}

// lines waits until stdout holds n lines and decodes them strictly.
func (r *cliRun) lines(t *testing.T, n int) []watchLine {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := r.stdout.String()
		if got := strings.Count(out, "\n"); got >= n {
			var lines []watchLine
			for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
				var wl watchLine
				dec := json.NewDecoder(strings.NewReader(l))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&wl); err != nil {
					t.Fatalf("line %q: %v", l, err)
				}
				lines = append(lines, wl)
			}
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d lines after 10s, want %d:\n%s\nstderr: %s", strings.Count(out, "\n"), n, out, r.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitWatching(t *testing.T, s *clienttest.Server) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Watches() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no watch stream reached the server")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWatchPrintsJSONLines(t *testing.T) {
	cl := clienttest.Start(t, 2)
	cl.Store.Put("p/a", []byte("before")) // seq 1, revision 2
	r := startCLI(t, "--grpc-api-address", strings.Join(cl.Addrs(), ","), "watch", "--prefix", "p/", "--initial-flush")
	waitWatching(t, cl.Servers[0])
	r.lines(t, 2)                     // the initial flush is out
	cl.Store.Put("p/b", []byte{0xff}) // seq 2, revision 3
	cl.Store.Put("q/x", nil)          // seq 3, revision 4: not watched
	cl.Store.Delete("p/a")            // revision 5: a delete takes no seq

	// The serving node goes away: the watch resumes on the other one.
	cl.Servers[0].Stop()
	cl.Store.Put("p/c", []byte("after")) // seq 4, revision 6

	lines := r.lines(t, 5)
	r.cancel()
	if code := r.wait(t, 5*time.Second); code != 0 {
		t.Fatalf("exit %d after Ctrl-C, want 0; stderr %q", code, r.stderr.String())
	}
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5: %s", len(lines), r.stdout.String())
	}
	str := func(p *string) string {
		if p == nil {
			return "<nil>"
		}
		return *p
	}
	first, flush, upd, del, resumed := lines[0], lines[1], lines[2], lines[3], lines[4]
	if str(first.Key) != "p/a" || *first.Seq != 1 || *first.Revision != 2 || first.Prev != nil || first.Current == nil || str(first.Current.Value) != "before" || !*first.Initialization {
		t.Errorf("initial value line = %+v", first)
	}
	if flush.FlushDone == nil || !*flush.FlushDone || flush.Key != nil || flush.Seq != nil || flush.Revision != nil {
		t.Errorf("flush line = %+v, want exactly {\"flush_done\":true}", flush)
	}
	if str(upd.Key) != "p/b" || *upd.Seq != 2 || *upd.Revision != 3 || upd.Prev != nil || str(upd.Current.ValueBase64) != "/w==" || *upd.Initialization {
		t.Errorf("create line = %+v", upd)
	}
	if str(del.Key) != "p/a" || *del.Seq != 1 || *del.Revision != 5 || del.Current != nil || del.Prev == nil || str(del.Prev.Value) != "before" {
		t.Errorf("delete line = %+v", del)
	}
	if str(resumed.Key) != "p/c" || *resumed.Seq != 4 || *resumed.Revision != 6 {
		t.Errorf("line after the resume = %+v", resumed)
	}
	if stderr := r.stderr.String(); !strings.Contains(stderr, "resuming from revision ") || strings.Count(stderr, "\n") < 1 {
		t.Errorf("stderr %q, want a resume notice", stderr)
	}
	if !strings.Contains(r.stdout.String(), `{"flush_done":true}`+"\n") {
		t.Errorf("stdout lacks the exact flush_done line:\n%s", r.stdout.String())
	}
}

func TestWatchFlags(t *testing.T) {
	cl := clienttest.Start(t, 1)
	cl.Store.Put("k", []byte("1"))  // revision 2
	cl.Store.Put("k2", []byte("x")) // revision 3
	cl.Store.Put("k", []byte("2"))  // revision 4
	cl.Store.Delete("k")            // revision 5
	addr := cl.Addrs()[0]

	tests := []struct {
		args []string
		want string // the keys@revisions printed, in order
	}{
		{[]string{"--key", "k", "--start-revision", "1"}, "k@2 k@4 k@5"},
		{[]string{"--key", "k", "--start-revision", "3", "--filter", "delete"}, "k@5"},
		{[]string{"--key", "k", "--key-end", "l", "--start-revision", "1", "--filter", "update"}, "k@2 k2@3 k@4"},
		{[]string{"--prefix", "k", "--initial-flush"}, "k2@3 flush_done"},
	}
	for _, tt := range tests {
		// The watch ends (exit status 0, as on Ctrl-C) once it printed as
		// many lines as the test wants, or after 10 s.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out := &linesThenCancel{n: len(strings.Fields(tt.want)), cancel: cancel}
		var errOut bytes.Buffer
		code := runContext(ctx, append([]string{"--grpc-api-address", addr, "watch"}, tt.args...), out, &errOut)
		cancel()
		stdout, stderr := out.String(), errOut.String()
		if code != 0 {
			t.Errorf("%v: exit %d, stderr %q", tt.args, code, stderr)
			continue
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
			var wl watchLine
			if err := json.Unmarshal([]byte(l), &wl); err != nil {
				t.Fatalf("%v: line %q: %v", tt.args, l, err)
			}
			if wl.FlushDone != nil {
				got = append(got, "flush_done")
			} else {
				got = append(got, *wl.Key+"@"+strings.TrimSpace(jsonNum(*wl.Revision)))
			}
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("%v: printed %v, want %s", tt.args, got, tt.want)
		}
	}
}

// linesThenCancel is a command's stdout that calls cancel once n lines
// were written: a watch then ends as on Ctrl-C.
type linesThenCancel struct {
	bytes.Buffer
	n      int
	cancel context.CancelFunc
}

func (w *linesThenCancel) Write(p []byte) (int, error) {
	n, err := w.Buffer.Write(p)
	if bytes.Count(w.Bytes(), []byte("\n")) >= w.n {
		w.cancel()
	}
	return n, err
}

func jsonNum(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestWatchCompactedFails(t *testing.T) {
	cl := clienttest.Start(t, 1)
	for range 5 {
		cl.Store.Put("k", nil)
	}
	cl.Store.Compact(3)
	stdout, stderr, code := runCLI(t, "--grpc-api-address", cl.Addrs()[0], "watch", "--key", "k", "--start-revision", "2")
	if code != 1 || stdout != "" || !strings.Contains(stderr, "compacted") || !strings.Contains(stderr, "initial flush") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 saying compacted", code, stdout, stderr)
	}
}

func TestWatchEndsOnServerRefusal(t *testing.T) {
	cl := clienttest.Start(t, 1)
	cl.Servers[0].SetHook(func(_ context.Context, m string, s clienttest.Stage) error {
		if m == "Watch" {
			return status.Error(codes.PermissionDenied, "injected: no watching here")
		}
		return nil
	})
	_, stderr, code := runCLI(t, "--grpc-api-address", cl.Addrs()[0], "watch", "--key", "k")
	if code != 1 || !strings.Contains(stderr, "no watching here") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

func TestWatchUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"watch"},
		{"watch", "--prefix", "p", "--key", "k"},
		{"watch", "--key-end", "z"},
		{"watch", "--key", "b", "--key-end", "a"},
		{"watch", "--key", "k", "--filter", "puts"},
		{"watch", "--key", "k", "--start-revision", "0"},
		{"watch", "--key", "k", "--start-revision", "3", "--initial-flush"},
		{"watch", "--key", "k", "extra"},
	} {
		stdout, stderr, code := runCLI(t, args...)
		if code != 2 || stdout != "" || strings.Count(stderr, "\n") != 2 || !strings.HasSuffix(stderr, "\nsee databend-metactl watch --help\n") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2, the error and a pointer to the help", args, code, stdout, stderr)
		}
	}
}
