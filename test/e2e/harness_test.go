package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
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
	"github.com/metasrv/metasrv/client"
	"github.com/metasrv/metasrv/internal/proctest"
)

const (
	// heartbeatMs is the heartbeat_interval every test node runs with; the
	// election timeout is 5-10x it.
	heartbeatMs = 100
	// pollEvery is how often a wait re-checks its condition.
	pollEvery = 50 * time.Millisecond
	// rpcTimeout bounds one request to one node.
	rpcTimeout = 3 * time.Second
	// clusterTimeout bounds waits for a leader, for members, for catch-up.
	clusterTimeout = 30 * time.Second
	// outputLines is how much of a node's output a failed test prints.
	outputLines = 120
)

// ---- ports ----

var ports proctest.Ports

// freePort returns a loopback port nobody listened on a moment ago, below
// the ephemeral range, never the same one twice in this test process.
func freePort(t testing.TB) int {
	t.Helper()
	p, err := ports.Free()
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	return p
}

// ---- waiting ----

// waitFor polls cond every pollEvery until it returns nil, and fails the
// test with cond's last error if timeout passes first.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	if err := poll(timeout, cond); err != nil {
		t.Fatalf("waiting %v for %s: %v", timeout, what, err)
	}
}

// poll is waitFor without the test: it returns cond's last error on timeout.
func poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(pollEvery)
	}
}

// ---- node processes ----

// node is one databend-meta process, started and restarted with the same
// command line in the same working directory.
type node struct {
	t    testing.TB
	id   uint64
	dir  string   // working directory: relative paths in the config resolve here
	args []string // command line after the binary
	// Ports it listens on; clients connect through 127.0.0.1.
	raftPort, grpcPort, adminPort int
	out                           string // file collecting stdout and stderr of every run
	runs                          int

	mu struct {
		sync.Mutex
		p    *process
		conn *grpc.ClientConn
	}
}

// process is one run of a node.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result, set before done is closed
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitCode returns the exit code of an exited process, -1 if a signal
// killed it.
func (p *process) exitCode() int { return p.cmd.ProcessState.ExitCode() }

// newNode returns a node that is not started yet. On cleanup the node is
// killed, and if the test failed its output is printed.
//
// Every node runs with --log-stderr-on: databend-meta logs only to files
// by default (one start-up line on stderr), and a failed test should show
// the node's log with its stdout and stderr, in order.
func newNode(t testing.TB, id uint64, dir string, args []string, raftPort, grpcPort, adminPort int) *node {
	args = append(slices.Clone(args), "--log-stderr-on")
	n := &node{
		t: t, id: id, dir: dir, args: args,
		raftPort: raftPort, grpcPort: grpcPort, adminPort: adminPort,
		out: filepath.Join(dir, fmt.Sprintf("node%d.out", id)),
	}
	t.Cleanup(func() {
		n.mu.Lock()
		p, conn := n.mu.p, n.mu.conn
		n.mu.Unlock()
		if p != nil && !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if conn != nil {
			conn.Close()
		}
		if b, err := os.ReadFile(n.out); err == nil {
			for _, bad := range []string{"WARNING: DATA RACE", "\npanic: ", "\nfatal error: "} {
				if bytes.Contains(b, []byte(bad)) {
					t.Errorf("%v output (%s) holds %q", n, n.out, strings.TrimSpace(bad))
				}
			}
		}
		if t.Failed() {
			t.Logf("---- node %d output (%s), last %d lines ----\n%s", n.id, n.out, outputLines, tailFile(n.out, outputLines))
		}
	})
	return n
}

func (n *node) String() string { return fmt.Sprintf("node %d", n.id) }

func (n *node) raftAddr() string { return fmt.Sprintf("127.0.0.1:%d", n.raftPort) }
func (n *node) grpcAddr() string { return fmt.Sprintf("127.0.0.1:%d", n.grpcPort) }
func (n *node) adminURL(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", n.adminPort, path)
}

// start starts the node's process; it does not wait for it to serve.
func (n *node) start() {
	n.t.Helper()
	if err := n.tryStart(metaBin(n.t)); err != nil {
		n.t.Fatal(err)
	}
}

// tryStart is start for any goroutine: it returns the error.
func (n *node) tryStart(bin string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.p != nil && !n.mu.p.exited() {
		return fmt.Errorf("%v: start: already running", n)
	}
	n.runs++
	f, err := os.OpenFile(n.out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "==== %s run %d: databend-meta %s\n", time.Now().Format(time.RFC3339Nano), n.runs, strings.Join(n.args, " "))
	cmd := exec.Command(bin, n.args...)
	cmd.Dir = n.dir
	cmd.Stdout, cmd.Stderr = f, f
	// If the test binary dies (a timeout panic), take the node with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("%v: start: %w", n, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	n.mu.p = p
	return nil
}

