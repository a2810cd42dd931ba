package chaos

import (
	"bytes"
	"context"
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

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/proctest"
	"github.com/metasrv/metasrv/internal/proctest/metanode"
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
// The process, its connection and its status are mn's (metanode, shared
// with the e2e suite).
type node struct {
	id                                     uint64
	dir                                    string // working dir; raft_dir is dir/raft
	raftPort, grpcPort, adminPort, metPort int
	mn                                     *metanode.Node
}

func (n *node) String() string { return n.mn.String() }

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
func (n *node) start(bin string) error { return n.mn.Start(bin, "-c", "node.toml", "--log-stderr-on") }

// running reports whether the process is alive (paused counts).
func (n *node) running() bool { return n.mn.Running() }

// serving reports whether the process is alive and not paused.
func (n *node) serving() bool { return n.mn.Serving() == nil }

// pid returns the process id, 0 if not running.
func (n *node) pid() int {
	if p := n.mn.Process(); p != nil && !p.Exited() {
		return p.Pid()
	}
	return 0
}

// signal sends sig to the process; SIGSTOP pauses it until SIGCONT.
func (n *node) signal(sig syscall.Signal) error { return n.mn.Signal(sig) }

// kill sends SIGKILL (a paused node too) and waits for the exit.
func (n *node) kill() error { return n.mn.Kill() }

func (n *node) meta() metapb.MetaClient { return n.mn.Meta() }

// status returns the node's /v1/cluster/status, State set to the raft
// state (leader, follower, ...).
func (n *node) status() (*metapb.StatusReply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
	defer cancel()
	return n.mn.Status(ctx)
}

// transferLeader asks the node (the leader) to hand leadership to `to`
// (0: the most caught-up voter).
func (n *node) transferLeader(to uint64) (string, error) {
	url := n.mn.AdminURL("/v1/ctrl/trigger_transfer_leader")
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
			if err := n.mn.Close(); err != nil {
				t.Error(err)
			}
		}
		if t.Failed() {
			t.Logf("---- network ----\n%s", c.nw.describe())
		}
		c.nw.close()
		for _, n := range c.allNodes() {
			n.mn.Report(t, 60)
			if t.Failed() && c.keepDir != "" {
				keep := filepath.Join(c.keepDir, fmt.Sprintf("node%d.out", n.id))
				if b, err := os.ReadFile(n.mn.Out); err == nil && os.MkdirAll(c.keepDir, 0o755) == nil && os.WriteFile(keep, b, 0o644) == nil {
					t.Logf("%v output kept in %s", n, keep)
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
	n := &node{id: id, dir: filepath.Join(c.dir, fmt.Sprintf("n%d", id)), grpcPort: grpcPort}
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
	n.mn = &metanode.Node{
		ID: id, Dir: n.dir, Out: filepath.Join(n.dir, "node.out"),
		GRPCAddr:  n.grpcAddr(),
		AdminAddr: fmt.Sprintf("127.0.0.1:%d", n.adminPort),
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
		var serving []*metanode.Node
		for _, n := range c.members() {
			if n.serving() {
				serving = append(serving, n.mn)
			}
		}
		l, err := metanode.Leader(serving, statusTimeout)
		if err != nil {
			return err
		}
		lead = c.node(l.ID)
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
			got, err := metanode.VoterIDs(st.GetNodes())
			if err != nil {
				return fmt.Errorf("%v lists %w", n, err)
			}
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
		if err := n.mn.Dump(); err != nil {
			c.log.logf("%v: dump goroutines: %v", n, err)
		}
	}
	c.log.logf("every node dumped its goroutines (SIGQUIT) into its output")
}

// ---- waiting ----

// poll calls cond every pollEvery until it returns nil or timeout passes;
// it returns cond's last error then.
func poll(timeout time.Duration, cond func() error) error {
	return proctest.Poll(timeout, pollEvery, cond)
}
