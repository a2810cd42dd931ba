package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/metasrv/metasrv/internal/admin"
	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/server"
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
	c := clustertest.New(t, 3, clustertest.Options{ManualTicks: true})
	lead := c.WaitLeader()
	addrs := adminServers(t, c)

	// databend-metactl's line; JSON: the snapshot's log id from the status.
	stdout, stderr, code := runCLI(t, "trigger-snapshot", "--admin-api-address", addrs[lead])
	if code != 0 || stdout != "triggered snapshot successfully.\n" {
		t.Fatalf("trigger-snapshot: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	var snap struct {
		ID       uint64 `json:"id"`
		Snapshot struct {
			LeaderID struct{ Term uint64 } `json:"leader_id"`
			Index    uint64
		} `json:"snapshot_last_log_id"`
	}
	stdout, stderr, code = runCLI(t, "--output", "json", "trigger-snapshot", "--admin-api-address", addrs[lead])
	if err := json.Unmarshal([]byte(stdout), &snap); code != 0 || err != nil || snap.ID != lead || snap.Snapshot.Index == 0 || snap.Snapshot.LeaderID.Term == 0 {
		t.Fatalf("trigger-snapshot --output json: exit %d, stdout %q, stderr %q, %v", code, stdout, stderr, err)
	}

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
	} else {
		lead = c.WaitLeader(lead)
	}
	// databend-metactl's two lines.
	to := lead%3 + 1
	stdout, stderr, code = runCLI(t, "transfer-leader", "--to", strconv.FormatUint(to, 10), "--admin-api-address", addrs[lead])
	if want := fmt.Sprintf("triggered leader transfer from %d to %d.\nvoter ids: [1, 2, 3]\n", lead, to); code != 0 || stdout != want {
		t.Fatalf("transfer-leader --to %d: exit %d, stdout %q, stderr %q; want %q", to, code, stdout, stderr, want)
	}
	lead = c.WaitLeader(lead)

	_, stderr, code = runCLI(t, "transfer-leader", "--to", "0", "--admin-api-address", addrs[lead])
	if code != 2 {
		t.Fatalf("--to 0: exit %d, want 2 (usage); stderr %q", code, stderr)
	}
	const features = "{\n  \"features\": [\n    \"dummy\",\n    \"dummy_feature2\"\n  ],\n  \"enabled\": []\n}\n"
	for _, tt := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"list-features"}, 0, features, ""},
		{[]string{"set-feature", "--feature", "dummy", "--enable", "false"}, 0, "set-feature: Done; features:\n" + features, ""},
		{[]string{"set-feature", "--feature", "dummy", "--enable", "true"}, 1, "", "metasrv does not implement state machine features"},
		{[]string{"set-feature", "--feature", "nope", "--enable", "false"}, 1, "", `unknown feature "nope": the features are dummy, dummy_feature2`},
		{[]string{"set-feature", "--feature", "dummy", "--enable", "yes"}, 2, "", `invalid --enable "yes": want true or false`},
		{[]string{"set-feature", "--feature", "dummy"}, 2, "", "--enable is required"},
	} {
		stdout, stderr, code := runCLI(t, append(tt.args, "--admin-api-address", addrs[lead])...)
		if code != tt.code || stdout != tt.stdout || !strings.Contains(stderr, tt.stderr) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d, %q and %q", tt.args, code, stdout, stderr, tt.code, tt.stdout, tt.stderr)
		}
	}

	_, stderr, code = runCLI(t, "metrics", "--admin-api-address", refusedAddr(t))
	if code != 1 || !strings.Contains(stderr, "admin_api_address") {
		t.Fatalf("metrics from a dead address: exit %d, stderr %q", code, stderr)
	}
}

// transfer-leader sent to a follower asks the leader, at the admin
// address the follower names, and says so on stderr; a target that is not
// a voter is refused with the voters listed.
func TestTransferLeaderAsksTheLeader(t *testing.T) {
	// The admin ports exist before the nodes, which advertise them.
	lis := map[uint64]net.Listener{}
	for id := uint64(1); id <= 3; id++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lis[id] = ln
	}
	c := clustertest.New(t, 3, clustertest.Options{ManualTicks: true, Configure: func(cfg *server.Config) {
		cfg.AdminAddress = lis[cfg.ID].Addr().String()
	}})
	for _, n := range c.Nodes() {
		srv := httptest.NewUnstartedServer(admin.Handler(n.Server, nil))
		srv.Listener.Close()
		srv.Listener = lis[n.ID]
		srv.Start()
		t.Cleanup(srv.Close)
	}
	lead := c.WaitLeader()
	var follower, other uint64
	for id := uint64(1); id <= 3; id++ {
		switch {
		case id == lead:
		case follower == 0:
			follower = id
		default:
			other = id
		}
	}

	stdout, stderr, code := runCLI(t, "--output", "json", "transfer-leader", "--to", strconv.FormatUint(other, 10),
		"--admin-api-address", lis[follower].Addr().String())
	wantSaid := fmt.Sprintf("asking the leader, node %d, at %s", lead, lis[lead].Addr())
	if code != 0 || !strings.Contains(stderr, wantSaid) || !strings.Contains(stdout, fmt.Sprintf(`"leader_id": %d`, other)) {
		t.Fatalf("transfer-leader --to %d via follower %d: exit %d, stdout %q, stderr %q; want 0, leader_id %d and %q",
			other, follower, code, stdout, stderr, other, wantSaid)
	}
	if got := c.WaitLeader(lead); got != other {
		t.Fatalf("leader %d after the transfer to %d", got, other)
	}

	_, stderr, code = runCLI(t, "transfer-leader", "--to", "9", "--admin-api-address", lis[other].Addr().String())
	if code != 1 || !strings.Contains(stderr, "node 9 is not a member of this cluster; the voters are 1, 2, 3") {
		t.Fatalf("transfer-leader --to 9: exit %d, stderr %q; want 1 naming the voters", code, stderr)
	}
}
