package admin_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/admin"
	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/proctest"
)

// screenshotDirEnv names a directory to keep the dashboard screenshots in;
// unset: t.TempDir().
const screenshotDirEnv = "METASRV_SCREENSHOT_DIR"

// chromiumPath finds the browser: $CHROMIUM, else chromium on PATH.
// Without it the test is skipped, or fails where the test tools are
// required (proctest.MissingTool): `make test` installs it when it can
// (make test-deps).
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	proctest.MissingTool(t, "chromium not found: the dashboard test needs a headless browser; "+
		"install it with `make test-deps` (apt-get install chromium fonts-dejavu-core, as root), "+
		"or set CHROMIUM=/path/to/chromium")
	return ""
}

// chromium runs headless Chromium on url with extra args and returns its
// stdout. The flags keep it from reaching the network on its own.
func chromium(t *testing.T, url string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--user-data-dir=" + t.TempDir(),
	}
	cmd := exec.CommandContext(ctx, chromiumPath(t), append(append(base, args...), url)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\nstderr:\n%s", strings.Join(args, " "), err, tail(stderr.String(), 30))
	}
	return stdout.Bytes()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// load runs writes and reads through the cluster until the test ends, so
// the dashboard shows rates. Its sleeps pace the load over real time, as
// the rates are per second of it: they wait for nothing, and keep the
// loops from taking every core while Chromium renders.
func load(t *testing.T, c *clustertest.Cluster, lead uint64, reads *atomic.Uint64) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			_, _ = c.Node(lead).Server.Upsert(ctx, &metapb.UpsertRequest{Key: fmt.Sprintf("load/%d", i%500), Value: []byte("v")})
			time.Sleep(2 * time.Millisecond)
		}
	})
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			if _, err := c.Node(lead).Server.Get(ctx, fmt.Sprintf("load/%d", i%500), metapb.ReadConsistency_SERIALIZABLE); err == nil {
				reads.Add(1)
			}
			time.Sleep(time.Millisecond)
		}
	})
}

// TestDashboardInChromium opens the dashboard of a 3-node cluster's leader
// and of a follower in headless Chromium: the page lists the three nodes
// and who leads. It takes a screenshot of the leader's dashboard. Its
// cluster runs on real ticks: the load it shows is paced over real time
// for per-second rates, and a cluster under a load that never stops never
// settles, as manual ticks would need it to.
func TestDashboardInChromium(t *testing.T) {
	chromiumPath(t) // fail early, before starting a cluster
	c := clustertest.New(t, 3)
	lead := c.WaitLeader()
	var reads atomic.Uint64
	nodes := serveAdmin(t, c, admin.Options{ReadCount: reads.Load})
	load(t, c, lead, &reads)
	c.Eventually(func() bool { return reads.Load() > 200 }, "the load runs")

	// The DOM after the page has polled a few times (virtual time runs the
	// timers at once; it waits for fetches). On a loaded machine the
	// leader may change meanwhile: the page must show the leader as it was
	// before or after it ran.
	leaderID := regexp.MustCompile(`id="leader-id" hidden="">(\d+)<`)
	for _, nd := range nodes {
		before := c.WaitLeader()
		dom := string(chromium(t, nd.URL+"/", "--virtual-time-budget=4000", "--dump-dom"))
		after := c.WaitLeader()
		if !strings.Contains(dom, `data-state="ready"`) {
			t.Fatalf("node %d: the dashboard did not render:\n%s", nd.ID, dom)
		}
		m := leaderID.FindStringSubmatch(dom)
		if m == nil {
			t.Errorf("node %d's dashboard names no leader", nd.ID)
			continue
		}
		shown, _ := strconv.ParseUint(m[1], 10, 64)
		if shown != before && shown != after {
			t.Errorf("node %d's dashboard shows leader %d; the leader was %d, then %d", nd.ID, shown, before, after)
		}
		for id := uint64(1); id <= 3; id++ {
			row := regexp.MustCompile(fmt.Sprintf(`<tr[^>]*data-node-id="%d"[^>]*data-role="([a-z-]+)"`, id)).FindStringSubmatch(dom)
			if row == nil {
				t.Errorf("node %d's dashboard has no row for node %d", nd.ID, id)
				continue
			}
			if (row[1] == "leader") != (id == shown) {
				t.Errorf("node %d's dashboard shows node %d as %q and node %d as the leader", nd.ID, id, row[1], shown)
			}
		}
		// The node's own health, state, applied index and snapshot, read
		// from the status's fields.
		for _, re := range []string{
			`id="health" class="pill pill-ok"[^>]*>healthy<`,
			`id="state">this node: (leader|follower)<`,
			`id="applied">[1-9][0-9,]*<`,
			`id="snapshot">(none yet|index [0-9,]+ · term [1-9])`,
			`id="purged">[0-9,]+<`,
		} {
			if !regexp.MustCompile(re).MatchString(dom) {
				t.Errorf("node %d's dashboard does not match %s", nd.ID, re)
			}
		}
		if nd.ID != shown && !strings.Contains(dom, fmt.Sprintf("node %d leads", shown)) {
			t.Errorf("follower %d's dashboard does not say node %d leads", nd.ID, shown)
		}
	}

	dir := os.Getenv(screenshotDirEnv)
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	lead = c.WaitLeader()
	for _, nd := range []*adminNode{nodes[lead], nodes[lead%3+1]} {
		role := map[bool]string{true: "leader", false: "follower"}[nd.ID == lead]
		file := filepath.Join(dir, "dashboard-"+role+".png")
		_ = os.Remove(file)
		chromium(t, nd.URL+"/", "--virtual-time-budget=12000", "--window-size=1280,800", "--screenshot="+file)
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("screenshot %s is not a PNG: %v", file, err)
		}
		if sz := img.Bounds().Size(); sz.X != 1280 || sz.Y != 800 {
			t.Errorf("screenshot %s is %v, want 1280x800", file, sz)
		}
		t.Logf("dashboard of node %d (%s): %s (%d bytes)", nd.ID, role, file, len(b))
	}
}
