package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/api/metapb"
)

const (
	linearizable = metapb.ReadConsistency_LINEARIZABLE
	serializable = metapb.ReadConsistency_SERIALIZABLE
)

// TestGuideCluster forms the deploy guide's cluster: node 1 alone, then
// nodes 2 and 3 started at the same moment, each joining through node 1.
// Every node must list three voters, and a write through node 2 must be
// visible at once to a linearizable read through node 3.
func TestGuideCluster(t *testing.T) {
	t.Parallel()
	c := newGuideCluster(t, clusterOptions{})
	n1, n2, n3 := c.node(1), c.node(2), c.node(3)

	n1.start()
	if l := c.waitLeader(n1); l != n1 {
		t.Fatalf("the single node's leader is %v", l)
	}
	startTogether(t, n2, n3)
	c.waitVoters(c.nodes, 1, 2, 3)
	c.waitLeader(c.nodes...)

	// Every member carries the addresses it advertises: raft on
	// raft_advertise_host, gRPC on the port of grpc_api_address.
	ms, err := n3.members()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		n := c.node(m.GetId())
		if want := net.JoinHostPort("localhost", strconv.Itoa(n.raftPort)); m.GetRaftAddress() != want {
			t.Errorf("member %d raft_address = %q, want %q (raft_advertise_host:raft_api_port)", m.GetId(), m.GetRaftAddress(), want)
		}
		if _, port, _ := net.SplitHostPort(m.GetGrpcAddress()); port != strconv.Itoa(n.grpcPort) {
			t.Errorf("member %d grpc_address = %q, want port %d", m.GetId(), m.GetGrpcAddress(), n.grpcPort)
		}
	}
	// The admin API agrees, and every node is healthy.
	for _, n := range c.nodes {
		code, body, err := n.adminGet("/v1/cluster/nodes")
		if err != nil || code != 200 {
			t.Errorf("%v: GET /v1/cluster/nodes: %d %s %v", n, code, body, err)
		} else if got := strings.Count(string(body), `"raft_address"`); got != 3 {
			t.Errorf("%v: GET /v1/cluster/nodes lists %d nodes, want 3: %s", n, got, body)
		} else {
			// databend-meta's list of Node.
			var nodes []struct {
				Name     string
				Endpoint struct {
					Addr string
					Port int
				}
				GrpcAPIAdvertiseAddress string `json:"grpc_api_advertise_address"`
			}
			if err := json.Unmarshal(body, &nodes); err != nil || len(nodes) != 3 || nodes[0].Name != "1" ||
				nodes[0].Endpoint.Port != c.nodes[0].raftPort || nodes[0].GrpcAPIAdvertiseAddress == "" {
				t.Errorf("%v: GET /v1/cluster/nodes is not databend-meta's list of Node: %v %s", n, err, body)
			}
		}
		if code, body, err := n.adminGet("/v1/health"); err != nil || code != 200 || !strings.Contains(string(body), `"status": "pass"`) {
			t.Errorf("%v: GET /v1/health: %d %s %v", n, code, body, err)
		}
	}

	// Write through node 2, read through node 3 at once: no waiting, a
	// linearizable read must see every acknowledged write.
	var lastSeq uint64
	for i := range 20 {
		key, val := fmt.Sprintf("guide/%02d", i), fmt.Sprintf("value %d", i)
		r := n2.mustUpsert(key, val)
		if r.GetResult().GetSeq() <= lastSeq {
			t.Errorf("write %d got seq %d, not above the previous write's %d", i, r.GetResult().GetSeq(), lastSeq)
		}
		lastSeq = r.GetResult().GetSeq()
		v, err := n3.get(key, linearizable)
		if err != nil {
			t.Fatal(err)
		}
		if string(v.GetData()) != val || v.GetSeq() != lastSeq {
			t.Fatalf("node 3 reads %q right after node 2 wrote %q at seq %d: got %q at seq %d",
				key, val, lastSeq, v.GetData(), v.GetSeq())
		}
	}
	// Overwrite through node 3, read through node 1.
	r := n3.mustUpsert("guide/00", "overwritten")
	if r.GetPrev().GetSeq() == 0 || string(r.GetPrev().GetData()) != "value 0" {
		t.Errorf("overwrite through node 3: prev = %v, want the value node 2 wrote", r.GetPrev())
	}
	if v, err := n1.get("guide/00", linearizable); err != nil || string(v.GetData()) != "overwritten" {
		t.Errorf("node 1 reads guide/00 = %v, %v after node 3 overwrote it", v, err)
	}
	// An absent key reads as seq 0.
	if v, err := n2.get("guide/absent", linearizable); err != nil || v.GetSeq() != 0 {
		t.Errorf("absent key: got %v, %v; want seq 0", v, err)
	}

	// Every node applies the same state.
	waitFor(t, clusterTimeout, "every node at the same last_seq and key_count", func() error {
		return sameState(c.nodes...)
	})

	// Each node logs JSON lines to <log_dir>/databend-meta.log, the
	// guide's ./_logsN.
	for _, n := range c.nodes {
		checkJSONLog(t, filepath.Join(c.dir, fmt.Sprintf("_logs%d", n.id), "databend-meta.log"), "databend-meta started")
	}
}

