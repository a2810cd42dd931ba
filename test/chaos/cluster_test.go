package chaos

import (
	"bytes"
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
	// heartbeatMs is every node's heartbeat_interval; elections time out
	// after 5-10 of them.
	heartbeatMs = 100
	// pollEvery is how often a wait re-checks its condition.
	pollEvery = 50 * time.Millisecond
	// statusTimeout bounds one admin API call.
	statusTimeout = time.Second
	// clusterTimeout bounds waits for a leader, members, catch-up.
	clusterTimeout = 45 * time.Second
)

// ---- ports ----

// ports hands out loopback ports below the ephemeral range, never the
// same one twice in this process.
var ports proctest.Ports

func freePort() (int, error) { return ports.Free() }

// ---- nodes ----

// node is one databend-meta process slot: an id, its ports, directory and
// proxy. A node id is never reused: a wiped node comes back as a new node.
type node struct {
	id                                     uint64
	dir                                    string // working dir; raft_dir is dir/raft
	raftPort, grpcPort, adminPort, metPort int
	out                                    string // stdout+stderr of every run

	mu struct {
		sync.Mutex
		cmd    *exec.Cmd
		done   chan struct{} // closed when cmd has exited
		exit   error         // cmd.Wait's result, set before done is closed
		killed bool          // the test killed it: an exit is expected
		paused bool
		runs   int
		conn   *grpc.ClientConn
	}
}

func (n *node) String() string { return fmt.Sprintf("node %d", n.id) }

// raftAddr is the advertised raft address: the node's proxy.
func (n *node) raftAddr() string { return fmt.Sprintf("%s:%d", proxyHost(n.id), n.raftPort) }

// realRaftAddr is where the node itself listens, bypassing the proxy.
func (n *node) realRaftAddr() string { return fmt.Sprintf("127.0.0.1:%d", n.raftPort) }
func (n *node) grpcAddr() string     { return fmt.Sprintf("127.0.0.1:%d", n.grpcPort) }

// writeConfig writes dir/node.toml: single for the first node, else join.
func (n *node) writeConfig(join []string, snapshotEvery uint64) error {
	var b strings.Builder
	fmt.Fprintf(&b, "log_dir = %q\n", "./logs")
	fmt.Fprintf(&b, "grpc_api_address = %q\n", n.grpcAddr())
	fmt.Fprintf(&b, "admin_api_address = \"127.0.0.1:%d\"\n", n.adminPort)
	fmt.Fprintf(&b, "metric_api_address = \"127.0.0.1:%d\"\n", n.metPort)
	// Watchers resume from any seq of the run.
	fmt.Fprintf(&b, "watch_history_size = %d\n", 10_000_000)
	fmt.Fprintf(&b, "\n[raft_config]\n")
	fmt.Fprintf(&b, "id = %d\n", n.id)
	fmt.Fprintf(&b, "raft_dir = %q\n", "./raft")
	fmt.Fprintf(&b, "raft_api_port = %d\n", n.raftPort)
	fmt.Fprintf(&b, "raft_listen_host = %q\n", "127.0.0.1")
	fmt.Fprintf(&b, "raft_advertise_host = %q\n", proxyHost(n.id))
	fmt.Fprintf(&b, "heartbeat_interval = %d\n", heartbeatMs)
	fmt.Fprintf(&b, "snapshot_logs_since_last = %d\n", snapshotEvery)
	fmt.Fprintf(&b, "max_applied_log_to_keep = %d\n", snapshotEvery/2)
	fmt.Fprintf(&b, "wait_leader_timeout = %d\n", 60_000)
	if len(join) == 0 {
		fmt.Fprintf(&b, "single = true\n")
	} else {
		fmt.Fprintf(&b, "join = [")
		for i, j := range join {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q", j)
		}
		b.WriteString("]\n")
	}
	return os.WriteFile(filepath.Join(n.dir, "node.toml"), []byte(b.String()), 0o644)
}

// start starts the node's process; it does not wait for it to serve.
func (n *node) start(bin string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.cmd != nil && !closed(n.mu.done) {
		return fmt.Errorf("%v: start: already running", n)
	}
	n.mu.runs++
	f, err := os.OpenFile(n.out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "==== %s run %d\n", time.Now().Format(time.RFC3339Nano), n.mu.runs)
	cmd := exec.Command(bin, "-c", "node.toml", "--log-stderr-on")
	cmd.Dir = n.dir
	cmd.Stdout, cmd.Stderr = f, f
	// SIGQUIT (dumpGoroutines) prints every goroutine.
	cmd.Env = append(os.Environ(), "GOTRACEBACK=all")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("%v: start: %w", n, err)
	}
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		f.Close()
		n.mu.Lock()
		n.mu.exit = err
		n.mu.Unlock()
		close(done)
	}()
	n.mu.cmd, n.mu.done, n.mu.paused, n.mu.killed, n.mu.exit = cmd, done, false, false, nil
	return nil
}

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// running reports whether the process is alive (paused counts).
func (n *node) running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.cmd != nil && !closed(n.mu.done)
}

