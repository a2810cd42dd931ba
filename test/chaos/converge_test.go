package chaos

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/metasrv/metasrv/api/metapb"
)

// ---- the run's log ----

// runLog is the timeline of a run (faults, membership, watch resumes),
// each line stamped with the time since the history's start so that it
// can be read next to the ops. It goes to a file, to stderr under -v, and
// into the test log on failure.
type runLog struct {
	start   time.Time
	verbose bool
	mu      struct {
		sync.Mutex
		lines []string
		f     *os.File
	}
}

func newRunLog(path string, start time.Time, verbose bool) (*runLog, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	l := &runLog{start: start, verbose: verbose}
	l.mu.f = f
	return l, nil
}

func (l *runLog) logf(format string, args ...any) {
	line := fmt.Sprintf("%8.3fs %s", time.Since(l.start).Seconds(), fmt.Sprintf(format, args...))
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.lines = append(l.mu.lines, line)
	if l.mu.f != nil {
		fmt.Fprintln(l.mu.f, line)
	}
	if l.verbose {
		fmt.Fprintln(os.Stderr, "chaos:", line)
	}
}

func (l *runLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.mu.lines, "\n")
}

func (l *runLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.f != nil {
		l.mu.f.Close()
		l.mu.f = nil
	}
}

// ---- convergence ----

// waitQuiet waits until every member is serving, knows the leader, and
// all have applied the same index with the same last_seq, twice in a row
// (no write is in flight). It returns that status.
func (c *cluster) waitQuiet(timeout time.Duration) (*metapb.StatusReply, error) {
	var prev string
	var last *metapb.StatusReply
	err := poll(timeout, func() error {
		var key string
		for _, n := range c.members() {
			st, err := n.status()
			if err != nil {
				return err
			}
			if st.GetLeaderId() == 0 {
				return fmt.Errorf("%v knows no leader", n)
			}
			k := fmt.Sprintf("leader=%d applied=%d last_seq=%d", st.GetLeaderId(), st.GetAppliedIndex(), st.GetLastSeq())
			if key != "" && k != key {
				prev = ""
				return fmt.Errorf("members differ: %s vs %v %s", key, n, k)
			}
			key, last = k, st
		}
		if key != prev {
			prev = key
			return fmt.Errorf("not stable yet: %s", key)
		}
		return nil
	})
	return last, err
}

// export is one node's dump, normalized: the header without
// exported_at_ms, which is the exporter's clock.
type export struct {
	node   uint64
	dump   []byte
	header map[string]any
	kvs    map[string]val
}

func (e *export) hash() string { return fmt.Sprintf("%x", sha256.Sum256(e.dump))[:16] }

// exportNode streams the node's Export (after its linearizable barrier).
func exportNode(n *node) (*export, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := n.meta().Export(ctx, &metapb.ExportRequest{})
	if err != nil {
		return nil, fmt.Errorf("%v: export: %w", n, err)
	}
	var raw bytes.Buffer
	for {
		ch, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%v: export: %w", n, err)
		}
		raw.Write(ch.GetData())
	}
	return parseExport(n.id, raw.Bytes())
}

// parseExport normalizes a dump (internal/backup format: a header line,
// kv lines, a footer line) and reads its keys.
func parseExport(id uint64, raw []byte) (*export, error) {
	lines := bytes.Split(bytes.TrimRight(raw, "\n"), []byte("\n"))
	if len(lines) < 2 {
		return nil, fmt.Errorf("node %d: export has %d lines", id, len(lines))
	}
	e := &export{node: id, kvs: map[string]val{}}
	if err := json.Unmarshal(lines[0], &e.header); err != nil {
		return nil, fmt.Errorf("node %d: export header: %w", id, err)
	}
	delete(e.header, "exported_at_ms")
	h, err := json.Marshal(e.header) // map keys sorted
	if err != nil {
		return nil, err
	}
	e.dump = append(append(h, '\n'), bytes.Join(lines[1:], []byte("\n"))...)
	for _, l := range lines[1 : len(lines)-1] {
		var kv struct {
			Type        string  `json:"type"`
			Key         string  `json:"key"`
			Seq         uint64  `json:"seq"`
			Value       *string `json:"value"`
			ValueBase64 *string `json:"value_base64"`
		}
		if err := json.Unmarshal(l, &kv); err != nil {
			return nil, fmt.Errorf("node %d: export line %s: %w", id, l, err)
		}
		if kv.Type != "kv" {
			return nil, fmt.Errorf("node %d: export line %s: want a kv", id, l)
		}
		v := val{exists: true, seq: kv.Seq}
		switch {
		case kv.Value != nil:
			v.data = *kv.Value
		case kv.ValueBase64 != nil:
			b, err := base64.StdEncoding.DecodeString(*kv.ValueBase64)
			if err != nil {
				return nil, fmt.Errorf("node %d: export line %s: %w", id, l, err)
			}
			v.data = string(b)
		}
		e.kvs[kv.Key] = v
	}
	return e, nil
}

// compareExports checks that every member's dump is the same, byte for
// byte once the exporter's clock is left out; it returns the first.
func compareExports(exps []*export) (*export, error) {
	p := &problems{kind: "state machines differ after the faults healed"}
	for _, e := range exps[1:] {
		if !bytes.Equal(e.dump, exps[0].dump) {
			p.addf("node %d (%s) and node %d (%s) differ:\n%s", exps[0].node, exps[0].hash(), e.node, e.hash(), diffLines(exps[0].dump, e.dump))
		}
	}
	return exps[0], p.err()
}

// diffLines shows the first lines where a and b differ.
func diffLines(a, b []byte) string {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	var sb strings.Builder
	shown := 0
	for i := 0; i < max(len(la), len(lb)) && shown < 5; i++ {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			fmt.Fprintf(&sb, "      line %d:\n      - %s\n      + %s\n", i+1, x, y)
			shown++
		}
	}
	return sb.String()
}

// revision returns the revision of the first serving member that has
// applied index applied, from its gRPC Status.
func (c *cluster) revision(applied uint64) (uint64, error) {
	var errs []error
	for _, n := range c.members() {
		if !n.serving() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
		st, err := n.meta().Status(ctx, &metapb.StatusRequest{})
		cancel()
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%v: %w", n, err))
		case st.GetAppliedIndex() != applied:
			errs = append(errs, fmt.Errorf("%v at applied index %d, want %d", n, st.GetAppliedIndex(), applied))
		default:
			return st.GetRevision(), nil
		}
	}
	return 0, fmt.Errorf("no member reports its revision at applied index %d: %v", applied, errors.Join(errs...))
}