func (n *node) process() *process {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.p
}

// running reports whether the node's process is alive.
func (n *node) running() bool {
	p := n.process()
	return p != nil && !p.exited()
}

// alive returns an error if the node's process is not running.
func (n *node) alive() error {
	p := n.process()
	switch {
	case p == nil:
		return fmt.Errorf("%v was never started", n)
	case p.exited():
		return fmt.Errorf("%v exited: %v", n, p.err)
	}
	return nil
}

// kill sends SIGKILL and waits for the process to be gone.
func (n *node) kill() {
	n.t.Helper()
	p := n.process()
	if p == nil || p.exited() {
		n.t.Fatalf("%v: kill: not running", n)
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		n.t.Fatalf("%v: still running 10s after SIGKILL", n)
	}
}

// stop sends SIGTERM, waits for the process to exit and returns its exit
// code. It fails the test if the process does not exit in time.
func (n *node) stop() int {
	n.t.Helper()
	p := n.process()
	if p == nil || p.exited() {
		n.t.Fatalf("%v: stop: not running", n)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.exitCode()
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		n.t.Fatalf("%v: still running 20s after SIGTERM; killed", n)
		return -1
	}
}

// conn returns the gRPC connection to the node's public API. It survives
// restarts: it reconnects with a short backoff.
func (n *node) conn() *grpc.ClientConn {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.conn == nil {
		cc, err := grpc.NewClient(n.grpcAddr(),
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, MaxDelay: 500 * time.Millisecond},
				MinConnectTimeout: time.Second,
			}))
		if err != nil {
			// Only a malformed target or option fails here: a bug in
			// the harness, and this may run on any goroutine.
			panic(fmt.Sprintf("%v: grpc.NewClient: %v", n, err))
		}
		n.mu.conn = cc
	}
	return n.mu.conn
}

func (n *node) meta() metapb.MetaClient { return metapb.NewMetaClient(n.conn()) }

// upsert writes key = value with match_seq any through this node.
func (n *node) upsert(key, value string) (*metapb.UpsertReply, error) {
	return n.upsertTimeout(key, value, rpcTimeout)
}

// upsertTimeout is upsert with a time limit other than rpcTimeout.
func (n *node) upsertTimeout(key, value string, timeout time.Duration) (*metapb.UpsertReply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	r, err := n.meta().Upsert(ctx, &metapb.UpsertRequest{Key: key, Value: []byte(value)})
	if err != nil {
		return nil, fmt.Errorf("%v: upsert %q: %w", n, key, err)
	}
	return r, nil
}

// mustUpsert is upsert that fails the test on an error or an unapplied write.
func (n *node) mustUpsert(key, value string) *metapb.UpsertReply {
	n.t.Helper()
	r, err := n.upsert(key, value)
	if err != nil {
		n.t.Fatal(err)
	}
	if !r.GetApplied() || r.GetResult().GetSeq() == 0 || string(r.GetResult().GetData()) != value {
		n.t.Fatalf("%v: upsert %q = %q with match any: reply %v, want applied with the value and a seq", n, key, value, r)
	}
	return r
}

// get reads key through this node with the given consistency; an absent
// key is a nil SeqV.
func (n *node) get(key string, c metapb.ReadConsistency) (*metapb.SeqV, error) {
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	r, err := n.meta().Get(ctx, &metapb.GetRequest{Key: key, Consistency: c})
	if err != nil {
		return nil, fmt.Errorf("%v: get %q (%v): %w", n, key, c, err)
	}
	return r.GetValue(), nil
}

// list returns every key with prefix through this node.
func (n *node) list(prefix string, c metapb.ReadConsistency) ([]*metapb.KV, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*rpcTimeout)
	defer cancel()
	st, err := n.meta().List(ctx, &metapb.ListRequest{Prefix: prefix, Consistency: c})
	if err != nil {
		return nil, fmt.Errorf("%v: list %q: %w", n, prefix, err)
	}
	var kvs []*metapb.KV
	for {
		r, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return kvs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%v: list %q: after %d keys: %w", n, prefix, len(kvs), err)
		}
		kvs = append(kvs, r.GetKvs()...)
	}
}

// members returns the member list as this node reports it over gRPC.
func (n *node) members() ([]*metapb.Node, error) {
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	r, err := n.meta().MemberList(ctx, &metapb.MemberListRequest{})
	if err != nil {
		return nil, fmt.Errorf("%v: member list: %w", n, err)
	}
	return r.GetNodes(), nil
}

var httpClient = &http.Client{Timeout: rpcTimeout}

