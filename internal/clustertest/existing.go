package clustertest

import (
	"slices"
	"testing"

	"github.com/metasrv/metasrv/internal/transport"
)

// NewOnDirs starts a cluster on raft_dirs that already hold cluster state,
// node id on dirs[id]: each node restarts from its directory (single and
// join are ignored), as nodes restored by backup.Import do. The
// directories must use the cluster name "test" and list the nodes' raft
// addresses as Addr(id). It waits for a leader.
func NewOnDirs(t testing.TB, dirs map[uint64]string, opts ...Options) *Cluster {
	t.Helper()
	c := &Cluster{t: t, Net: transport.NewMemNetwork()}
	if len(opts) > 0 {
		c.opts = opts[0]
	}
	// The defaults of New.
	if c.opts.SnapshotLogsSinceLast == 0 {
		c.opts.SnapshotLogsSinceLast = 1000
	}
	if c.opts.MaxAppliedLogToKeep == 0 {
		c.opts.MaxAppliedLogToKeep = 100
	}
	c.mu.nodes = make(map[uint64]*Node)
	t.Cleanup(c.StopAll)

	ids := make([]uint64, 0, len(dirs))
	for id := range dirs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		c.Start(id, dirs[id], false)
	}
	c.WaitLeader()
	return c
}
