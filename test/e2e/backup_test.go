package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metasrv/metasrv/api/metapb"
)

// A backup of a 3-node cluster taken under writes, restored into a new
// 3-node cluster with other ids and ports, holds exactly the exported keys,
// seqs and expiries, and the new cluster goes on from the exported seq.
func TestBackupRestoreNewCluster(t *testing.T) {
	t.Parallel()
	c := newGuideCluster(t, clusterOptions{})
	n1, n2, n3 := c.node(1), c.node(2), c.node(3)
	n1.start()
	c.waitLeader(n1)
	startTogether(t, n2, n3)
	c.waitVoters(c.nodes, 1, 2, 3)
	c.waitLeader(c.nodes...)

	// Keys with and without expiry, then writes that go on during export.
	for i := 0; i < 50; i++ {
		ctx, cancel := contextWithTimeout(10 * time.Second)
		req := &metapb.UpsertRequest{Key: fmt.Sprintf("bk/ttl/%02d", i), Value: []byte("lease"), TtlMs: 3_600_000}
		if i%2 == 0 {
			req = &metapb.UpsertRequest{Key: fmt.Sprintf("bk/plain/%02d", i), Value: []byte{0xff, byte(i)}}
		}
		_, err := n1.meta().Upsert(ctx, req)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = n2.upsertTimeout(fmt.Sprintf("bk/live/%04d", i), "v", 5*time.Second)
		}
	}()
	dump := filepath.Join(c.dir, "backup.jsonl")
	res := runCmd(t, c.dir, time.Minute, metactlBin(t), "--grpc-api-address", n3.grpcAddr(), "--timeout", "30s",
		"export", "--db", dump)
	close(stop)
	wg.Wait()
	if res.code != 0 {
		t.Fatalf("export: exit %d: %s", res.code, res.stderr)
	}

	// The new cluster: ids 11, 12, 13 on fresh ports.
	ids := []uint64{11, 12, 13}
	p := map[uint64]nodePorts{}
	var initial, grpcs []string
	for _, id := range ids {
		p[id] = newNodePorts(t)
		initial = append(initial, fmt.Sprintf("%d=localhost:%d", id, p[id].raft))
		grpcs = append(grpcs, fmt.Sprintf("%d=127.0.0.1:%d", id, p[id].grpc))
	}
	var restored []*node
	for _, id := range ids {
		dir := fmt.Sprintf("./_restored%d", id)
		res := runCmd(t, c.dir, time.Minute, metactlBin(t), "import", "--raft-dir", dir, "--db", dump,
			"--id", strconv.FormatUint(id, 10), "--initial-cluster", strings.Join(initial, ","),
			"--initial-grpc", strings.Join(grpcs, ","))
		if res.code != 0 {
			t.Fatalf("import node %d: exit %d: %s", id, res.code, res.stderr)
		}
		restored = append(restored, newRestoredNode(t, id, c.dir, dir, fmt.Sprintf("./_restored_logs%d", id), p[id]))
	}
	startTogether(t, restored...)
	leader := c.waitLeader(restored...)

	// Every node of the new cluster exports exactly the backup's keys.
	want := dumpLines(t, dump)
	for _, n := range restored {
		again := filepath.Join(c.dir, fmt.Sprintf("again%d.jsonl", n.id))
		res := runCmd(t, c.dir, time.Minute, metactlBin(t), "--grpc-api-address", n.grpcAddr(), "--timeout", "30s",
			"export", "--db", again)
		if res.code != 0 {
			t.Fatalf("export from restored node %d: exit %d: %s", n.id, res.code, res.stderr)
		}
		got := dumpLines(t, again)
		if len(got.kvs) != len(want.kvs) {
			t.Fatalf("node %d holds %d keys, the backup %d", n.id, len(got.kvs), len(want.kvs))
		}
		for i := range want.kvs {
			if got.kvs[i] != want.kvs[i] {
				t.Fatalf("node %d key line %d:\n got  %s\n want %s", n.id, i, got.kvs[i], want.kvs[i])
			}
		}
		if got.lastSeq != want.lastSeq {
			t.Errorf("node %d last_seq %d, backup %d", n.id, got.lastSeq, want.lastSeq)
		}
	}
	if !strings.Contains(strings.Join(want.kvs, "\n"), `"expire_at_ms"`) {
		t.Error("the backup holds no expiring key: the test wrote some")
	}
	// Writes go on from the exported seq.
	r, err := leader.upsert("bk/after", "x")
	if err != nil {
		t.Fatal(err)
	}
	if r.GetResult().GetSeq() != want.lastSeq+1 {
		t.Errorf("first write after restore got seq %d, want %d", r.GetResult().GetSeq(), want.lastSeq+1)
	}
	ms, err := restored[0].members()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 3 || ms[0].GetId() != 11 || ms[0].GetGrpcAddress() == "" {
		t.Errorf("members of the restored cluster: %v", ms)
	}
}

type dumpContent struct {
	kvs     []string // the kv lines, as written
	lastSeq uint64
}

func dumpLines(t *testing.T, path string) dumpContent {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var d dumpContent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var line struct {
			Type    string `json:"type"`
			LastSeq uint64 `json:"last_seq"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		switch line.Type {
		case "kv":
			d.kvs = append(d.kvs, sc.Text())
		case "footer":
			d.lastSeq = line.LastSeq
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return d
}
