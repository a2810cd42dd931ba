package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWALSegmentSize starts a node with raft_config.wal_segment_size set
// to 1 MiB: its WAL segment, and the next one it makes ready, take 1 MiB
// each instead of 64 MB.
func TestWALSegmentSize(t *testing.T) {
	t.Parallel()
	const size = 1 << 20
	dir := t.TempDir()
	p := newNodePorts(t)
	writeFile(t, dir, "node.toml", setKey(singleConfig(p), "raft_config", "wal_segment_size", "1048576"))
	n := newNode(t, 1, dir, []string{"-c", "node.toml"}, p.raft, p.grpc, p.admin)
	n.start()
	(&cluster{t: t, dir: dir, nodes: []*node{n}}).waitLeader(n)
	n.mustUpsert("wal/key", "value")

	walDir := filepath.Join(dir, "_meta", "wal")
	var total int64
	// The next segment (0.tmp) is made ready in the background.
	waitFor(t, clusterTimeout, "the WAL to hold a segment and the next one", func() error {
		total = 0
		des, err := os.ReadDir(walDir)
		if err != nil {
			return err
		}
		var names []string
		for _, de := range des {
			fi, err := de.Info()
			if err != nil {
				return err
			}
			names = append(names, de.Name())
			total += fi.Size()
			if fi.Size() > size {
				t.Fatalf("%s is %d bytes, want at most %d", de.Name(), fi.Size(), size)
			}
		}
		if len(names) != 2 || (!strings.HasSuffix(names[0], ".tmp") && !strings.HasSuffix(names[1], ".tmp")) {
			return fmt.Errorf("wal/ holds %v", names)
		}
		return nil
	})
	if total != 2*size {
		t.Errorf("wal/ takes %d bytes, want %d", total, 2*size)
	}
	if code := n.stop(); code != 0 {
		t.Fatalf("%v: exit code %d after SIGTERM, want 0", n, code)
	}
}