// serving reports whether the process is alive and not paused.
func (n *node) serving() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.cmd != nil && !closed(n.mu.done) && !n.mu.paused
}

// pid returns the process id, 0 if not running.
func (n *node) pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.cmd == nil || closed(n.mu.done) {
		return 0
	}
	return n.mu.cmd.Process.Pid
}

// crashed returns why the process exited if it did so without the test
// killing it, else nil.
func (n *node) crashed() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.cmd == nil || !closed(n.mu.done) || n.mu.killed {
		return nil
	}
	return fmt.Errorf("%v exited by itself: %v (see %s)", n, n.mu.exit, n.out)
}

// signal sends sig to the process and tracks SIGSTOP and SIGCONT.
func (n *node) signal(sig syscall.Signal) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.cmd == nil || closed(n.mu.done) {
		return fmt.Errorf("%v: %v: not running", n, sig)
	}
	if err := n.mu.cmd.Process.Signal(sig); err != nil {
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

// kill sends SIGKILL (after SIGCONT if paused) and waits for the exit.
func (n *node) kill() error {
	n.mu.Lock()
	cmd, done := n.mu.cmd, n.mu.done
	n.mu.Unlock()
	if cmd == nil || closed(done) {
		return nil
	}
	n.mu.Lock()
	n.mu.killed = true
	n.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%v: still running 10s after SIGKILL", n)
	}
	n.mu.Lock()
	n.mu.paused = false
	n.mu.Unlock()
	return nil
}

// conn returns a gRPC connection to the node's public API that survives
// restarts.
func (n *node) conn() *grpc.ClientConn {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.conn == nil {
		cc, err := grpc.NewClient(n.grpcAddr(),
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, MaxDelay: 300 * time.Millisecond},
				MinConnectTimeout: time.Second,
			}))
		if err != nil {
			panic(fmt.Sprintf("%v: grpc.NewClient: %v", n, err)) // a malformed target: a harness bug
		}
		n.mu.conn = cc
	}
	return n.mu.conn
}

func (n *node) meta() metapb.MetaClient { return metapb.NewMetaClient(n.conn()) }

var httpClient = &http.Client{Timeout: statusTimeout}

// status returns the node's /v1/cluster/status.
func (n *node) status() (*metapb.StatusReply, error) {
	if !n.serving() {
		return nil, fmt.Errorf("%v is not serving", n)
	}
	resp, err := httpClient.Get(fmt.Sprintf("http://127.0.0.1:%d/v1/cluster/status", n.adminPort))
	if err != nil {
		return nil, fmt.Errorf("%v: status: %w", n, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%v: status: %w", n, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%v: status: %d %s", n, resp.StatusCode, b)
	}
	var st metapb.StatusReply
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%v: status: %v in %s", n, err, b)
	}
	// state is databend-meta's (Leader, Follower, ...); raft_state is
	// StatusReply's (leader, follower, ...).
	var raft struct {
		State string `json:"raft_state"`
	}
	if err := json.Unmarshal(b, &raft); err != nil {
		return nil, fmt.Errorf("%v: status: %v in %s", n, err, b)
	}
	st.State = raft.State
	return &st, nil
}