// adminGet fetches an admin API path and returns the status code and body.
func (n *node) adminGet(path string) (int, []byte, error) {
	if err := n.alive(); err != nil {
		return 0, nil, err
	}
	resp, err := httpClient.Get(n.adminURL(path))
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

// status returns the node's status from the admin API.
func (n *node) status() (*metapb.StatusReply, error) {
	code, b, err := n.adminGet("/v1/cluster/status")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("%v: GET /v1/cluster/status: %d %s", n, code, b)
	}
	var st metapb.StatusReply
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%v: GET /v1/cluster/status: %v in %s", n, err, b)
	}
	// state is databend-meta's (Leader, Follower, ...); raft_state is
	// StatusReply's (leader, follower, ...).
	var raft struct {
		State string `json:"raft_state"`
	}
	if err := json.Unmarshal(b, &raft); err != nil {
		return nil, fmt.Errorf("%v: GET /v1/cluster/status: %v in %s", n, err, b)
	}
	st.State = raft.State
	return &st, nil
}

// mustStatus is status that fails the test on an error.
func (n *node) mustStatus() *metapb.StatusReply {
	n.t.Helper()
	st, err := n.status()
	if err != nil {
		n.t.Fatal(err)
	}
	return st
}

// grpcStatus returns the node's Status over the gRPC API, which carries
// the revision (the admin API's status does not).
func (n *node) grpcStatus() (*metapb.StatusReply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	return n.meta().Status(ctx, &metapb.StatusRequest{})
}

func (n *node) mustGrpcStatus() *metapb.StatusReply {
	n.t.Helper()
	st, err := n.grpcStatus()
	if err != nil {
		n.t.Fatal(err)
	}
	return st
}

// ---- clusters ----

// cluster is a set of nodes sharing one working directory, like the
// guide's nodes started from one directory.
type cluster struct {
	t     testing.TB
	dir   string
	nodes []*node // nodes[i] has id i+1
}

// clusterOptions change the guide's configs.
type clusterOptions struct {
	// raftKeys are set in every node's [raft_config], as TOML values.
	raftKeys map[string]string
	// args are added to every node's command line, after -c FILE.
	args []string
}

