package transport

import (
	"sync"

	"go.etcd.io/raft/v3"
)

// reporter calls a Handler's ReportUnreachable and ReportSnapshot from its
// own goroutine, so that Send, which runs on the raft node's Ready loop,
// never calls back into the node. Unreachable reports for one peer coalesce
// while pending: a down peer costs one report per round, not one per
// dropped message. Snapshot reports are delivered one each, in order.
type reporter struct {
	h     Handler
	wakeC chan struct{} // capacity 1: "something is pending"
	// queued and done, when set, are called as a report is queued (one
	// that coalesces with a pending one is not) and once it was made or
	// discarded: MemNetwork counts reports in flight with them.
	queued, done func()
	mu           struct {
		sync.Mutex
		unreachable []uint64 // ids in report order, each at most once
		pending     map[uint64]bool
		snapshots   []snapshotReport
		stopped     bool // run returned: reports are dropped
	}
}

type snapshotReport struct {
	id     uint64
	status raft.SnapshotStatus
}

func newReporter(h Handler) *reporter {
	r := &reporter{h: h, wakeC: make(chan struct{}, 1)}
	r.mu.pending = make(map[uint64]bool)
	return r
}

// unreachable queues a ReportUnreachable(id).
func (r *reporter) unreachable(id uint64) {
	r.mu.Lock()
	if !r.mu.pending[id] && !r.mu.stopped {
		r.mu.pending[id] = true
		r.mu.unreachable = append(r.mu.unreachable, id)
		r.count(r.queued)
	}
	r.mu.Unlock()
	r.wake()
}

// snapshot queues a ReportSnapshot(id, status).
func (r *reporter) snapshot(id uint64, status raft.SnapshotStatus) {
	r.mu.Lock()
	if r.mu.stopped {
		r.mu.Unlock()
		return
	}
	r.mu.snapshots = append(r.mu.snapshots, snapshotReport{id, status})
	r.count(r.queued)
	r.mu.Unlock()
	r.wake()
}

// count calls f (queued or done) if it is set.
func (r *reporter) count(f func()) {
	if f != nil {
		f()
	}
}

func (r *reporter) wake() {
	select {
	case r.wakeC <- struct{}{}:
	default:
	}
}

// run delivers reports until stopC is closed; what is pending then is
// discarded.
func (r *reporter) run(stopC <-chan struct{}) {
	for {
		select {
		case <-r.wakeC:
		case <-stopC:
			r.mu.Lock()
			for range len(r.mu.unreachable) + len(r.mu.snapshots) {
				r.count(r.done)
			}
			r.mu.unreachable, r.mu.snapshots = nil, nil
			r.mu.stopped = true
			r.mu.Unlock()
			return
		}
		r.mu.Lock()
		ids, snaps := r.mu.unreachable, r.mu.snapshots
		r.mu.unreachable, r.mu.snapshots = nil, nil
		clear(r.mu.pending)
		r.mu.Unlock()
		for _, id := range ids {
			r.h.ReportUnreachable(id)
			r.count(r.done)
		}
		for _, s := range snaps {
			r.h.ReportSnapshot(s.id, s.status)
			r.count(r.done)
		}
	}
}
