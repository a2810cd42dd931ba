package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/metasrv/metasrv/internal/clustertest"
)

// A snapshot is taken once the log since the last one is as large as that
// snapshot, not merely after snapshot_logs_since_last entries.
func TestSnapshotTakenByLogSize(t *testing.T) {
	c := clustertest.New(t, 1, clustertest.Options{SnapshotLogsSinceLast: 20, MaxAppliedLogToKeep: 5})
	n := c.Node(c.WaitLeader())
	big := strings.Repeat("v", 8<<10)
	for i := range 30 {
		mustPut(t, n.Server, fmt.Sprintf("big/%02d", i), big)
	}
	first, err := n.Server.TriggerSnapshot(c.Ctx())
	if err != nil {
		t.Fatal(err)
	}
	size := n.Storage.SnapshotSize()
	if size < 30*8<<10 {
		t.Fatalf("snapshot of 240 KB of values is %d bytes", size)
	}
	snapIndex := func() uint64 {
		sn, err := n.Storage.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		return sn.GetMetadata().GetIndex()
	}

	// 60 small entries: three times snapshot_logs_since_last, but far
	// fewer bytes than the snapshot.
	for i := range 60 {
		mustPut(t, n.Server, fmt.Sprintf("small/%02d", i), "x")
	}
	// The apply goroutine decides on a snapshot after the batch it applied:
	// once a later write is acknowledged, the decision for the earlier
	// ones was taken.
	mustPut(t, n.Server, "small/last", "x")
	if n.Server.Stats().ApplyingSnapshot || snapIndex() != first {
		t.Fatalf("a snapshot was taken after 61 small entries (%d bytes of snapshot): index %d, was %d",
			size, snapIndex(), first)
	}

	// As many bytes of log as the snapshot holds: a snapshot is due.
	for i := 0; int64(i)*8<<10 < size+8<<10; i++ {
		mustPut(t, n.Server, fmt.Sprintf("big/%02d", i%30), big)
	}
	c.Eventually(func() bool { return snapIndex() > first }, "a snapshot once the log is as large as the last one")
}
