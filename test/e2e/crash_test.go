//go:build linux

package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/proctest"
)

// Crash safety with the real binaries: damage on disk is refused with one
// line saying how to recover, `databend-metactl repair` brings a node back,
// a failed fsync and a full disk stop the node without losing a write it
// acknowledged, and it serves again once the cause is gone.

// waitExit waits for n's process to exit and returns its exit code and the
// lines it printed that start with "databend-meta: " (main's one-line
// errors, as opposed to log lines).
func waitExit(t testing.TB, n *node, timeout time.Duration) (int, []string) {
	t.Helper()
	code := n.waitExited(timeout)
	b, err := os.ReadFile(n.out)
	if err != nil {
		t.Fatal(err)
	}
	runs := strings.Split(string(b), proctest.RunMark)
	var lines []string
	for _, l := range strings.Split(runs[len(runs)-1], "\n") {
		if strings.HasPrefix(l, "databend-meta: ") {
			lines = append(lines, l)
		}
	}
	return code, lines
}

// walRecordRe matches a line of dump-raft-log-wal: FILE@OFFSET entry term=T index=I.
var walRecordRe = regexp.MustCompile(`^(\S+\.wal)@(\d+) entry term=\d+ index=(\d+) type=normal time_ms`)

// entryRecord returns the WAL file and offset of the record of the normal
// entry with the n-th lowest index in raft_dir.
func entryRecord(t testing.TB, dir, raftDir string, n int) (string, int64) {
	t.Helper()
	res := metactl(t, dir, "dump-raft-log-wal", "--raft-dir", raftDir)
	if res.code != 0 {
		t.Fatalf("dump-raft-log-wal: exit %d: %s", res.code, res.stderr)
	}
	var seen int
	for _, l := range strings.Split(res.stdout, "\n") {
		m := walRecordRe.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if seen++; seen == n {
			off, _ := strconv.ParseInt(m[2], 10, 64)
			return m[1], off
		}
	}
	t.Fatalf("fewer than %d normal entries in %s:\n%s", n, raftDir, tail(res.stdout, 20))
	return "", 0
}

func flipByte(t testing.TB, p string, off int64) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x01
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// checkKeys reads every key of want on n (serializable: n's own state) and
// fails unless each has its value.
func checkKeys(t testing.TB, n *node, want map[string]string) {
	t.Helper()
	waitFor(t, clusterTimeout, fmt.Sprintf("%d keys on %v", len(want), n), func() error {
		for k, v := range want {
			got, err := n.get(k, metapb.ReadConsistency_SERIALIZABLE)
			if err != nil {
				return err
			}
			if string(got.GetData()) != v {
				return fmt.Errorf("%v: %s = %q, want %q", n, k, got.GetData(), v)
			}
		}
		return nil
	})
}

// checkRefusal waits for n to refuse to start on a damaged raft_dir: exit
// 1 and one line naming what is damaged and every way to recover.
func checkRefusal(t testing.TB, n *node, damaged string) string {
	t.Helper()
	code, lines := waitExit(t, n, refuseTimeout)
	if code != 1 || len(lines) != 1 {
		t.Fatalf("%v on a damaged raft_dir: exit %d, error lines %q; want exit 1 and one line", n, code, lines)
	}
	for _, w := range []string{"raft_dir is corrupt", damaged,
		"--leave-id", "join = [", "databend-metactl import", "databend-metactl repair --raft-dir"} {
		if !strings.Contains(lines[0], w) {
			t.Errorf("refusal does not say %q: %s", w, lines[0])
		}
	}
	return lines[0]
}

