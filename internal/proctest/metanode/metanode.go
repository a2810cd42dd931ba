// Package metanode runs databend-meta nodes as processes for the suites
// that test the real binary (test/e2e, test/chaos): it starts, stops,
// kills, pauses and restarts a node with every run's output in one file,
// and reaches the node from outside as a client would, through a gRPC
// connection that survives restarts and the admin API's status, which
// says whether the nodes agree on a leader (Leader) and who the voters
// are (VoterIDs).
//
// It is apart from proctest, which it builds on, because it knows
// databend-meta's APIs (metapb, the admin API's JSON) while proctest
// knows only processes, ports and tools, for any binary.
package metanode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/proctest"
)

const (
	// KillTimeout bounds the wait for a process to be gone after SIGKILL.
	KillTimeout = 10 * time.Second
	// DumpTimeout bounds the wait for a process to exit after SIGQUIT,
	// while it prints its goroutines.
	DumpTimeout = 5 * time.Second
)

// ErrNotServing is the error of Status and AdminGet on a node whose
// process is not running or is paused.
var ErrNotServing = errors.New("not serving")

// Node is one databend-meta node: a process started and restarted in the
// same directory, with the same output file. Set the fields before the
// first Start; the methods may be called from any goroutine.
type Node struct {
	ID        uint64
	Dir       string // working directory: relative paths in the config resolve here
	Out       string // the file collecting stdout and stderr of every run
	GRPCAddr  string // the public gRPC API, host:port
	AdminAddr string // the admin HTTP API, host:port

	mu struct {
		sync.Mutex
		p    *proctest.Process // the last run, nil before the first
		runs int               // how many times it was started, for the output's run marks
		// expected: the test ended the last run (Kill, Stop, Dump), so
		// its exit is no crash.
		expected bool
		paused   bool // SIGSTOP sent, no SIGCONT since
		conn     *grpc.ClientConn
	}
}

func (n *Node) String() string { return fmt.Sprintf("node %d", n.ID) }

// Start starts a run of bin with args in Dir; it does not wait for the
// node to serve. The process prints every goroutine on a panic or SIGQUIT
// (GOTRACEBACK=all).
func (n *Node) Start(bin string, args ...string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.p != nil && !n.mu.p.Exited() {
		return fmt.Errorf("%v: start: already running", n)
	}
	n.mu.runs++
	cmd := exec.Command(bin, args...)
	cmd.Dir = n.Dir
	cmd.Env = append(os.Environ(), "GOTRACEBACK=all")
	header := fmt.Sprintf("run %d: %s %s", n.mu.runs, filepath.Base(bin), strings.Join(args, " "))
	p, err := proctest.Start(cmd, n.Out, header)
	if err != nil {
		return fmt.Errorf("%v: start: %w", n, err)
	}
	n.mu.p, n.mu.expected, n.mu.paused = p, false, false
	return nil
}

// Process returns the last run, nil if the node was never started.
func (n *Node) Process() *proctest.Process {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.p
}

// Alive returns nil if the process is running (paused or not), else an
// error saying why not.
func (n *Node) Alive() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.aliveLocked()
}

func (n *Node) aliveLocked() error {
	switch p := n.mu.p; {
	case p == nil:
		return fmt.Errorf("%v was never started", n)
	case p.Exited():
		return fmt.Errorf("%v exited: %v", n, p.Err())
	}
	return nil
}

// Running reports whether the process is alive (paused counts).
func (n *Node) Running() bool { return n.Alive() == nil }

// Serving returns nil if the process is alive and not paused, else an
// error wrapping ErrNotServing.
func (n *Node) Serving() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.aliveLocked(); err != nil {
		return fmt.Errorf("%w: %w", ErrNotServing, err)
	}
	if n.mu.paused {
		return fmt.Errorf("%w: %v is paused (SIGSTOP)", ErrNotServing, n)
	}
	return nil
}

// Paused reports whether the process was sent SIGSTOP and no SIGCONT since.
func (n *Node) Paused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.paused
}

// Crashed returns why the last run exited if it did so without the test
// ending it (Kill, Stop, Dump), else nil.
func (n *Node) Crashed() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p := n.mu.p; p != nil && p.Exited() && !n.mu.expected {
		return fmt.Errorf("%v exited by itself: %v (see %s)", n, p.Err(), n.Out)
	}
	return nil
}

// Signal sends sig to the running process; SIGSTOP pauses the node until
// SIGCONT (Serving, Paused).
func (n *Node) Signal(sig syscall.Signal) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.aliveLocked(); err != nil {
		return fmt.Errorf("%v: %w", sig, err)
	}
	if err := n.mu.p.Signal(sig); err != nil {
		return err
	}
	switch sig {
	case syscall.SIGSTOP:
		n.mu.paused = true
	case syscall.SIGCONT:
		n.mu.paused = false
	}
	return nil
}

// end marks the running process's exit as the test's doing and returns
// it, nil if none runs.
func (n *Node) end() *proctest.Process {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.aliveLocked() != nil {
		return nil
	}
	n.mu.expected = true
	return n.mu.p
}

// Kill sends SIGKILL (a paused node too) and waits up to KillTimeout for
// the process to be gone. A node not running is no error.
func (n *Node) Kill() error {
	p := n.end()
	if p == nil {
		return nil
	}
	if err := p.Kill(KillTimeout); err != nil {
		return fmt.Errorf("%v: %w", n, err)
	}
	n.mu.Lock()
	n.mu.paused = false
	n.mu.Unlock()
	return nil
}

