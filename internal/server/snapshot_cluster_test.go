package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/clustertest"
)

// A snapshot is taken once the log since the last one is as large as that
// snapshot, not merely after snapshot_logs_since_last entries.
func TestSnapshotTakenByLogSize(t *testing.T) {
	c := clustertest.New(t, 1, clustertest.Options{ManualTicks: true, SnapshotLogsSinceLast: 20, MaxAppliedLogToKeep: 5})
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

	// As many bytes of log as the snapshot holds, and the largest slack
	// (49%) on top: a snapshot is due.
	for i := 0; int64(i)*8<<10 < size*3/2+8<<10; i++ {
		mustPut(t, n.Server, fmt.Sprintf("big/%02d", i%30), big)
	}
	// The snapshot is written in the background, on no timer: wait for it.
	c.Eventually(func() bool { return snapIndex() > first }, "a snapshot once the log is as large as the last one")
}

// A node that joins after the log was compacted gets the leader's snapshot
// file streamed into its own raft_dir, restores from it, and restarts from
// it.
func TestCatchUpFromSnapshotFileThenRestart(t *testing.T) {
	c := clustertest.New(t, 3, clustertest.Options{ManualTicks: true, SnapshotLogsSinceLast: 20, MaxAppliedLogToKeep: 5})
	lead := c.WaitLeader()
	writeConcurrently(t, c, 3, 40)
	if _, err := c.Node(lead).Server.TriggerSnapshot(c.Ctx()); err != nil {
		t.Fatal(err)
	}

	n4, leader := joinAndCatchUp(t, c, 4)
	if first, _ := n4.Storage.FirstIndex(); first <= 2 {
		t.Fatalf("node 4 log starts at %d: it replayed the whole log instead of installing a snapshot", first)
	}
	sn, err := n4.Storage.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if len(sn.GetData()) > 100 || n4.Storage.SnapshotSize() == 0 {
		t.Fatalf("node 4's snapshot: %d bytes of data in memory, a file of %d bytes; want a file",
			len(sn.GetData()), n4.Storage.SnapshotSize())
	}
	mustPut(t, n4.Server, "after/install", "x")
	c.Settle()
	if got, want := n4.Server.StateMachine().AppliedIndex(), leader.AppliedIndex(); got < want {
		t.Fatalf("node 4, settled after a write, applied %d, the leader %d", got, want)
	}
	want := n4.Server.StateMachine().Hash()

	dir := c.Stop(4)
	n4 = c.Restart(4, dir)
	if got := n4.Storage.LoadedSnapshot().GetMetadata().GetIndex(); got != sn.GetMetadata().GetIndex() {
		t.Fatalf("restarted node 4 loaded snapshot %d, want the installed %d", got, sn.GetMetadata().GetIndex())
	}
	c.Tick(1) // the leader's heartbeat: node 4 learns the commit index again
	if got := n4.Server.StateMachine().Hash(); got != want {
		t.Fatalf("restarted node 4, one heartbeat later, has state hash %x, want %x", got, want)
	}
	if v := mustGet(t, n4.Server, "after/install", metapb.ReadConsistency_LINEARIZABLE); string(v.GetData()) != "x" {
		t.Fatalf("after/install = %q", v.GetData())
	}
}