// TestCrashCorruptWALRejoin damages an acknowledged record in the middle of
// a follower's WAL. The follower refuses to start with one line naming the
// file and the ways to recover, changing nothing; the way for a cluster
// member, removing it and rejoining as a new node, brings every key back.
func TestCrashCorruptWALRejoin(t *testing.T) {
	t.Parallel()
	c := newGuideCluster(t, clusterOptions{})
	c.startAll()
	leader := c.waitLeader(c.nodes...)
	want := map[string]string{}
	for i := range 40 {
		k, v := fmt.Sprintf("crash/%02d", i), fmt.Sprintf("v%d", i)
		leader.mustUpsert(k, v)
		want[k] = v
	}
	f := c.nodes[0]
	if f == leader {
		f = c.nodes[1]
	}
	checkKeys(t, f, want)
	if code := f.stop(); code != 0 {
		t.Fatalf("%v: exit %d after SIGTERM", f, code)
	}
	for i := 40; i < 50; i++ { // the cluster goes on without it
		k, v := fmt.Sprintf("crash/%02d", i), fmt.Sprintf("v%d", i)
		leader.mustUpsert(k, v)
		want[k] = v
	}

	raftDir := filepath.Join(c.dir, fmt.Sprintf("_meta%d", f.id))
	file, off := entryRecord(t, c.dir, raftDir, 10)
	flipByte(t, filepath.Join(raftDir, "wal", file), off+40)
	before := dirListing(t, filepath.Join(raftDir, "wal"))
	f.start()
	checkRefusal(t, f, filepath.Join("wal", file))
	if d := diffListings(before, dirListing(t, filepath.Join(raftDir, "wal"))); d != "" {
		t.Fatalf("a refused start changed the WAL:\n%s", d)
	}

	// Way 1: remove it from the cluster, start it afresh with a new id.
	res := runCmd(t, c.dir, 90*time.Second, metaBin(t), "--leave-id", strconv.FormatUint(f.id, 10), "--leave-via", leader.raftAddr())
	if res.code != 0 {
		t.Fatalf("--leave-id %d: exit %d: %s%s", f.id, res.code, res.stdout, res.stderr)
	}
	if err := os.RemoveAll(raftDir); err != nil {
		t.Fatal(err)
	}
	raftPort, grpcPort, adminPort, metricPort := freePort(t), freePort(t), freePort(t), freePort(t)
	n4 := newNode(t, 4, c.dir, []string{
		"--id", "4",
		"--raft-dir", raftDir, // the same directory, emptied
		"--log-dir", "./_logs4",
		"--raft-api-port", strconv.Itoa(raftPort),
		"--raft-listen-host", "127.0.0.1",
		"--raft-advertise-host", "localhost",
		"--grpc-api-address", fmt.Sprintf("127.0.0.1:%d", grpcPort),
		"--admin-api-address", fmt.Sprintf("127.0.0.1:%d", adminPort),
		"--metric-api-address", fmt.Sprintf("127.0.0.1:%d", metricPort),
		"--heartbeat-interval", strconv.Itoa(heartbeatMs),
		"--join", leader.raftAddr(),
	}, raftPort, grpcPort, adminPort)
	n4.start()
	checkKeys(t, n4, want)
	leader = c.waitLeader(append(c.running(), n4)...)
	leader.mustUpsert("crash/after", "x")
	want["crash/after"] = "x"
	checkKeys(t, n4, want)
}

// TestCrashCorruptWALRepairSingle damages an acknowledged record in the
// middle of a single node's WAL: it refuses to start; `databend-metactl
// repair` keeps the intact part, says which writes are lost, and the node
// starts with the keys written before the damage and takes writes.
func TestCrashCorruptWALRepairSingle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := newNodePorts(t)
	writeFile(t, dir, "node.toml", singleConfig(p))
	n := newNode(t, 1, dir, []string{"-c", "node.toml"}, p.raft, p.grpc, p.admin)
	c := &cluster{t: t, dir: dir, nodes: []*node{n}}
	n.start()
	c.waitLeader(n)
	for i := range 30 {
		n.mustUpsert(fmt.Sprintf("single/%02d", i), fmt.Sprintf("v%d", i))
	}
	if code := n.stop(); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	raftDir := filepath.Join(dir, "_meta")
	// The 12th normal entry: the node's no-op entries are empty, so it is
	// an upsert among the first ones.
	file, off := entryRecord(t, dir, raftDir, 12)
	flipByte(t, filepath.Join(raftDir, "wal", file), off+40)
	n.start()
	checkRefusal(t, n, filepath.Join("wal", file))

	res := metactl(t, dir, "repair", "--raft-dir", raftDir)
	if res.code != 0 {
		t.Fatalf("repair: exit %d: %s%s", res.code, res.stdout, res.stderr)
	}
	for _, w := range []string{"damage: WAL file", "cut ", "WARNING", "lost on this node", "single-node cluster"} {
		if !strings.Contains(res.stdout, w) {
			t.Errorf("repair output does not say %q:\n%s", w, res.stdout)
		}
	}
	t.Logf("repair:\n%s", res.stdout)

	n.start()
	c.waitLeader(n)
	kvs, err := n.list("single/", metapb.ReadConsistency_LINEARIZABLE)
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) == 0 || len(kvs) >= 30 {
		t.Fatalf("after a lossy repair: %d keys, want the ones before the damage", len(kvs))
	}
	for i, kv := range kvs { // a prefix of the writes, in order
		if want := fmt.Sprintf("single/%02d", i); kv.GetKey() != want || string(kv.GetValue().GetData()) != fmt.Sprintf("v%d", i) {
			t.Fatalf("key %d: %s = %q, want %s", i, kv.GetKey(), kv.GetValue().GetData(), want)
		}
	}
	t.Logf("%d of 30 keys kept", len(kvs))
	n.mustUpsert("single/after", "x")
}