// checkJSONLog checks that path holds log records, one JSON object per
// line with time, level and msg, and one of them with message msg.
func checkJSONLog(t *testing.T, path, msg string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("log file: %v", err)
		return
	}
	// The node still runs: a last line without its newline is being
	// written.
	text := string(b)
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = text[:i]
	}
	found := false
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		var rec struct {
			Time  string `json:"time"`
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Time == "" || rec.Level == "" || rec.Msg == "" {
			t.Errorf("%s line %d is not a JSON log record with time, level and msg (%v): %s", path, i+1, err, line)
			return
		}
		found = found || rec.Msg == msg
	}
	if !found {
		t.Errorf("%s: no record with msg %q in %d lines", path, msg, len(lines))
	}
}

// firstUpsert writes key = value through every one of nodes at once and
// returns the first node that acknowledged it, or every node's error.
func firstUpsert(nodes []*node, key, value string, timeout time.Duration) (*node, error) {
	type result struct {
		n   *node
		err error
	}
	results := make(chan result, len(nodes))
	for _, n := range nodes {
		go func() {
			_, err := n.upsertTimeout(key, value, timeout)
			results <- result{n, err}
		}()
	}
	var errs []error
	for range nodes {
		r := <-results
		if r.err == nil {
			return r.n, nil
		}
		errs = append(errs, r.err)
	}
	return nil, errors.Join(errs...)
}

// sameState returns an error unless every node reports the same last_seq
// and key_count.
func sameState(nodes ...*node) error {
	var first *metapb.StatusReply
	for _, n := range nodes {
		st, err := n.status()
		if err != nil {
			return err
		}
		if first == nil {
			first = st
			continue
		}
		if st.GetLastSeq() != first.GetLastSeq() || st.GetKeyCount() != first.GetKeyCount() {
			return fmt.Errorf("node %d: last_seq %d key_count %d; node %d: last_seq %d key_count %d",
				first.GetId(), first.GetLastSeq(), first.GetKeyCount(), st.GetId(), st.GetLastSeq(), st.GetKeyCount())
		}
	}
	return nil
}

