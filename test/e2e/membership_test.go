package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// TestMembershipMistakes runs `databend-meta --leave-id` and
// `databend-metactl transfer-leader` as a careless user would, against the
// guide's cluster: each mistake ends with a non-zero exit code and a
// message that says what was wrong, and the cluster keeps its members;
// transfer-leader sent to a follower finds the leader.
func TestMembershipMistakes(t *testing.T) {
	t.Parallel()
	c := newGuideCluster(t, clusterOptions{})
	c.startAll()
	leader := c.waitLeader(c.nodes...)
	var follower *node
	for _, n := range c.nodes {
		if n != leader {
			follower = n
			break
		}
	}

	t.Run("not a member", func(t *testing.T) {
		// Through a follower: the leader decides, and its answer crosses
		// the follower's raft port back.
		res := runCmd(t, c.dir, refuseTimeout, metaBin(t), "--leave-id", "7", "--leave-via", follower.raftAddr())
		if res.code != 3 {
			t.Errorf("exit code %d, want 3 (not a member)", res.code)
		}
		want := []string{"node 7 is not a member", "nothing was removed"}
		for _, n := range c.nodes {
			want = append(want, fmt.Sprintf("%d (localhost:%d)", n.id, n.raftPort))
		}
		for _, w := range want {
			if !strings.Contains(res.stderr, w) {
				t.Errorf("stderr does not say %q:\n%s", w, res.stderr)
			}
		}
		if strings.Contains(res.stdout, "removed") {
			t.Errorf("stdout says the node was removed: %s", res.stdout)
		}
	})
	t.Run("a gRPC port", func(t *testing.T) {
		res := runCmd(t, c.dir, refuseTimeout, metaBin(t), "--leave-id", "3", "--leave-via", follower.grpcAddr())
		want := "leave via " + follower.grpcAddr() + ": it answers gRPC but not the raft service"
		if res.code != 1 || !strings.Contains(res.stderr, want) || !strings.Contains(res.stderr, "host:raft_api_port") {
			t.Errorf("exit code %d, stderr:\n%s\nwant 1 and %q", res.code, res.stderr, want)
		}
	})
	t.Run("a dead address", func(t *testing.T) {
		dead := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		res := runCmd(t, c.dir, refuseTimeout, metaBin(t), "--leave-id", "3", "--leave-via", dead, "--wait-leader-timeout", "1500")
		for _, w := range []string{
			"leave via " + dead + ": not reachable yet (attempt 1), retrying until ",
			"leave via " + dead + ": not reachable yet (attempt 2)",
			"wait_leader_timeout is 1.5s",
		} {
			if !strings.Contains(res.stderr, w) {
				t.Errorf("stderr does not say %q:\n%s", w, res.stderr)
			}
		}
		if res.code != 1 {
			t.Errorf("exit code %d, want 1", res.code)
		}
	})
	c.waitVoters(c.nodes, c.ids()...)

	adminAddr := func(n *node) string { return fmt.Sprintf("127.0.0.1:%d", n.adminPort) }
	t.Run("transfer-leader to a non-member", func(t *testing.T) {
		res := metactl(t, c.dir, "transfer-leader", "--to", "9", "--admin-api-address", adminAddr(leader))
		if want := "node 9 is not a member of this cluster; the voters are 1, 2, 3"; res.code != 1 || !strings.Contains(res.stderr, want) {
			t.Errorf("exit code %d, stderr:\n%s\nwant 1 and %q", res.code, res.stderr, want)
		}
	})
	t.Run("transfer-leader via a follower", func(t *testing.T) {
		// The guide's nodes listen on 0.0.0.0: the leader's admin API is
		// named by raft_advertise_host, localhost.
		res := metactl(t, c.dir, "transfer-leader", "--to", strconv.FormatUint(follower.id, 10), "--admin-api-address", adminAddr(follower))
		want := fmt.Sprintf("asking the leader, node %d, at localhost:%d", leader.id, leader.adminPort)
		if res.code != 0 || !strings.Contains(res.stderr, want) {
			t.Fatalf("exit code %d, stdout %s, stderr:\n%s\nwant 0 and %q", res.code, res.stdout, res.stderr, want)
		}
		if got := c.waitLeader(c.nodes...); got != follower {
			t.Errorf("the leader is %v after the transfer to %v", got, follower)
		}
	})
}
