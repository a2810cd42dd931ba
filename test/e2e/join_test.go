package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// joiningNode returns node id, not started, that joins through via and
// gives up after waitMs, with its own ports and directories in dir.
func joiningNode(t *testing.T, dir string, id uint64, via string, waitMs int) *node {
	p := newNodePorts(t)
	return newNode(t, id, dir, []string{
		"--id", strconv.FormatUint(id, 10),
		"--raft-dir", fmt.Sprintf("./_meta%d", id),
		"--log-dir", fmt.Sprintf("./_logs%d", id),
		"--raft-api-port", strconv.Itoa(p.raft),
		"--raft-listen-host", "127.0.0.1",
		"--grpc-api-address", fmt.Sprintf("127.0.0.1:%d", p.grpc),
		"--admin-api-address", fmt.Sprintf("127.0.0.1:%d", p.admin),
		"--metric-api-address", fmt.Sprintf("127.0.0.1:%d", p.metric),
		"--heartbeat-interval", strconv.Itoa(heartbeatMs),
		"--wait-leader-timeout", strconv.Itoa(waitMs),
		"--join", via,
	}, p.raft, p.grpc, p.admin)
}

// TestJoinMistakes starts nodes that join through a wrong address: a dead
// one is retried, and said so on stderr and in /v1/health; a gRPC port
// fails at once, saying what join takes.
func TestJoinMistakes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	t.Run("a dead address", func(t *testing.T) {
		dead := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		n := joiningNode(t, dir, 2, dead, 3000)
		n.start()
		want := "joining via " + dead + ": not reachable yet (attempt "
		waitFor(t, refuseTimeout, "/v1/health to say "+want, func() error {
			code, b, err := n.adminGet("/v1/health")
			if err != nil {
				return err
			}
			var h struct{ Reason string }
			if err := json.Unmarshal(b, &h); err != nil {
				return err
			}
			if code != http.StatusServiceUnavailable || !strings.Contains(h.Reason, want) {
				return fmt.Errorf("health %d %q", code, h.Reason)
			}
			return nil
		})
		code, lines := waitExit(t, n, refuseTimeout)
		out := strings.Join(lines, "\n")
		for _, w := range []string{
			"databend-meta: joining via " + dead + ": not reachable yet (attempt 1), retrying until ",
			"could not join the cluster within wait_leader_timeout (3s)",
		} {
			if !strings.Contains(out, w) {
				t.Errorf("stderr does not say %q:\n%s", w, out)
			}
		}
		if code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
	})

	t.Run("a gRPC port", func(t *testing.T) {
		p := newNodePorts(t)
		writeFile(t, dir, "single.toml", singleConfig(p))
		n1 := newNode(t, 1, dir, []string{"-c", "single.toml"}, p.raft, p.grpc, p.admin)
		n1.start()
		(&cluster{t: t, dir: dir, nodes: []*node{n1}}).waitLeader(n1)

		n := joiningNode(t, dir, 3, n1.grpcAddr(), 60000)
		n.start()
		code, lines := waitExit(t, n, refuseTimeout)
		want := "joining via " + n1.grpcAddr() + ": it answers gRPC but not the raft service"
		if out := strings.Join(lines, "\n"); code != 1 || !strings.Contains(out, want) || !strings.Contains(out, "raft_config.join takes") {
			t.Errorf("exit code %d, stderr:\n%s\nwant 1 and %q", code, out, want)
		}
	})
}
