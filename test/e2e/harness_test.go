package e2e

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/client"
	"github.com/metasrv/metasrv/internal/proctest"
	"github.com/metasrv/metasrv/internal/proctest/metanode"
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
	return proctest.Poll(timeout, pollEvery, cond)
}

// ---- node processes ----

// node is one databend-meta process, started and restarted with the same
// command line in the same working directory. The process itself, its
// connection and its status are mn's (metanode, shared with the chaos
// suite); node adds the test, the ports and the command line.
type node struct {
	t    testing.TB
	id   uint64
	dir  string   // working directory: relative paths in the config resolve here
	args []string // command line after the binary, read at each start
	// Ports it listens on; clients connect through 127.0.0.1.
	raftPort, grpcPort, adminPort int
	out                           string // file collecting stdout and stderr of every run

	mn *metanode.Node
}

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
	n.mn = &metanode.Node{
		ID: id, Dir: dir, Out: n.out,
		GRPCAddr:  n.grpcAddr(),
		AdminAddr: fmt.Sprintf("127.0.0.1:%d", adminPort),
	}
	t.Cleanup(func() {
		if err := n.mn.Close(); err != nil {
			t.Error(err)
		}
		n.mn.Report(t, outputLines)
	})
	return n
}

func (n *node) String() string { return n.mn.String() }

func (n *node) raftAddr() string            { return fmt.Sprintf("127.0.0.1:%d", n.raftPort) }
func (n *node) grpcAddr() string            { return fmt.Sprintf("127.0.0.1:%d", n.grpcPort) }
func (n *node) adminURL(path string) string { return n.mn.AdminURL(path) }

// start starts the node's process; it does not wait for it to serve.
func (n *node) start() {
	n.t.Helper()
	if err := n.tryStart(metaBin(n.t)); err != nil {
		n.t.Fatal(err)
	}
}

// tryStart is start for any goroutine: it returns the error.
func (n *node) tryStart(bin string) error { return n.mn.Start(bin, n.args...) }

// process returns the node's last run, nil if it was never started.
func (n *node) process() *proctest.Process { return n.mn.Process() }

// running reports whether the node's process is alive.
func (n *node) running() bool { return n.mn.Running() }

// alive returns an error if the node's process is not running.
func (n *node) alive() error { return n.mn.Alive() }

// kill sends SIGKILL and waits for the process to be gone.
func (n *node) kill() {
	n.t.Helper()
	if err := n.alive(); err != nil {
		n.t.Fatalf("kill: %v", err)
	}
	if err := n.mn.Kill(); err != nil {
		n.t.Fatal(err)
	}
}

// stop sends SIGTERM, waits for the process to exit and returns its exit
// code. It fails the test if the process does not exit in time.
func (n *node) stop() int {
	n.t.Helper()
	code, err := n.mn.Stop(20 * time.Second)
	if err != nil {
		n.t.Fatal(err)
	}
	return code
}

// waitExited waits up to timeout for the node's last run to exit by
// itself and returns its exit code; it fails the test if it still runs.
func (n *node) waitExited(timeout time.Duration) int {
	n.t.Helper()
	p := n.process()
	if p == nil {
		n.t.Fatalf("%v was never started", n)
	}
	if err := p.Wait(timeout); err != nil {
		n.t.Fatalf("%v still running %v after it should have stopped", n, timeout)
	}
	return p.ExitCode()
}

// conn returns the gRPC connection to the node's public API. It survives
// restarts: it reconnects with a short backoff.
func (n *node) conn() *grpc.ClientConn { return n.mn.Conn() }

func (n *node) meta() metapb.MetaClient { return n.mn.Meta() }

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

// adminGet fetches an admin API path and returns the status code and body.
func (n *node) adminGet(path string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	return n.mn.AdminGet(ctx, path)
}

// status returns the node's status from the admin API, State set to the
// raft state (leader, follower, ...).
func (n *node) status() (*metapb.StatusReply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	return n.mn.Status(ctx)
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
	mns := make([]*metanode.Node, len(nodes))
	for i, n := range nodes {
		mns[i] = n.mn
	}
	var leader *node
	waitFor(c.t, clusterTimeout, fmt.Sprintf("a leader among %v", nodes), func() error {
		l, err := metanode.Leader(mns, rpcTimeout)
		if err != nil {
			return err
		}
		leader = nodes[slices.Index(mns, l)]
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
			got, err := metanode.VoterIDs(ms)
			if err != nil {
				return fmt.Errorf("%v lists %v: %w", n, ms, err)
			}
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
func tailFile(path string, n int) string { return proctest.TailFile(path, n) }

func tail(s string, n int) string { return proctest.Tail(s, n) }

// killTogether sends SIGKILL to every node at once, then waits until all
// are gone.
func killTogether(t testing.TB, nodes ...*node) {
	t.Helper()
	for _, n := range nodes {
		if err := n.alive(); err != nil {
			t.Fatalf("kill: %v", err)
		}
	}
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { errs[i] = n.mn.Kill() })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