// TestLeaderKilled kills the leader with SIGKILL: writes must resume
// through the other two nodes within a few election timeouts, and the
// killed node, restarted, must catch up.
func TestLeaderKilled(t *testing.T) {
	t.Parallel()
	c := newGuideCluster(t, clusterOptions{})
	c.startAll()
	old := c.waitLeader(c.nodes...)
	before := old.mustStatus()
	rest := slices.DeleteFunc(slices.Clone(c.nodes), func(n *node) bool { return n == old })
	rest[0].mustUpsert("failover/before", "written before the kill")

	old.kill()
	killed := time.Now()

	// A write sent to a survivor at once may be forwarded to the dead
	// leader and lost there; the server must still answer (applied, or an
	// error the client can retry on) within a few election timeouts, not
	// leave the request hanging until the client gives up.
	type result struct {
		took time.Duration
		err  error
	}
	inflight := make(chan result, 1)
	go func() {
		start := time.Now()
		_, err := rest[0].upsertTimeout("failover/inflight", "sent as the leader died", 20*time.Second)
		inflight <- result{time.Since(start), err}
	}()

	// Writes resume: keep trying through both survivors at once. 20s is
	// many election timeouts (500ms-1s at heartbeat_interval 100).
	var wrote *node
	waitFor(t, 20*time.Second, "a write through the surviving nodes", func() error {
		n, err := firstUpsert(rest, "failover/after", "written after the kill", time.Second)
		wrote = n
		return err
	})
	t.Logf("writes resumed through %v %v after SIGKILL of leader %v", wrote, time.Since(killed).Round(time.Millisecond), old)

	leader := c.waitLeader(rest...)
	if st := leader.mustStatus(); st.GetTerm() <= before.GetTerm() {
		t.Errorf("new leader %v has term %d, not above the old leader's %d", leader, st.GetTerm(), before.GetTerm())
	}
	// Both survivors serve writes and linearizable reads.
	var latest *metapb.UpsertReply
	for i, n := range rest {
		latest = n.mustUpsert("failover/latest", fmt.Sprintf("latest %d", i))
		other := rest[(i+1)%len(rest)]
		if v, err := other.get("failover/latest", linearizable); err != nil || v.GetSeq() != latest.GetResult().GetSeq() {
			t.Errorf("%v reads failover/latest = %v, %v; want seq %d", other, v, err, latest.GetResult().GetSeq())
		}
	}

	// The killed node restarts from its raft_dir alone and catches up: a
	// serializable read on it (its own state) returns the latest value.
	old.start()
	waitFor(t, clusterTimeout, fmt.Sprintf("restarted %v to serve the latest value", old), func() error {
		if err := old.alive(); err != nil {
			return err
		}
		v, err := old.get("failover/latest", serializable)
		if err != nil {
			return err
		}
		if v.GetSeq() != latest.GetResult().GetSeq() || string(v.GetData()) != string(latest.GetResult().GetData()) {
			return fmt.Errorf("%v reads failover/latest = %q at seq %d, want %q at seq %d",
				old, v.GetData(), v.GetSeq(), latest.GetResult().GetData(), latest.GetResult().GetSeq())
		}
		return nil
	})
	for _, key := range []string{"failover/before", "failover/after"} {
		if v, err := old.get(key, serializable); err != nil || v.GetSeq() == 0 {
			t.Errorf("restarted %v: %s = %v, %v; want the value written earlier", old, key, v, err)
		}
	}
	c.waitVoters(c.nodes, 1, 2, 3)
	c.waitLeader(c.nodes...)
	waitFor(t, clusterTimeout, "every node at the same state", func() error { return sameState(c.nodes...) })

	// The write sent as the leader died has had its answer by now.
	if r := <-inflight; errors.Is(r.err, context.DeadlineExceeded) || status.Code(r.err) == codes.DeadlineExceeded {
		t.Errorf("a write sent to %v right after the leader died hung until its %v deadline (%v): "+
			"a proposal lost with the old leader is never failed or retried by the server", rest[0], r.took.Round(time.Millisecond), r.err)
	} else {
		t.Logf("the write sent to %v as the leader died returned after %v: %v", rest[0], r.took.Round(time.Millisecond), r.err)
	}
}

