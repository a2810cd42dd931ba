package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestOpenPortsWarning starts a node as the deploy guide does, its gRPC
// and admin APIs on 0.0.0.0 without auth: it says so in one WARN line on
// stderr and in its log, naming the keys that close them.
func TestOpenPortsWarning(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := newNodePorts(t)
	cfg := singleConfig(p)
	for _, key := range []string{"grpc_api_address", "admin_api_address"} {
		cfg = strings.Replace(cfg, key+` = "127.0.0.1:`, key+` = "0.0.0.0:`, 1)
	}
	writeFile(t, dir, "node.toml", cfg)
	n := newNode(t, 1, dir, []string{"-c", "node.toml"}, p.raft, p.grpc, p.admin)
	// The harness adds --log-stderr-on to every node; with it, the record
	// itself is the stderr line.
	n.args = slices.DeleteFunc(n.args, func(a string) bool { return a == "--log-stderr-on" })
	n.start()
	(&cluster{t: t, dir: dir, nodes: []*node{n}}).waitLeader(n)
	if code := n.stop(); code != 0 {
		t.Fatalf("%v: exit code %d after SIGTERM, want 0", n, code)
	}

	b, err := os.ReadFile(n.out)
	if err != nil {
		t.Fatal(err)
	}
	var warns []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "databend-meta: WARN ") {
			warns = append(warns, line)
		}
	}
	if len(warns) != 1 {
		t.Fatalf("%d WARN lines on stderr, want 1:\n%s", len(warns), b)
	}
	for _, want := range []string{
		fmt.Sprintf("grpc_api_address 0.0.0.0:%d", p.grpc), fmt.Sprintf("admin_api_address 0.0.0.0:%d", p.admin),
		"auth.enabled", "[[auth.users]]", "127.0.0.1",
	} {
		if !strings.Contains(warns[0], want) {
			t.Errorf("the WARN line does not mention %q: %s", want, warns[0])
		}
	}
	if strings.Contains(warns[0], "raft") {
		t.Errorf("the WARN line names the raft port, which listens on 127.0.0.1: %s", warns[0])
	}
	checkJSONLog(t, filepath.Join(dir, "_logs", "databend-meta.log"), strings.TrimPrefix(warns[0], "databend-meta: WARN "))
}