// TestCrashDamagedSnapshotFallback damages the newest snapshot file of a
// stopped node whose WAL still holds the log from the older snapshot: the
// node starts from the older one, replays the log, and serves every key.
func TestCrashDamagedSnapshotFallback(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := newNodePorts(t)
	writeFile(t, dir, "node.toml", singleConfig(p)+"snapshot_logs_since_last = 20\nmax_applied_log_to_keep = 1000\n")
	n := newNode(t, 1, dir, []string{"-c", "node.toml"}, p.raft, p.grpc, p.admin)
	c := &cluster{t: t, dir: dir, nodes: []*node{n}}
	n.start()
	c.waitLeader(n)
	want := map[string]string{}
	snapDir := filepath.Join(dir, "_meta", "snap")
	for i := 0; ; i++ {
		k, v := fmt.Sprintf("snap/%03d", i), fmt.Sprintf("v%d", i)
		n.mustUpsert(k, v)
		want[k] = v
		names, _ := filepath.Glob(filepath.Join(snapDir, "*.snap"))
		if len(names) >= 2 && i >= 60 {
			break
		}
		if i > 500 {
			t.Fatalf("no 2 snapshots after %d writes: %v", i, names)
		}
	}
	if code := n.stop(); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	names, _ := filepath.Glob(filepath.Join(snapDir, "*.snap"))
	newest := names[len(names)-1]
	st, err := os.Stat(newest)
	if err != nil {
		t.Fatal(err)
	}
	flipByte(t, newest, st.Size()/2)

	n.start()
	c.waitLeader(n)
	checkKeys(t, n, want)
	if _, err := os.Stat(newest + ".broken"); err != nil {
		t.Errorf("the damaged snapshot was not set aside: %v", err)
	}
	n.mustUpsert("snap/after", "x")
}