// TestRestartAll writes from several goroutines through every node, kills
// all three nodes with SIGKILL while writes are still in flight, restarts
// them, and checks that every acknowledged write is there. Then it stops
// them with SIGTERM (exit 0) and checks again after another restart.
func TestRestartAll(t *testing.T) {
	t.Parallel()
	c := newGuideCluster(t, clusterOptions{})
	c.startAll()

	const (
		writers = 8
		keys    = 200
		killAt  = 150 // acknowledged writes before the kill
	)
	valueOf := func(i int) string { return fmt.Sprintf("value-%03d-%s", i, strings.Repeat("x", i%40)) }
	type ack struct {
		value string
		seq   uint64
	}
	var (
		mu      sync.Mutex
		acked   = map[string]ack{}
		bad     []string // replies that make no sense
		failed  int      // writes not acknowledged
		killNow = make(chan struct{})
		once    sync.Once
		wg      sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			for i := w; i < keys; i += writers {
				key, val := fmt.Sprintf("durable/%03d", i), valueOf(i)
				r, err := c.nodes[i%len(c.nodes)].upsert(key, val)
				mu.Lock()
				switch {
				case err != nil:
					failed++
				case !r.GetApplied() || string(r.GetResult().GetData()) != val || r.GetResult().GetSeq() == 0:
					bad = append(bad, fmt.Sprintf("%s: %v", key, r))
				default:
					acked[key] = ack{val, r.GetResult().GetSeq()}
				}
				n := len(acked)
				mu.Unlock()
				if n >= killAt {
					once.Do(func() { close(killNow) })
				}
			}
		})
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	select {
	case <-killNow:
	case <-allDone:
	}
	killTogether(t, c.nodes...)
	<-allDone

	mu.Lock()
	defer mu.Unlock()
	for _, b := range bad {
		t.Errorf("upsert with match any: unexpected reply %s", b)
	}
	t.Logf("%d writes acknowledged, %d not, before and during SIGKILL of all nodes", len(acked), failed)
	if len(acked) < killAt {
		t.Fatalf("only %d writes acknowledged, want at least %d: the test proves nothing", len(acked), killAt)
	}

	check := func(phase string) {
		t.Helper()
		var maxSeq uint64
		for _, a := range acked {
			maxSeq = max(maxSeq, a.seq)
		}
		for _, n := range c.nodes {
			kvs, err := n.list("durable/", linearizable)
			if err != nil {
				t.Fatalf("%s: %v", phase, err)
			}
			got := map[string]*metapb.SeqV{}
			for _, kv := range kvs {
				got[kv.GetKey()] = kv.GetValue()
				// A write that was not acknowledged may be there, but
				// only with the value written.
				i, err := strconv.Atoi(strings.TrimPrefix(kv.GetKey(), "durable/"))
				if err != nil || string(kv.GetValue().GetData()) != valueOf(i) {
					t.Errorf("%s: %v lists %q = %q, a value never written", phase, n, kv.GetKey(), kv.GetValue().GetData())
				}
			}
			lost := 0
			for key, a := range acked {
				v := got[key]
				if v.GetSeq() != a.seq || string(v.GetData()) != a.value {
					lost++
					if lost <= 5 {
						t.Errorf("%s: %v: acknowledged %s = %q at seq %d, now %q at seq %d",
							phase, n, key, a.value, a.seq, v.GetData(), v.GetSeq())
					}
				}
			}
			if lost > 0 {
				t.Errorf("%s: %v lost or changed %d of %d acknowledged writes", phase, n, lost, len(acked))
			}
			if st := n.mustStatus(); st.GetLastSeq() < maxSeq {
				t.Errorf("%s: %v last_seq %d, below the highest acknowledged seq %d", phase, n, st.GetLastSeq(), maxSeq)
			}
		}
	}

	// Restart from raft_dir only: the configs still say single / join,
	// which a restart ignores.
	startTogether(t, c.nodes...)
	c.waitLeader(c.nodes...)
	check("after SIGKILL and restart")
	after := c.nodes[0].mustUpsert("after-restart/key", "x")

	// A graceful stop exits 0 and keeps everything too.
	for _, n := range c.nodes {
		if code := n.stop(); code != 0 {
			t.Errorf("%v: exit code %d after SIGTERM, want 0", n, code)
		}
	}
	startTogether(t, c.nodes...)
	c.waitLeader(c.nodes...)
	check("after SIGTERM and restart")
	if v, err := c.nodes[2].get("after-restart/key", linearizable); err != nil || v.GetSeq() != after.GetResult().GetSeq() {
		t.Errorf("after-restart/key = %v, %v; want seq %d", v, err, after.GetResult().GetSeq())
	}
}

