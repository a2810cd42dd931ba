package main

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/metasrv/metasrv/internal/admin"
	"github.com/metasrv/metasrv/internal/clustertest"
)

// adminServers serves the admin API of every node of an in-process cluster
// and returns their addresses by node id.
func adminServers(t *testing.T, c *clustertest.Cluster) map[uint64]string {
	t.Helper()
	addrs := map[uint64]string{}
	for _, n := range c.Nodes() {
		srv := httptest.NewServer(admin.Handler(n.Server, promhttp.HandlerFor(prometheus.NewRegistry(), promhttp.HandlerOpts{})))
		t.Cleanup(srv.Close)
		addrs[n.ID] = strings.TrimPrefix(srv.URL, "http://")
	}
	return addrs
}

func TestAdminCommands(t *testing.T) {
	c := clustertest.New(t, 3)
	lead := c.WaitLeader()
	addrs := adminServers(t, c)

	var snap struct {
		ID uint64 `json:"id"`
	}
	stdout, stderr, code := runCLI(t, "--output", "json", "trigger-snapshot", "--admin-api-address", addrs[lead])
	if code != 0 || !strings.Contains(stdout, `"snapshot_last_log_id"`) {
		t.Fatalf("trigger-snapshot: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	_ = snap

	var follower uint64
	for id := range addrs {
		if id != lead {
			follower = id
			break
		}
	}
	// A follower refuses and says who leads.
	_, stderr, code = runCLI(t, "transfer-leader", "--admin-api-address", addrs[follower])
	if code != 1 || !strings.Contains(stderr, "HTTP 409") {
		t.Fatalf("transfer-leader on a follower: exit %d, stderr %q", code, stderr)
	}
	stdout, stderr, code = runCLI(t, "--output", "json", "transfer-leader", "--to", "3", "--admin-api-address", addrs[lead])
	if lead == 3 {
		if code != 2 && code != 1 {
			t.Fatalf("transfer to itself: exit %d, stderr %q", code, stderr)
		}
	} else if code != 0 || !strings.Contains(stdout, `"leader_id":3`) && !strings.Contains(stdout, `"leader_id": 3`) {
		t.Fatalf("transfer-leader --to 3: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	_, stderr, code = runCLI(t, "transfer-leader", "--to", "0", "--admin-api-address", addrs[lead])
	if code != 2 {
		t.Fatalf("--to 0: exit %d, want 2 (usage); stderr %q", code, stderr)
	}
	_, stderr, code = runCLI(t, "metrics", "--admin-api-address", refusedAddr(t))
	if code != 1 || !strings.Contains(stderr, "admin_api_address") {
		t.Fatalf("metrics from a dead address: exit %d, stderr %q", code, stderr)
	}
}