// transferLeader asks the node (the leader) to hand leadership to `to`
// (0: the most caught-up voter).
func (n *node) transferLeader(to uint64) (string, error) {
	url := fmt.Sprintf("http://127.0.0.1:%d/v1/ctrl/trigger_transfer_leader", n.adminPort)
	if to != 0 {
		url += fmt.Sprintf("?to=%d", to)
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Post(url, "application/json", nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, strings.Join(strings.Fields(string(b)), " ")), nil
}

// ---- the cluster ----

// cluster is the node processes of one run, their proxies and the member
// set as the test changed it.
type cluster struct {
	t             testing.TB
	dir           string
	bin           string
	nw            *network
	log           *runLog
	snapshotEvery uint64
	keepDir       string // where node outputs are copied if the test fails

	mu struct {
		sync.Mutex
		nodes   map[uint64]*node // every node ever started, by id
		members []uint64         // ids of the current members, ascending
		nextID  uint64
	}
}

func newCluster(t testing.TB, log *runLog, snapshotEvery uint64, keepDir string) *cluster {
	c := &cluster{t: t, dir: t.TempDir(), bin: metaBin(t), log: log, snapshotEvery: snapshotEvery, keepDir: keepDir}
	c.mu.nodes = map[uint64]*node{}
	c.mu.nextID = 1
	c.nw = newNetwork(log.logf, c.pids, c.owner)
	t.Cleanup(func() {
		for _, n := range c.allNodes() {
			_ = n.kill()
			n.mu.Lock()
			if n.mu.conn != nil {
				n.mu.conn.Close()
			}
			n.mu.Unlock()
		}
		if t.Failed() {
			t.Logf("---- network ----\n%s", c.nw.describe())
		}
		c.nw.close()
		for _, n := range c.allNodes() {
			b, err := os.ReadFile(n.out)
			if err != nil {
				continue
			}
			for _, bad := range []string{"WARNING: DATA RACE", "\npanic: ", "\nfatal error: "} {
				if bytes.Contains(b, []byte(bad)) {
					t.Errorf("%v output (%s) holds %q", n, n.out, strings.TrimSpace(bad))
				}
			}
			if t.Failed() {
				t.Logf("---- %v output (%s), last 60 lines ----\n%s", n, n.out, tail(string(b), 60))
				if c.keepDir != "" {
					keep := filepath.Join(c.keepDir, fmt.Sprintf("node%d.out", n.id))
					if err := os.MkdirAll(c.keepDir, 0o755); err == nil && os.WriteFile(keep, b, 0o644) == nil {
						t.Logf("%v output kept in %s", n, keep)
					}
				}
			}
		}
	})
	return c
}

func (c *cluster) pids() []int {
	var out []int
	for _, n := range c.allNodes() {
		if p := n.pid(); p != 0 {
			out = append(out, p)
		}
	}
	return out
}

func (c *cluster) owner(pid int) uint64 {
	for _, n := range c.allNodes() {
		if n.pid() == pid {
			return n.id
		}
	}
	return external
}

func (c *cluster) allNodes() []*node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*node
	for _, n := range c.mu.nodes {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *node) int { return int(a.id) - int(b.id) })
	return out
}

// members returns the current members, by ascending id.
func (c *cluster) members() []*node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*node
	for _, id := range c.mu.members {
		out = append(out, c.mu.nodes[id])
	}
	return out
}

func (c *cluster) memberIDs() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.mu.members)
}

func (c *cluster) node(id uint64) *node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.nodes[id]
}

func (c *cluster) setMember(id uint64, member bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.members = slices.DeleteFunc(c.mu.members, func(m uint64) bool { return m == id })
	if member {
		c.mu.members = append(c.mu.members, id)
		slices.Sort(c.mu.members)
	}
}

// newNode makes the next node slot (new id, ports, proxy), not started.
// grpcPort, if not 0, is the gRPC port to use: a replacement node serves
// the clients of the node it replaces.
func (c *cluster) newNode(grpcPort int) (*node, error) {
	c.mu.Lock()
	id := c.mu.nextID
	c.mu.nextID++
	c.mu.Unlock()
	n := &node{id: id, dir: filepath.Join(c.dir, fmt.Sprintf("n%d", id))}
	n.out = filepath.Join(n.dir, "node.out")
	n.grpcPort = grpcPort
	for _, p := range []*int{&n.raftPort, &n.grpcPort, &n.adminPort, &n.metPort} {
		if *p != 0 {
			continue
		}
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		*p = port
	}
	if err := os.MkdirAll(n.dir, 0o755); err != nil {
		return nil, err
	}
	if _, err := c.nw.addProxy(id, n.raftPort); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.mu.nodes[id] = n
	c.mu.Unlock()
	return n, nil
}

// form starts a cluster of size nodes: the first alone (single), then the
// others together (join), and waits until all are voters.
func (c *cluster) form(size int) error {
	first, err := c.newNode(0)
	if err != nil {
		return err
	}
	if err := first.writeConfig(nil, c.snapshotEvery); err != nil {
		return err
	}
	if err := first.start(c.bin); err != nil {
		return err
	}
	c.setMember(first.id, true)
	if _, err := c.waitLeader(clusterTimeout); err != nil {
		return err
	}
	var rest []*node
	for range size - 1 {
		n, err := c.newNode(0)
		if err != nil {
			return err
		}
		if err := n.writeConfig([]string{first.raftAddr()}, c.snapshotEvery); err != nil {
			return err
		}
		rest = append(rest, n)
	}
	for _, n := range rest {
		if err := n.start(c.bin); err != nil {
			return err
		}
	}
	for _, n := range rest {
		c.setMember(n.id, true)
	}
	if err := c.waitVoters(clusterTimeout); err != nil {
		return err
	}
	_, err = c.waitLeader(clusterTimeout)
	return err
}