// TestSnapshotJoinLeave writes far more entries than
// snapshot_logs_since_last so that the leader compacts its log, then adds a
// fourth node, configured by flags only, which can only catch up from a
// snapshot; then removes it with --leave-id.
func TestSnapshotJoinLeave(t *testing.T) {
	t.Parallel()
	c := newGuideCluster(t, clusterOptions{raftKeys: map[string]string{
		"snapshot_logs_since_last": "50",
		"max_applied_log_to_keep":  "10",
	}})
	c.startAll()
	n1 := c.node(1)

	const writers, perWriter = 10, 50 // 500 writes
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				k := w*perWriter + i
				if _, err := c.nodes[k%3].upsert(fmt.Sprintf("snap/%03d", k), fmt.Sprintf("v%d", k)); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("%d of 500 writes failed: %v", len(errs), err)
	}
	// Deletes must reach the new node through the snapshot as well.
	for k := 0; k < 500; k += 25 {
		ctx, cancel := contextWithTimeout(rpcTimeout)
		_, err := n1.meta().Upsert(ctx, &metapb.UpsertRequest{Key: fmt.Sprintf("snap/%03d", k), Op: metapb.UpsertRequest_DELETE})
		cancel()
		if err != nil {
			t.Fatalf("delete snap/%03d: %v", k, err)
		}
	}

	leader := c.waitLeader(c.nodes...)
	// Snapshots are taken in the background: wait until the leader has
	// compacted its log. snapshot_index > 0 means the entries up to it are
	// gone, so a new node cannot catch up from the log alone.
	var lst *metapb.StatusReply
	waitFor(t, clusterTimeout, "the leader to compact its log", func() error {
		st, err := leader.status()
		if err != nil {
			return err
		}
		if st.GetSnapshotIndex() == 0 {
			return fmt.Errorf("leader %v: snapshot_index 0 at applied_index %d", leader, st.GetAppliedIndex())
		}
		lst = st
		return nil
	})
	t.Logf("leader %v before the join: snapshot_index %d applied_index %d last_seq %d key_count %d",
		leader, lst.GetSnapshotIndex(), lst.GetAppliedIndex(), lst.GetLastSeq(), lst.GetKeyCount())
	if lst.GetKeyCount() != 480 {
		t.Errorf("leader key_count %d, want 480 (500 written, 20 deleted)", lst.GetKeyCount())
	}

	// Node 4: no config file, every key a flag.
	raftPort, grpcPort, adminPort, metricPort := freePort(t), freePort(t), freePort(t), freePort(t)
	n4 := newNode(t, 4, c.dir, []string{
		"--id", "4",
		"--raft-dir", "./_meta4",
		"--log-dir", "./_logs4",
		"--raft-api-port", strconv.Itoa(raftPort),
		"--raft-listen-host", "127.0.0.1",
		"--raft-advertise-host", "localhost",
		"--grpc-api-address", fmt.Sprintf("127.0.0.1:%d", grpcPort),
		"--admin-api-address", fmt.Sprintf("127.0.0.1:%d", adminPort),
		"--metric-api-address", fmt.Sprintf("127.0.0.1:%d", metricPort),
		"--heartbeat-interval", strconv.Itoa(heartbeatMs),
		"--snapshot-logs-since-last", "50",
		"--max-applied-log-to-keep", "10",
		"--join", n1.raftAddr(),
	}, raftPort, grpcPort, adminPort)
	c.nodes = append(c.nodes, n4)
	n4.start()

	// If node 4 does not catch up, the test goes on to remove it anyway:
	// --leave-id must work for a node stuck as a learner too.
	err := poll(clusterTimeout, func() error {
		lst, err := leader.status()
		if err != nil {
			return err
		}
		st, err := n4.status()
		if err != nil {
			return err
		}
		if st.GetLastSeq() != lst.GetLastSeq() || st.GetKeyCount() != lst.GetKeyCount() {
			return fmt.Errorf("node 4 at last_seq %d key_count %d, leader at %d, %d",
				st.GetLastSeq(), st.GetKeyCount(), lst.GetLastSeq(), lst.GetKeyCount())
		}
		return nil
	})
	if err != nil {
		t.Errorf("node 4 did not catch up with the leader within %v: %v", clusterTimeout, err)
	} else {
		checkCaughtUp(t, c, leader, n4, lst.GetSnapshotIndex())
	}

	// Remove node 4 through node 1's raft address.
	res := runCmd(t, c.dir, 90*time.Second, metaBin(t), "--leave-id", "4", "--leave-via", n1.raftAddr())
	if res.code != 0 {
		t.Fatalf("databend-meta --leave-id 4 --leave-via %s: exit code %d\nstdout: %s\nstderr: %s", n1.raftAddr(), res.code, res.stdout, res.stderr)
	}
	t.Logf("--leave-id 4: %s", strings.TrimSpace(res.stdout))
	c.waitVoters(c.nodes[:3], 1, 2, 3)
	c.waitLeader(c.nodes[:3]...)
	r := c.node(2).mustUpsert("snap/after-leave", "x")
	if v, err := c.node(3).get("snap/after-leave", linearizable); err != nil || v.GetSeq() != r.GetResult().GetSeq() {
		t.Errorf("after the leave, node 3 reads snap/after-leave = %v, %v; want seq %d", v, err, r.GetResult().GetSeq())
	}
	// Node 4 stops by itself once it applied its removal, with exit code
	// 0 and a line that says what to do.
	code := n4.waitExited(clusterTimeout)
	out, err := os.ReadFile(n4.out)
	if err != nil {
		t.Fatal(err)
	}
	if code != 0 || !strings.Contains(string(out), "node 4 stopped: this node was removed from the cluster") {
		t.Errorf("node 4 after its removal: exit code %d, want 0 and a line saying it was removed; output:\n%s", code, out)
	}
}