// TestCrashFsyncFails makes the WAL's fdatasync fail (EIO, injected into
// the running process with strace). The node must stop with exit 1 and one
// line, never carry on; restarted, it holds every acknowledged write.
func TestCrashFsyncFails(t *testing.T) {
	t.Parallel()
	strace, err := exec.LookPath("strace")
	if err != nil {
		proctest.MissingTool(t, "strace not found: this test injects the fsync failure into the real process with it; "+
			"install it with `make test-deps` (apt-get install strace, as root)")
	}
	dir := t.TempDir()
	p := newNodePorts(t)
	writeFile(t, dir, "node.toml", singleConfig(p))
	n := newNode(t, 1, dir, []string{"-c", "node.toml"}, p.raft, p.grpc, p.admin)
	c := &cluster{t: t, dir: dir, nodes: []*node{n}}
	n.start()
	c.waitLeader(n)
	want := map[string]string{}
	for i := range 20 {
		k, v := fmt.Sprintf("fsync/%02d", i), fmt.Sprintf("v%d", i)
		n.mustUpsert(k, v)
		want[k] = v
	}

	// From now on every fdatasync of the process fails with EIO.
	var stderr syncBuffer
	cmd := exec.Command(strace, "-f", "-p", strconv.Itoa(n.process().Pid()),
		"-e", "trace=fdatasync", "-e", "inject=fdatasync:error=EIO", "-o", filepath.Join(dir, "strace.out"))
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	straceDone := make(chan error, 1)
	go func() { straceDone <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-straceDone
	})
	if err := poll(10*time.Second, func() error {
		if strings.Contains(stderr.String(), "attached") {
			return nil
		}
		select {
		case err := <-straceDone:
			straceDone <- err
			return fmt.Errorf("strace exited: %v: %s", err, stderr.String())
		default:
		}
		return errors.New("strace has not attached yet")
	}); err != nil {
		t.Skipf("cannot attach strace to the node (%v): ptrace is not permitted here", err)
	}

	if _, err := n.upsertTimeout("fsync/failed", "x", 5*time.Second); err == nil {
		t.Error("a write was acknowledged although its fdatasync failed")
	}
	code, lines := waitExit(t, n, 20*time.Second)
	if code != 1 || len(lines) != 1 || !strings.Contains(lines[0], "input/output error") {
		t.Fatalf("after a failed fsync: exit %d, error lines %q; want exit 1 and one line with the I/O error", code, lines)
	}
	t.Logf("the node stopped: %s", lines[0])
	<-straceDone
	straceDone <- nil

	n.start()
	c.waitLeader(n)
	checkKeys(t, n, want)
	n.mustUpsert("fsync/after", "x")
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestCrashDiskFull runs a node with raft_dir on a small tmpfs and fills
// it. WAL segments are preallocated (64 MiB), so the disk shows full when
// the node writes a snapshot file: it must stop with exit 1 and one line
// naming the full disk and raft_dir. Once space is freed it starts again
// with every acknowledged write and takes snapshots again.
func TestCrashDiskFull(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs to fill needs root")
	}
	dir := t.TempDir()
	mnt := filepath.Join(dir, "disk")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	// Two preallocated WAL segments of 64 MiB and a little more.
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=136m,mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v); the full-disk test needs one", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(mnt, syscall.MNT_DETACH) }) // after the node is killed
	raftDir := filepath.Join(mnt, "meta")

	p := newNodePorts(t)
	cfg := strings.Replace(singleConfig(p), `raft_dir = "./_meta"`, "raft_dir = "+strconv.Quote(raftDir), 1)
	writeFile(t, dir, "node.toml", cfg+"snapshot_logs_since_last = 50\n")
	n := newNode(t, 1, dir, []string{"-c", "node.toml"}, p.raft, p.grpc, p.admin)
	c := &cluster{t: t, dir: dir, nodes: []*node{n}}
	n.start()
	c.waitLeader(n)
	n.mustUpsert("full/first", "x")
	// 0.tmp exists before its space is allocated: filling the disk then
	// makes the allocation fail, the WAL removes 0.tmp, and the disk has
	// 61 MB free again. Wait until it has its full size.
	waitFor(t, 10*time.Second, "the next WAL segment to be preallocated", func() error {
		fi, err := os.Stat(filepath.Join(raftDir, "wal", "0.tmp"))
		if err != nil {
			return err
		}
		if segment := int64(64 * 1000 * 1000); fi.Size() < segment { // raft_config.wal_segment_size's default
			return fmt.Errorf("0.tmp has %d of %d bytes", fi.Size(), segment)
		}
		return nil
	})

	filler := filepath.Join(mnt, "filler")
	fillDisk(t, filler)
	want := map[string]string{"full/first": "x"}
	value := strings.Repeat("v", 2000)
	for i := 0; ; i++ {
		k := fmt.Sprintf("full/%04d", i)
		r, err := n.upsertTimeout(k, value, 5*time.Second)
		if err != nil {
			break
		}
		if !r.GetApplied() {
			t.Fatalf("upsert %s not applied: %v", k, r)
		}
		want[k] = value
		if i > 2000 {
			t.Fatal("2000 writes of 2 KB on a full disk and the node still runs")
		}
	}
	code, lines := waitExit(t, n, 20*time.Second)
	if code != 1 || len(lines) != 1 {
		t.Fatalf("on a full disk: exit %d, error lines %q; want exit 1 and one line", code, lines)
	}
	for _, w := range []string{"no space left for raft_dir " + raftDir, "free space"} {
		if !strings.Contains(lines[0], w) {
			t.Errorf("error line does not say %q: %s", w, lines[0])
		}
	}
	t.Logf("%d writes acknowledged, then: %s", len(want), lines[0])

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	n.start()
	c.waitLeader(n)
	checkKeys(t, n, want)
	before, _ := filepath.Glob(filepath.Join(raftDir, "snap", "*.snap"))
	// A snapshot is due once the log since the last one is as large as
	// that snapshot: write 2 KB values until one is taken.
	i := 0
	waitFor(t, 20*time.Second, "a snapshot once space is free", func() error {
		for range 20 {
			n.mustUpsert(fmt.Sprintf("full/after/%04d", i), value)
			i++
		}
		after, _ := filepath.Glob(filepath.Join(raftDir, "snap", "*.snap"))
		if len(after) == 0 || (len(before) > 0 && after[len(after)-1] == before[len(before)-1]) {
			return fmt.Errorf("snap files %v, before %v, after %d writes", after, before, i)
		}
		return nil
	})
}

// fillDisk writes file p until its file system is full.
func fillDisk(t testing.TB, p string) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", p, err)
			}
			return
		}
	}
}