// leader returns the serving member that says it leads with the highest
// term, or nil.
func (c *cluster) leader() *node {
	var best *node
	var term uint64
	for _, n := range c.members() {
		st, err := n.status()
		if err != nil || st.GetState() != "leader" {
			continue
		}
		if st.GetTerm() > term {
			best, term = n, st.GetTerm()
		}
	}
	return best
}

// waitLeader waits until every serving member names the same leader and
// that leader says it leads.
func (c *cluster) waitLeader(timeout time.Duration) (*node, error) {
	var lead *node
	err := poll(timeout, func() error {
		var id uint64
		for _, n := range c.members() {
			if !n.serving() {
				continue
			}
			st, err := n.status()
			if err != nil {
				return err
			}
			if st.GetLeaderId() == 0 || (id != 0 && st.GetLeaderId() != id) {
				return fmt.Errorf("%v says the leader is %d, others %d", n, st.GetLeaderId(), id)
			}
			id = st.GetLeaderId()
		}
		l := c.node(id)
		if l == nil || !slices.Contains(c.memberIDs(), id) {
			return fmt.Errorf("the leader %d is not a member", id)
		}
		st, err := l.status()
		if err != nil {
			return err
		}
		if st.GetState() != "leader" {
			return fmt.Errorf("%v is named leader but is %s", l, st.GetState())
		}
		lead = l
		return nil
	})
	return lead, err
}

// waitVoters waits until every serving member lists exactly the members,
// all voters.
func (c *cluster) waitVoters(timeout time.Duration) error {
	return poll(timeout, func() error {
		want := c.memberIDs()
		for _, n := range c.members() {
			if !n.serving() {
				continue
			}
			st, err := n.status()
			if err != nil {
				return err
			}
			var got []uint64
			for _, m := range st.GetNodes() {
				if !m.GetVoter() {
					return fmt.Errorf("%v lists %d as a learner", n, m.GetId())
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

// leave runs `databend-meta --leave-id id --leave-via ADDR...` with the
// real raft addresses of the other members (bypassing the proxies), again
// until it succeeds or leaveTimeout passes: the command tries each address
// once, and right after the leader died the members forward the request to
// the dead leader, so it fails at once (wait_leader_timeout only bounds it).
// A run after a failed one may find the node gone (exit code 3, not a
// member): the failed run removed it, but its answer was lost.
func (c *cluster) leave(id uint64) error {
	var via []string
	for _, n := range c.members() {
		if n.id != id && n.running() {
			via = append(via, "--leave-via", n.realRaftAddr())
		}
	}
	args := append([]string{"--leave-id", fmt.Sprint(id), "--wait-leader-timeout", "10000"}, via...)
	deadline := time.Now().Add(leaveTimeout)
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		cmd := exec.CommandContext(ctx, c.bin, args...)
		cmd.Dir = c.dir
		out, err := cmd.CombinedOutput()
		cancel()
		c.log.logf("databend-meta %s (attempt %d): %v: %s", strings.Join(args, " "), attempt, err, bytes.TrimSpace(out))
		if err == nil {
			return nil
		}
		if ee := (*exec.ExitError)(nil); attempt > 1 && errors.As(err, &ee) && ee.ExitCode() == leaveNotMember {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("leave %d: %d attempts in %v: %v: %s", id, attempt, leaveTimeout, err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// leaveTimeout bounds the retries of a leave.
const leaveTimeout = 40 * time.Second

// leaveNotMember is databend-meta's exit code for a --leave-id of a node
// that is not a member.
const leaveNotMember = 3

// dumpGoroutines makes every running node print all its goroutines and
// exit (SIGQUIT), for the report of a cluster that did not recover.
func (c *cluster) dumpGoroutines() {
	for _, n := range c.allNodes() {
		n.mu.Lock()
		cmd, done := n.mu.cmd, n.mu.done
		if cmd != nil && !closed(done) {
			n.mu.killed = true
			_ = cmd.Process.Signal(syscall.SIGCONT)
			_ = cmd.Process.Signal(syscall.SIGQUIT)
		}
		n.mu.Unlock()
		if cmd != nil {
			select {
			case <-done:
			case <-time.After(5 * time.Second):
			}
		}
	}
	c.log.logf("every node dumped its goroutines (SIGQUIT) into its output")
}

// ---- waiting ----

// poll calls cond every pollEvery until it returns nil or timeout passes;
// it returns cond's last error then.
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

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