// checkCaughtUp checks a node that joined and caught up: it is a voter,
// it started from a snapshot (the leader's log was compacted up to
// leaderSnap), and its keys are the leader's.
func checkCaughtUp(t *testing.T, c *cluster, leader, n4 *node, leaderSnap uint64) {
	t.Helper()
	n1 := c.node(1)
	c.waitVoters(c.nodes, 1, 2, 3, 4)
	st4 := n4.mustStatus()
	t.Logf("node 4 caught up: snapshot_index %d applied_index %d last_seq %d key_count %d",
		st4.GetSnapshotIndex(), st4.GetAppliedIndex(), st4.GetLastSeq(), st4.GetKeyCount())
	if st4.GetSnapshotIndex() == 0 {
		t.Errorf("node 4 snapshot_index 0: it did not start from a snapshot, yet the leader's log starts after %d", leaderSnap)
	}
	// Node 4's own state equals the leader's, key by key.
	want, err := leader.list("snap/", linearizable)
	if err != nil {
		t.Fatal(err)
	}
	got, err := n4.list("snap/", serializable)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffKVs(want, got); d != "" {
		t.Errorf("node 4's keys differ from the leader's:\n%s", d)
	}
	// And it serves linearizable reads of new writes.
	r := n1.mustUpsert("snap/after-join", "x")
	if v, err := n4.get("snap/after-join", linearizable); err != nil || v.GetSeq() != r.GetResult().GetSeq() {
		t.Errorf("node 4 reads snap/after-join = %v, %v; want seq %d", v, err, r.GetResult().GetSeq())
	}

}

// diffKVs describes how two key lists differ; "" if they are equal.
func diffKVs(want, got []*metapb.KV) string {
	var sb strings.Builder
	fmtKV := func(kv *metapb.KV) string {
		return fmt.Sprintf("%s=%q@%d", kv.GetKey(), kv.GetValue().GetData(), kv.GetValue().GetSeq())
	}
	w := map[string]string{}
	for _, kv := range want {
		w[kv.GetKey()] = fmtKV(kv)
	}
	g := map[string]string{}
	for _, kv := range got {
		g[kv.GetKey()] = fmtKV(kv)
	}
	n := 0
	for k, s := range w {
		if g[k] != s && n < 10 {
			fmt.Fprintf(&sb, "want %s, got %q\n", s, g[k])
			n++
		}
	}
	for k, s := range g {
		if _, ok := w[k]; !ok && n < 10 {
			fmt.Fprintf(&sb, "unexpected %s\n", s)
			n++
		}
	}
	if len(want) != len(got) {
		fmt.Fprintf(&sb, "%d keys, want %d\n", len(got), len(want))
	}
	return sb.String()
}
