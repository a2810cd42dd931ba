package chaos

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// Environment knobs; see doc.go.
const (
	envSeed     = "METASRV_CHAOS_SEED"
	envDuration = "METASRV_CHAOS_DURATION"
	envNodes    = "METASRV_CHAOS_NODES"
	envOut      = "METASRV_CHAOS_OUT"
)

// defaultDuration is how long faults are injected per cluster size in a
// plain `go test` run (the short run of `make test`).
const defaultDuration = 15 * time.Second

// runConfig is what a seed and the environment decide about a run.
type runConfig struct {
	seed          uint64
	size          int
	duration      time.Duration
	clients       int
	keys          int
	snapshotEvery uint64
	outDir        string // where failure artifacts go; survives the test
}

func TestChaos(t *testing.T) {
	seed := uint64(time.Now().UnixNano() % 1_000_000_000)
	if s := os.Getenv(envSeed); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", envSeed, s, err)
		}
		seed = v
	}
	duration := defaultDuration
	if s := os.Getenv(envDuration); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("%s=%q: %v", envDuration, s, err)
		}
		duration = d
	}
	sizes := []int{3, 5}
	if s := os.Getenv(envNodes); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				t.Fatalf("%s=%q: want sizes like 3,5", envNodes, s)
			}
			sizes = append(sizes, n)
		}
	}
	outDir := os.Getenv(envOut)
	if outDir == "" {
		outDir = filepath.Join(os.TempDir(), "metasrv-chaos")
	}
	// Printed before anything can fail or hang, so a run that a timeout
	// kills can still be replayed.
	fmt.Fprintf(os.Stderr, "chaos: seed %d, %v of faults per cluster (replay: %s=%d)\n", seed, duration, envSeed, seed)
	t.Logf("seed %d (replay: %s=%d go test ./test/chaos/ -run 'TestChaos/...')", seed, envSeed, seed)
	for _, size := range sizes {
		t.Run(fmt.Sprintf("%dnodes", size), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, uint64(size)))
			cfg := runConfig{
				seed:          seed,
				size:          size,
				duration:      duration,
				clients:       4 + rng.IntN(5),
				keys:          3 + rng.IntN(6),
				snapshotEvery: []uint64{64, 256, 1024}[rng.IntN(3)],
				outDir:        outDir,
			}
			runChaos(t, cfg)
		})
	}
}