// Stop sends SIGTERM and waits up to timeout for the process to exit,
// returning its exit code; still running then, it is killed and the error
// says so.
func (n *Node) Stop(timeout time.Duration) (int, error) {
	p := n.end()
	if p == nil {
		return -1, fmt.Errorf("%v: stop: %w", n, n.Alive())
	}
	code, err := p.Terminate(timeout)
	if err != nil {
		return code, fmt.Errorf("%v: %w", n, err)
	}
	return code, nil
}

// Dump makes the running process print all its goroutines and exit
// (SIGCONT, then SIGQUIT), and waits up to DumpTimeout: for the report
// of a test that failed.
func (n *Node) Dump() error {
	p := n.end()
	if p == nil {
		return nil
	}
	_ = p.Signal(syscall.SIGCONT)
	_ = p.Signal(syscall.SIGQUIT)
	return p.Wait(DumpTimeout)
}

// Close kills the process if it runs and closes the gRPC connection.
func (n *Node) Close() error {
	err := n.Kill()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.conn != nil {
		err = errors.Join(err, n.mu.conn.Close())
		n.mu.conn = nil
	}
	return err
}

// Report is for a test's cleanup, after Close: it fails t if the output
// holds a fault (proctest.Faults), and logs its last lines if t failed.
func (n *Node) Report(t testing.TB, lines int) {
	t.Helper()
	b, err := os.ReadFile(n.Out)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%v: %v", n, err)
		}
		return
	}
	for _, f := range proctest.OutputFaults(b) {
		t.Errorf("%v output (%s) holds %q", n, n.Out, f)
	}
	if t.Failed() {
		t.Logf("---- %v output (%s), last %d lines ----\n%s", n, n.Out, lines, proctest.Tail(string(b), lines))
	}
}

// Conn returns a gRPC connection to the node's public API. It survives
// restarts: it reconnects with a short backoff.
func (n *Node) Conn() *grpc.ClientConn {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.conn == nil {
		cc, err := grpc.NewClient(n.GRPCAddr,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, MaxDelay: 300 * time.Millisecond},
				MinConnectTimeout: time.Second,
			}))
		if err != nil {
			// Only a malformed target or option fails here: a bug in
			// the test, and this may run on any goroutine.
			panic(fmt.Sprintf("%v: grpc.NewClient: %v", n, err))
		}
		n.mu.conn = cc
	}
	return n.mu.conn
}

// Meta returns a client of the public API on Conn.
func (n *Node) Meta() metapb.MetaClient { return metapb.NewMetaClient(n.Conn()) }

// AdminURL returns the admin API's URL of path.
func (n *Node) AdminURL(path string) string { return "http://" + n.AdminAddr + path }

// AdminGet fetches an admin API path and returns the status code and the
// body; a node not serving is ErrNotServing, without a request.
func (n *Node) AdminGet(ctx context.Context, path string) (int, []byte, error) {
	if err := n.Serving(); err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.AdminURL(path), nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%v: GET %s: %w", n, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("%v: GET %s: read body: %w", n, path, err)
	}
	return resp.StatusCode, b, nil
}

// Status returns the node's /v1/cluster/status, with State set to the
// raft state (leader, follower, ...): the JSON's state is databend-meta's
// (Leader, Follower, ...), its raft_state StatusReply's.
func (n *Node) Status(ctx context.Context) (*metapb.StatusReply, error) {
	const path = "/v1/cluster/status"
	code, b, err := n.AdminGet(ctx, path)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("%v: GET %s: %d %s", n, path, code, b)
	}
	var st metapb.StatusReply
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%v: GET %s: %v in %s", n, path, err, b)
	}
	var raft struct {
		State string `json:"raft_state"`
	}
	if err := json.Unmarshal(b, &raft); err != nil {
		return nil, fmt.Errorf("%v: GET %s: %v in %s", n, path, err, b)
	}
	st.State = raft.State
	return &st, nil
}

// Leader returns the leader if every one of nodes names the same leader,
// one of nodes, and that leader's status says it leads; else an error
// saying which node disagrees. Each status call is bounded by timeout.
func Leader(nodes []*Node, timeout time.Duration) (*Node, error) {
	status := func(n *Node) (*metapb.StatusReply, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return n.Status(ctx)
	}
	var lead uint64
	for _, n := range nodes {
		st, err := status(n)
		if err != nil {
			return nil, err
		}
		switch {
		case st.GetLeaderId() == 0:
			return nil, fmt.Errorf("%v knows no leader (state %s, term %d)", n, st.GetState(), st.GetTerm())
		case lead != 0 && st.GetLeaderId() != lead:
			return nil, fmt.Errorf("%v says the leader is %d, another node says %d", n, st.GetLeaderId(), lead)
		}
		lead = st.GetLeaderId()
	}
	i := slices.IndexFunc(nodes, func(n *Node) bool { return n.ID == lead })
	if i < 0 {
		return nil, fmt.Errorf("the leader is %d, not one of %v", lead, nodes)
	}
	st, err := status(nodes[i])
	if err != nil {
		return nil, err
	}
	if st.GetState() != "leader" {
		return nil, fmt.Errorf("%v is named leader but is %q", nodes[i], st.GetState())
	}
	return nodes[i], nil
}

// VoterIDs returns the ids of members, ascending, or an error if one is a
// learner.
func VoterIDs(members []*metapb.Node) ([]uint64, error) {
	var ids []uint64
	for _, m := range members {
		if !m.GetVoter() {
			return nil, fmt.Errorf("%d is a learner", m.GetId())
		}
		ids = append(ids, m.GetId())
	}
	slices.Sort(ids)
	return ids, nil
}
