package raftnode

import (
	"sync"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// appendTracker measures, on the leader, the time from sending a MsgApp to
// a follower until the follower acknowledges its last entry: the append
// latency per peer. Sends are recorded from the Ready loop, acks from the
// transport's goroutines.
type appendTracker struct {
	observe func(peer uint64, d time.Duration)
	mu      struct {
		sync.Mutex
		inflight map[uint64][]sentAppend // per peer, ascending index
	}
}

type sentAppend struct {
	index uint64 // last entry index carried
	at    time.Time
}

// maxTrackedAppends bounds the sends remembered per peer: a follower that
// does not answer must not grow the tracker.
const maxTrackedAppends = 256

func newAppendTracker(observe func(uint64, time.Duration)) *appendTracker {
	t := &appendTracker{observe: observe}
	t.mu.inflight = make(map[uint64][]sentAppend)
	return t
}

// sent records the MsgApps among msgs that carry entries.
func (t *appendTracker) sent(msgs []*raftpb.Message, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range msgs {
		if m.GetType() != raftpb.MsgApp || len(m.Entries) == 0 {
			continue
		}
		last := m.Entries[len(m.Entries)-1].GetIndex()
		q := t.mu.inflight[m.GetTo()]
		if len(q) > 0 && q[len(q)-1].index >= last {
			continue // a resend after a rejection: keep the first send time
		}
		if len(q) >= maxTrackedAppends {
			q = q[1:]
		}
		t.mu.inflight[m.GetTo()] = append(q, sentAppend{index: last, at: now})
	}
}

// acked handles a MsgAppResp: every tracked send up to its index is done.
func (t *appendTracker) acked(m *raftpb.Message, now time.Time) {
	if m.GetType() != raftpb.MsgAppResp || m.GetReject() {
		return
	}
	t.mu.Lock()
	q := t.mu.inflight[m.GetFrom()]
	i := 0
	for ; i < len(q) && q[i].index <= m.GetIndex(); i++ {
		t.observe(m.GetFrom(), now.Sub(q[i].at))
	}
	t.mu.inflight[m.GetFrom()] = q[i:]
	t.mu.Unlock()
}