// newGuideCluster writes the deploy guide's three configs into a temp
// dir with fresh ports and heartbeat_interval = heartbeatMs, and returns
// the (unstarted) nodes, each run as `databend-meta -c metasrv-N.toml`.
func newGuideCluster(t testing.TB, opts clusterOptions) *cluster {
	t.Helper()
	texts, source := loadGuideConfigs(t)
	t.Logf("cluster configs from %s", source)
	c := &cluster{t: t, dir: t.TempDir()}

	var old [3]guidePorts
	portMap := map[int]int{}
	for i, text := range texts {
		p, err := parseGuidePorts(text)
		if err != nil {
			t.Fatalf("config %d: %v", i+1, err)
		}
		old[i] = p
		for _, port := range []int{p.metric, p.admin, p.grpc, p.raft} {
			if _, dup := portMap[port]; dup {
				t.Fatalf("config %d: port %d is used twice in the guide's configs", i+1, port)
			}
			portMap[port] = freePort(t)
		}
	}
	for i, text := range texts {
		text, err := rewritePorts(text, portMap)
		if err != nil {
			t.Fatalf("config %d: %v", i+1, err)
		}
		// Keep the guide's relative directories: they resolve in c.dir.
		text = setKey(text, "", "log_dir", strconv.Quote(fmt.Sprintf("./_logs%d", i+1)))
		text = setKey(text, "raft_config", "raft_dir", strconv.Quote(fmt.Sprintf("./_meta%d", i+1)))
		text = setKey(text, "raft_config", "heartbeat_interval", strconv.Itoa(heartbeatMs))
		for _, k := range slices.Sorted(maps.Keys(opts.raftKeys)) {
			text = setKey(text, "raft_config", k, opts.raftKeys[k])
		}
		name := fmt.Sprintf("metasrv-%d.toml", i+1)
		if err := os.WriteFile(filepath.Join(c.dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		p := old[i]
		c.nodes = append(c.nodes, newNode(t, uint64(i+1), c.dir, append([]string{"-c", name}, opts.args...),
			portMap[p.raft], portMap[p.grpc], portMap[p.admin]))
	}
	return c
}

// node returns the node with id.
func (c *cluster) node(id uint64) *node { return c.nodes[id-1] }

// running returns the nodes whose process is alive.
func (c *cluster) running() []*node {
	var out []*node
	for _, n := range c.nodes {
		if n.running() {
			out = append(out, n)
		}
	}
	return out
}

// startAll forms the cluster as the guide does: node 1 alone (single), and
// once it serves, every other node at the same moment (join); then it
// waits until every node is a voter.
func (c *cluster) startAll() {
	c.t.Helper()
	first := c.nodes[0]
	first.start()
	c.waitLeader(first)
	startTogether(c.t, c.nodes[1:]...)
	c.waitVoters(c.nodes, c.ids()...)
	c.waitLeader(c.nodes...)
}

// startTogether starts nodes concurrently, like `a & b &` in a shell.
func startTogether(t testing.TB, nodes ...*node) {
	t.Helper()
	bin := metaBin(t)
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { errs[i] = n.tryStart(bin) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

func (c *cluster) ids() []uint64 {
	var ids []uint64
	for _, n := range c.nodes {
		ids = append(ids, n.id)
	}
	return ids
}

// waitLeader waits until every one of nodes reports the same leader, one
// of nodes, and that leader reports itself leader; it returns the leader.
func (c *cluster) waitLeader(nodes ...*node) *node {
	c.t.Helper()
	var leader *node
	waitFor(c.t, clusterTimeout, fmt.Sprintf("a leader among %v", nodes), func() error {
		var lead uint64
		for _, n := range nodes {
			st, err := n.status()
			if err != nil {
				return err
			}
			switch {
			case st.GetLeaderId() == 0:
				return fmt.Errorf("%v knows no leader (state %s, term %d)", n, st.GetState(), st.GetTerm())
			case lead != 0 && st.GetLeaderId() != lead:
				return fmt.Errorf("%v says the leader is %d, another node says %d", n, st.GetLeaderId(), lead)
			}
			lead = st.GetLeaderId()
		}
		i := slices.IndexFunc(nodes, func(n *node) bool { return n.id == lead })
		if i < 0 {
			return fmt.Errorf("the leader is %d, not one of %v", lead, nodes)
		}
		st, err := nodes[i].status()
		if err != nil {
			return err
		}
		if st.GetState() != "leader" {
			return fmt.Errorf("%v is named leader but is %q", nodes[i], st.GetState())
		}
		leader = nodes[i]
		return nil
	})
	return leader
}

// waitVoters waits until every one of via lists exactly the nodes ids, all
// voters, in its gRPC member list.
func (c *cluster) waitVoters(via []*node, ids ...uint64) {
	c.t.Helper()
	want := slices.Clone(ids)
	slices.Sort(want)
	waitFor(c.t, clusterTimeout, fmt.Sprintf("voters %v", want), func() error {
		for _, n := range via {
			if err := n.alive(); err != nil {
				return err
			}
			ms, err := n.members()
			if err != nil {
				return err
			}
			var got []uint64
			for _, m := range ms {
				if !m.GetVoter() {
					return fmt.Errorf("%v lists %d as a learner: %v", n, m.GetId(), ms)
				}
				got = append(got, m.GetId())
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				return fmt.Errorf("%v lists members %v, want %v", n, got, want)
			}
		}
		return nil
	})
}

// ---- the Go client ----

// newClient returns a client.Client whose endpoints are the gRPC addresses
// of nodes, in that order: requests go to nodes[0] first. It is closed on
// cleanup.
func newClient(t testing.TB, nodes ...*node) *client.Client {
	t.Helper()
	cli, err := client.New(client.Config{Endpoints: grpcAddrs(nodes...)})
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// grpcAddrs returns the gRPC addresses of nodes, in order.
func grpcAddrs(nodes ...*node) []string {
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.grpcAddr())
	}
	return addrs
}

// ---- files ----

// dirListing describes every file under dir (path, type, size,
// modification time and a hash of the content), one sorted line each, so
// that two listings differ exactly when something under dir changed.
func dirListing(t testing.TB, dir string) []string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v", rel, info.Mode())
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" size=%d mtime=%s sha256=%x", info.Size(), info.ModTime().Format(time.RFC3339Nano), sha256.Sum256(b))
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatalf("list %s: %v", dir, err)
	}
	slices.Sort(lines)
	return lines
}

// diffListings returns the lines only in a (-) and only in b (+).
func diffListings(a, b []string) string {
	var sb strings.Builder
	for _, l := range a {
		if !slices.Contains(b, l) {
			sb.WriteString("- " + l + "\n")
		}
	}
	for _, l := range b {
		if !slices.Contains(a, l) {
			sb.WriteString("+ " + l + "\n")
		}
	}
	return sb.String()
}

// tailFile returns the last n lines of a file.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	return tail(string(b), n)
}

func tail(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// killTogether sends SIGKILL to every node at once, then waits until all
// are gone.
func killTogether(t testing.TB, nodes ...*node) {
	t.Helper()
	var ps []*process
	for _, n := range nodes {
		p := n.process()
		if p == nil || p.exited() {
			t.Fatalf("%v: kill: not running", n)
		}
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		ps = append(ps, p)
	}
	for i, p := range ps {
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%v: still running 10s after SIGKILL", nodes[i])
		}
	}
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
