package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// leaseTTL is the TTL of TestLeaseKeptAliveAcrossLeaderKill's leases, in
// seconds: the smallest a lease gets at the guide's heartbeat_interval
// (1.5 election timeouts, rounded up to a second) is 2.
const leaseTTL = 3

// TestLeaseKeptAliveAcrossLeaderKill keeps two leases alive with etcdctl,
// each through one of the two followers (which forward keep-alives to the
// leader), kills the leader with SIGKILL, and checks that both leases and
// their keys outlive several TTLs: keep-alives through either survivor,
// the new leader or a follower of it, go on renewing them. Once their
// keep-alives stop, both expire.
func TestLeaseKeptAliveAcrossLeaderKill(t *testing.T) {
	t.Parallel()
	c := newGuideCluster(t, clusterOptions{})
	c.startAll()
	old := c.waitLeader(c.nodes...)
	followers := slices.DeleteFunc(slices.Clone(c.nodes), func(n *node) bool { return n == old })

	grant := regexp.MustCompile(`^lease ([0-9a-f]+) granted with TTL\(` + fmt.Sprint(leaseTTL) + `s\)`)
	ids := make([]string, len(followers))
	stops := make([]func() string, len(followers))
	for i, f := range followers {
		ep := []string{f.grpcAddr()}
		m := grant.FindStringSubmatch(mustEtcdctl(t, ep, "", "lease", "grant", fmt.Sprint(leaseTTL)))
		if m == nil {
			t.Fatalf("lease grant %d on %v: no lease id", leaseTTL, f)
		}
		ids[i] = m[1]
		mustEtcdctl(t, ep, "", "put", "--lease="+ids[i], "kept/"+ids[i], "v")
		stops[i] = keepAlive(t, ep, ids[i])
	}

	old.kill()
	leader := c.waitLeader(followers...)
	t.Logf("leader %v killed; %v leads", old, leader)
	time.Sleep(3 * leaseTTL * time.Second)
	eps := grpcAddrs(followers...)
	for _, id := range ids {
		if out := mustEtcdctl(t, eps, "", "get", "--keys-only", "kept/"+id); !strings.Contains(out, "kept/"+id) {
			t.Errorf("key of lease %s kept alive through a follower: gone %ds after the leader was killed", id, 3*leaseTTL)
		}
	}

	for i, stop := range stops {
		out := stop()
		if !strings.Contains(out, "keepalived with TTL("+fmt.Sprint(leaseTTL)+")") {
			t.Errorf("etcdctl lease keep-alive %s through %v never renewed:\n%s", ids[i], followers[i], tail(out, 20))
		}
	}
	waitFor(t, 4*leaseTTL*time.Second, "the leases to expire once no longer kept alive", func() error {
		for _, id := range ids {
			out, err := etcdctl(t, eps, "", "get", "--keys-only", "kept/"+id)
			if err != nil || strings.Contains(out, "kept/"+id) {
				return fmt.Errorf("kept/%s still there (%v)", id, err)
			}
		}
		return nil
	})
}

// keepAlive runs etcdctl lease keep-alive id against endpoints until the
// returned stop, which returns its output.
func keepAlive(t *testing.T, endpoints []string, id string) (stop func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, etcdctlBin(t), "--endpoints="+strings.Join(endpoints, ","), "--dial-timeout=5s", "lease", "keep-alive", id)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	stopped := false
	stop = func() string {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
		return out.String()
	}
	t.Cleanup(func() { stop() })
	return stop
}