// runChaos forms a cluster, runs clients and watchers while the nemesis
// injects faults, heals, and checks the history, the watches and the
// nodes' states.
func runChaos(t *testing.T, cfg runConfig) {
	name := fmt.Sprintf("seed%d-%dnodes", cfg.seed, cfg.size)
	t.Logf("%s: %d clients, %d keys, snapshot every %d entries, %v of faults", name, cfg.clients, cfg.keys, cfg.snapshotEvery, cfg.duration)
	h := newHistory()
	log, err := newRunLog(filepath.Join(t.TempDir(), "run.log"), h.start, testing.Verbose())
	if err != nil {
		t.Fatal(err)
	}
	defer log.close()
	report := func() {
		if t.Failed() {
			t.Logf("seed %d; replay: %s=%d %s=%d go test ./test/chaos/ -run TestChaos/%dnodes", cfg.seed, envSeed, cfg.seed, envNodes, cfg.size, cfg.size)
			t.Logf("---- run log ----\n%s", log)
		}
	}
	defer report()

	c := newCluster(t, log, cfg.snapshotEvery, filepath.Join(cfg.outDir, name))
	if err := c.form(cfg.size); err != nil {
		t.Fatalf("form a cluster of %d: %v", cfg.size, err)
	}
	log.logf("cluster formed: members %v", c.memberIDs())

	stopWatch := make(chan struct{})
	raw := newRawWatcher(c, log, cfg.seed)
	var watchWG sync.WaitGroup
	watchWG.Go(func() { raw.run(stopWatch) })
	cw, err := startClientWatcher(c)
	if err != nil {
		t.Fatalf("client.Watch: %v", err)
	}

	wl := newWorkload(c, h, cfg.keys)
	stopClients := make(chan struct{})
	var clientsWG sync.WaitGroup
	for i := range cfg.clients {
		clientsWG.Go(func() { wl.run(i, cfg.seed^uint64(cfg.size)<<40, stopClients) })
	}

	nm := newNemesis(c, log, cfg.seed^uint64(cfg.size)<<40)
	nemesisErr := nm.run(time.Now().Add(cfg.duration))
	log.logf("faults over: %v", nm.counts)
	if nemesisErr != nil {
		c.dumpGoroutines()
		t.Fatalf("the cluster did not recover from a fault: %v", nemesisErr)
	}

	// Heal, let the clients run on the healed cluster for a moment, stop
	// them (the ops in flight complete), and wait for the nodes to agree.
	if err := c.healAll(); err != nil {
		t.Errorf("heal: %v", err)
	}
	if _, err := c.waitLeader(clusterTimeout); err != nil {
		c.dumpGoroutines()
		t.Fatalf("no leader after the faults healed: %v", err)
	}
	time.Sleep(time.Second)
	close(stopClients)
	clientsWG.Wait()
	st, err := c.waitQuiet(clusterTimeout)
	if err != nil {
		c.dumpGoroutines()
		t.Fatalf("the members did not converge after the faults healed: %v", err)
	}
	lastSeq := st.GetLastSeq()
	// The revision, from the gRPC Status of a member that converged (the
	// admin API's status does not carry it).
	lastRev, err := c.revision(st.GetAppliedIndex())
	if err != nil {
		t.Fatal(err)
	}
	log.logf("converged: applied index %d, last_seq %d, revision %d", st.GetAppliedIndex(), lastSeq, lastRev)

	// Final linearizable reads of every key on every member pin down the
	// writes whose outcome the clients did not learn.
	for i, n := range c.members() {
		for _, k := range wl.keys {
			o := &op{client: cfg.clients + i, node: n.id, kind: opGet, key: k}
			wl.do(n, o)
			h.add(o)
		}
	}

	// The same state on every member. A leader change between two
	// exports appends an entry (the new leader's no-op), which changes
	// applied_index: compare again after the members settle.
	var exps []*export
	var first *export
	for attempt := 1; ; attempt++ {
		exps = nil
		for _, n := range c.members() {
			e, err := exportNode(n)
			if err != nil {
				t.Fatalf("export: %v", err)
			}
			exps = append(exps, e)
		}
		if first, err = compareExports(exps); err == nil || attempt == 3 {
			break
		}
		log.logf("exports differ (attempt %d); again once the members settle: %v", attempt, err)
		if _, err := c.waitQuiet(clusterTimeout); err != nil {
			t.Fatalf("the members did not converge: %v", err)
		}
	}
	if err != nil {
		t.Error(err)
	}
	var hashes []string
	for _, e := range exps {
		hashes = append(hashes, fmt.Sprintf("%d:%s", e.node, e.hash()))
	}
	log.logf("state hashes %v", hashes)
	final := map[string]val{}
	for k, v := range first.kvs {
		final[k] = v
	}

	// The watchers catch up, then stop.
	if err := poll(clusterTimeout, func() error {
		if d := raw.delivered(); d < lastRev {
			return fmt.Errorf("raw watcher at revision %d of %d", d, lastRev)
		}
		if d := cw.delivered(); d < lastRev {
			return fmt.Errorf("client watcher at revision %d of %d", d, lastRev)
		}
		return nil
	}); err != nil {
		t.Errorf("watchers did not catch up: %v", err)
	}
	close(stopWatch)
	watchWG.Wait()
	rawEvents, rawErr, rawSummary := raw.result()
	cwEvents, cwErr, cwSummary := cw.stop()
	log.logf("raw watcher: %s", rawSummary)
	log.logf("client watcher: %s", cwSummary)
	if rawErr != nil {
		t.Error(rawErr)
	}
	if cwErr != nil {
		t.Errorf("client watch ended: %v", cwErr)
	}

	ops := h.ops()
	rawOK := rawErr == nil
	if err := checkWatch("(raw gRPC, resumed by the test)", rawEvents, ops, lastRev, final); err != nil {
		t.Error(err)
		rawOK = false
	}
	if err := checkWatch("(client.Watch)", cwEvents, ops, lastRev, final); err != nil {
		t.Error(err)
	}
	if err := checkSeqOrder(ops); err != nil {
		t.Error(err)
	}

	counts := map[outcome]int{}
	for _, o := range ops {
		counts[o.outcome]++
	}
	log.logf("history: %d ops: %d done, %d unknown, %d not proposed, %d failed reads",
		len(ops), counts[done], counts[unknown], counts[notProposed], counts[failed])
	checked := ops
	if rawOK {
		checked = resolveUnknown(ops, rawEvents)
	}
	checkStart := time.Now()
	res, vis, err := checkLinearizable(checked, porcupineTimeout(cfg.duration), cfg.outDir, name)
	log.logf("porcupine: %s in %v (%d ops; unknown writes resolved from the watch: %v)", res, time.Since(checkStart).Round(time.Millisecond), len(checked), rawOK)
	switch {
	case err != nil:
		t.Errorf("porcupine: %s; %v", res, err)
	case res == porcupine.Illegal:
		t.Errorf("the history is not linearizable; visualization: %s", vis)
		dumpHistory(t, checked, cfg.outDir, name)
	case res == porcupine.Unknown:
		// Not a failure: the checker ran out of time (unknown-outcome
		// writes make the search exponential in the worst case).
		t.Logf("porcupine timed out: linearizability not decided; visualization: %s", vis)
	}
	t.Logf("%s: faults %v; %d ops (%d unknown), last_seq %d; hashes %v; porcupine %s; %d proxied connections not attributed",
		name, nm.counts, len(ops), counts[unknown], lastSeq, hashes, res, c.nw.unattributed.Load())
}

// porcupineTimeout bounds the linearizability check.
func porcupineTimeout(d time.Duration) time.Duration {
	return min(max(30*time.Second, d), 5*time.Minute)
}

// dumpHistory writes every op, in call order, next to the visualization.
func dumpHistory(t *testing.T, ops []*op, dir, name string) {
	sorted := slices.Clone(ops)
	slices.SortFunc(sorted, func(a, b *op) int { return int(a.call - b.call) })
	var sb strings.Builder
	for _, o := range sorted {
		sb.WriteString(o.String())
		sb.WriteByte('\n')
	}
	path := filepath.Join(dir, name+".history.txt")
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Logf("write history: %v", err)
		return
	}
	t.Logf("history: %s", path)
}
