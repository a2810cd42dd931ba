package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metasrv/metasrv/internal/proctest"
)

// etcdctlBuild holds etcdctl, built once per test process from the module
// test/etcdtools pins (the version of metasrv's etcd modules, from the Go
// module proxy), or why it did not build.
var etcdctlBuild struct {
	sync.Once
	path string
	err  error
}

// etcdctlBin returns the path of etcdctl, building it on first use,
// failing the test if it does not build.
func etcdctlBin(t testing.TB) string {
	t.Helper()
	etcdctlBuild.Do(func() {
		dir, err := os.MkdirTemp("", "metasrv-e2e-etcdctl-")
		if err != nil {
			etcdctlBuild.err = err
			return
		}
		etcdctlBuild.path = filepath.Join(dir, "etcdctl")
		etcdctlBuild.err = proctest.GoBuild(filepath.Join(bins.Root(), "test", "etcdtools"), etcdctlBuild.path, "go.etcd.io/etcd/etcdctl/v3", false)
	})
	if etcdctlBuild.err != nil {
		t.Fatalf("etcdctl did not build (test/etcdtools):\n%v", etcdctlBuild.err)
	}
	return etcdctlBuild.path
}

// etcdctl runs etcdctl against endpoints with stdin and returns its
// stdout and stderr together.
func etcdctl(t testing.TB, endpoints []string, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args = append([]string{"--endpoints=" + strings.Join(endpoints, ","), "--dial-timeout=5s", "--command-timeout=10s"}, args...)
	cmd := exec.CommandContext(ctx, etcdctlBin(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("etcdctl %s\n%s", strings.Join(args[3:], " "), out.String())
	return out.String(), err
}

// mustEtcdctl is etcdctl that fails the test on an error.
func mustEtcdctl(t testing.TB, endpoints []string, stdin string, args ...string) string {
	t.Helper()
	out, err := etcdctl(t, endpoints, stdin, args...)
	if err != nil {
		t.Fatalf("etcdctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestEtcdctl is issue 13's etcdctl smoke test: the etcdctl of metasrv's
// etcd version against the guide's 3-node cluster, checked by output.
// Every command family of issue 13's list is here.
func TestEtcdctl(t *testing.T) {
	c := newGuideCluster(t, clusterOptions{})
	c.startAll()
	eps := grpcAddrs(c.nodes...)
	lines := func(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }

	if out := mustEtcdctl(t, eps, "", "put", "foo", "bar"); strings.TrimSpace(out) != "OK" {
		t.Errorf("put: %q, want OK", out)
	}
	for _, ep := range eps {
		if out := mustEtcdctl(t, []string{ep}, "", "get", "foo"); out != "foo\nbar\n" {
			t.Errorf("get foo on %s: %q", ep, out)
		}
	}
	mustEtcdctl(t, eps, "", "put", "foo2", "baz")
	if out := mustEtcdctl(t, eps, "", "get", "--prefix", "--keys-only", "fo"); strings.Fields(out)[0] != "foo" || strings.Fields(out)[1] != "foo2" {
		t.Errorf("get --prefix --keys-only fo: %q", out)
	}
	txn := "value(\"foo\") = \"bar\"\n\nput foo baz\n\nput foo nope\n\n"
	if out := mustEtcdctl(t, eps, txn, "txn"); lines(out)[0] != "SUCCESS" || !strings.Contains(out, "OK") {
		t.Errorf("txn: %q, want SUCCESS and OK", out)
	}
	if out := mustEtcdctl(t, eps, txn, "txn"); lines(out)[0] != "FAILURE" {
		t.Errorf("txn again: %q, want FAILURE", out)
	}
	if out := mustEtcdctl(t, eps, "", "get", "--print-value-only", "foo"); strings.TrimSpace(out) != "nope" {
		t.Errorf("get foo after the failed txn: %q, want its else branch's nope", out)
	}
	if out := mustEtcdctl(t, eps, "", "del", "--prefix", "foo"); strings.TrimSpace(out) != "2" {
		t.Errorf("del --prefix foo: %q, want 2", out)
	}
	if out := mustEtcdctl(t, eps, "", "get", "foo"); out != "" {
		t.Errorf("get foo after del: %q, want nothing", out)
	}

	// member list: "id, started, node-N, peer URL, client URL, false".
	ml := lines(mustEtcdctl(t, eps, "", "member", "list"))
	if len(ml) != 3 {
		t.Fatalf("member list: %q, want 3 members", ml)
	}
	for i, n := range c.nodes {
		// The guide's raft_advertise_host, and its grpc address's.
		want := fmt.Sprintf("%x, started, node-%d, http://localhost:%d, http://localhost:%d, false", n.id, n.id, n.raftPort, n.grpcPort)
		if ml[i] != want {
			t.Errorf("member list line %d: %q, want %q", i, ml[i], want)
		}
	}

	// endpoint status: one line per endpoint, etcd's version, one leader.
	es := lines(mustEtcdctl(t, eps, "", "endpoint", "status"))
	if len(es) != 3 || strings.Count(strings.Join(es, "\n"), ", true, false, ") != 1 {
		t.Errorf("endpoint status: %q, want 3 endpoints, one leader and no learner", es)
	}
	for i, l := range es {
		if !strings.HasPrefix(l, eps[i]+", ") || !strings.Contains(l, ", 3.7.3, 3.7.0, ") {
			t.Errorf("endpoint status line %d: %q, want %s at version 3.7.3", i, l, eps[i])
		}
	}
	eh := mustEtcdctl(t, eps, "", "endpoint", "health")
	for _, ep := range eps {
		if !regexp.MustCompile(regexp.QuoteMeta(ep) + ` is healthy: successfully committed proposal`).MatchString(eh) {
			t.Errorf("endpoint health: %q, want %s healthy", eh, ep)
		}
	}
	mustEtcdctl(t, eps, "", "put", "k", "v")
	waitFor(t, clusterTimeout, "the same hashkv on every endpoint", func() error {
		hk := lines(mustEtcdctl(t, eps, "", "endpoint", "hashkv"))
		if len(hk) != 3 {
			return fmt.Errorf("endpoint hashkv: %q, want 3 lines", hk)
		}
		for _, l := range hk[1:] {
			if _, rest, _ := strings.Cut(l, ", "); !strings.HasSuffix(hk[0], ", "+rest) || strings.HasPrefix(rest, "0, ") {
				return fmt.Errorf("endpoint hashkv: %q, want the same hash (not 0) and revision", hk)
			}
		}
		return nil
	})
	if out := mustEtcdctl(t, eps, "", "alarm", "list"); out != "" {
		t.Errorf("alarm list: %q, want none", out)
	}
	if out := mustEtcdctl(t, eps[:1], "", "defrag"); !strings.Contains(out, "Finished defragmenting etcd member["+eps[0]+"]") {
		t.Errorf("defrag: %q", out)
	}
	if out := mustEtcdctl(t, eps, "", "auth", "status"); !strings.Contains(out, "Authentication Status: false") {
		t.Errorf("auth status: %q", out)
	}

	// move-leader asks the leader among the endpoints.
	lead := c.waitLeader(c.nodes...)
	to := c.nodes[int(lead.id)%3]
	if out := mustEtcdctl(t, eps, "", "move-leader", fmt.Sprintf("%x", to.id)); !strings.Contains(out, fmt.Sprintf("Leadership transferred from %x to %x", lead.id, to.id)) {
		t.Errorf("move-leader: %q", out)
	}
	if got := c.waitLeader(c.nodes...); got != to {
		t.Errorf("leader %v after move-leader, want %v", got, to)
	}

	// snapshot save: metasrv's snapshot, with etcd's SHA-256 trailer.
	file := filepath.Join(t.TempDir(), "snap.db")
	if out := mustEtcdctl(t, eps[:1], "", "snapshot", "save", file); !strings.Contains(out, "Snapshot saved at "+file) {
		t.Errorf("snapshot save: %q", out)
	}
	if fi, err := os.Stat(file); err != nil || fi.Size()%512 != 32 {
		t.Errorf("snapshot file: %v, %v; want a multiple of 512 bytes and 32", fi, err)
	}

	// watch from the first revision: the history replays every change of
	// the prefix, then the stream goes on live.
	mustEtcdctl(t, eps, "", "put", "w/a", "1")
	mustEtcdctl(t, eps, "", "put", "w/a", "2")
	mustEtcdctl(t, eps, "", "del", "w/a")
	if out := etcdctlUntil(t, eps, 9, "watch", "--rev=1", "--prefix", "w/"); out != "PUT\nw/a\n1\nPUT\nw/a\n2\nDELETE\nw/a\n\n" {
		t.Errorf("watch --rev=1 --prefix w/: %q, want the two puts and the delete", out)
	}

	// leases: grant, attach, keep alive, time to live with keys, list,
	// revoke (the key goes with it).
	grant := mustEtcdctl(t, eps, "", "lease", "grant", "60")
	m := regexp.MustCompile(`^lease ([0-9a-f]+) granted with TTL\(60s\)`).FindStringSubmatch(grant)
	if m == nil {
		t.Fatalf("lease grant 60: %q", grant)
	}
	id := m[1]
	mustEtcdctl(t, eps, "", "put", "--lease="+id, "leased", "v")
	if out := mustEtcdctl(t, eps, "", "lease", "keep-alive", "--once", id); !strings.Contains(out, "lease "+id+" keepalived with TTL(60)") {
		t.Errorf("lease keep-alive --once: %q", out)
	}
	// On every node, a follower's forwarded to the leader: none is logged.
	leader := c.waitLeader(c.nodes...)
	last := leader.mustStatus().GetLastLogIndex()
	for _, ep := range eps {
		if out := mustEtcdctl(t, []string{ep}, "", "lease", "keep-alive", "--once", id); !strings.Contains(out, "lease "+id+" keepalived with TTL(60)") {
			t.Errorf("lease keep-alive --once on %s: %q", ep, out)
		}
	}
	if got := leader.mustStatus().GetLastLogIndex(); got != last {
		t.Errorf("keep-alives on every node: the leader's last log index went %d -> %d, want none logged", last, got)
	}
	if out := mustEtcdctl(t, eps, "", "lease", "timetolive", "--keys", id); !regexp.MustCompile(`^lease ` + id + ` granted with TTL\(60s\), remaining\(\d+s\), attached keys\(\[leased\]\)`).MatchString(out) {
		t.Errorf("lease timetolive --keys: %q", out)
	}
	if out := mustEtcdctl(t, eps, "", "lease", "list"); !strings.Contains(out, "found 1 leases\n"+id) {
		t.Errorf("lease list: %q", out)
	}
	if out := mustEtcdctl(t, eps, "", "lease", "revoke", id); !strings.Contains(out, "lease "+id+" revoked") {
		t.Errorf("lease revoke: %q", out)
	}
	if out := mustEtcdctl(t, eps, "", "get", "leased"); out != "" {
		t.Errorf("get leased after the revoke: %q, want nothing", out)
	}

	// compaction at revision 2: done, and reading below it is refused as
	// etcd refuses it.
	if out := mustEtcdctl(t, eps, "", "compaction", "2"); !strings.Contains(out, "compacted revision 2") {
		t.Errorf("compaction: %q, want \"compacted revision 2\"", out)
	}
	if out, err := etcdctl(t, eps, "", "get", "--rev=1", "k"); err == nil || !strings.Contains(out, "required revision has been compacted") {
		t.Errorf("get --rev=1 after compaction at 2: %v: %q, want etcd's compacted error", err, out)
	}
}

// etcdctlUntil runs a command of etcdctl that does not end by itself (a
// watch) and returns its first n lines of output, or what it printed
// within 30 s; then it stops it.
func etcdctlUntil(t testing.TB, endpoints []string, n int, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args = append([]string{"--endpoints=" + strings.Join(endpoints, ","), "--dial-timeout=5s"}, args...)
	cmd := exec.CommandContext(ctx, etcdctlBin(t), args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	sc := bufio.NewScanner(out)
	for i := 0; i < n && sc.Scan(); i++ {
		got.WriteString(sc.Text() + "\n")
	}
	cancel()
	_ = cmd.Wait()
	t.Logf("etcdctl %s\n%s%s", strings.Join(args[2:], " "), got.String(), stderr.String())
	return got.String()
}
