package statemachine

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/tidwall/btree"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/api/peerpb"
)

// DefaultHistorySize is the number of most recent events a state machine
// keeps for watches that resume (EventsBetween) when New is not given
// WithHistorySize.
const DefaultHistorySize = 10000

// Option configures a StateMachine in New.
type Option func(*options)

type options struct {
	historySize int
	retentionMs uint64
}

// DefaultHistoryRetention is how long a change stays in the history
// when New is not given WithHistoryRetention: twice Kubernetes'
// compaction interval (its apiserver compacts every 5 minutes to the
// revision of 5 minutes before), so the revision a Kubernetes compaction
// names is still held, and its own Compact decides.
const DefaultHistoryRetention = 10 * time.Minute

// WithHistoryRetention sets how long, by the entries' time (the leader's
// clock, so every node drops the same changes at the same entry), a
// change stays in the history: at every entry, the changes older than
// the largest entry time less d are dropped. 0 (or less) keeps them
// until WithHistorySize or a Compact drops them. Default
// DefaultHistoryRetention; give every node the same value.
func WithHistoryRetention(d time.Duration) Option {
	return func(o *options) { o.retentionMs = uint64(max(d.Milliseconds(), 0)) }
}

// WithHistorySize sets how many of the most recent events (changes of any
// key) the state machine keeps so that a watch can resume from a revision
// with EventsBetween. Default DefaultHistorySize; 0 (or less) keeps none,
// so every resume older than the next change is ErrCompacted. The history is
// part of the replicated state (snapshot, Hash): give every node of a
// cluster the same size. Memory: the events hold the previous and current
// values, so a large size with large values costs a lot.
func WithHistorySize(n int) Option {
	return func(o *options) { o.historySize = max(n, 0) }
}

// FirstRevision is the revision of an empty store, as etcd's: the first
// entry that changes a key takes FirstRevision + 1.
const FirstRevision = 1

// histChunk is the number of changes in one chunk of the history.
const histChunk = 256

// history is the bounded list of the most recent changes, oldest first,
// in the order they were made; their revisions ascend (the changes of one
// entry share one). compacted is the largest revision some of whose
// changes are missing: the history holds every change with a revision
// above it and none at or below it. Dropping the oldest change raises it
// to that change's revision, and drops the other changes of that
// revision with it (so the history may hold a few less than its limit).
//
// The changes live in fixed-size chunks written append-only: a slot, once
// written, never changes, and dropping the oldest only moves off. So a
// clone (a copy of the chunk list, O(n/histChunk)) taken under the lock
// stays valid without the lock while Apply keeps appending.
type history struct {
	// chunks[0][off:] ... chunks[len-1] hold the n changes; every chunk
	// has capacity histChunk and only the last one may be partly filled.
	chunks    [][]change
	off       int
	n         int
	compacted uint64
}

// push appends c and drops the oldest changes beyond limit.
func (h *history) push(c change, limit int) {
	if limit <= 0 {
		h.compacted = max(h.compacted, c.rev)
		return
	}
	if k := len(h.chunks); k == 0 || len(h.chunks[k-1]) == histChunk {
		h.chunks = append(h.chunks, make([]change, 0, histChunk))
	}
	last := len(h.chunks) - 1
	h.chunks[last] = append(h.chunks[last], c)
	h.n++
	for h.n > limit || (h.n > 0 && h.at(0).rev <= h.compacted) {
		h.dropOldest()
	}
}

// pruneBefore drops the oldest changes made before the entry time
// cutoffMs, with the other changes of their revisions.
func (h *history) pruneBefore(cutoffMs uint64) {
	for h.n > 0 && (h.at(0).ms < cutoffMs || h.at(0).rev <= h.compacted) {
		h.dropOldest()
	}
}

// compactTo drops every change below rev: the history then holds every
// change at rev or above, and none below (compacted >= rev - 1).
func (h *history) compactTo(rev uint64) {
	h.compacted = max(h.compacted, rev-1)
	for h.n > 0 && h.at(0).rev <= h.compacted {
		h.dropOldest()
	}
}

// compactRevision is etcd's compact revision: the oldest revision that
// can be read (Range at it) or watched from.
func (h *history) compactRevision() uint64 { return h.compacted + 1 }

// dropOldest forgets the oldest change. The slot is not cleared: a clone
// may still read it.
func (h *history) dropOldest() {
	h.compacted = max(h.compacted, h.at(0).rev)
	h.off++
	h.n--
	if h.off == histChunk {
		h.chunks[0] = nil
		h.chunks = h.chunks[1:]
		h.off = 0
	}
	if h.n == 0 {
		*h = history{compacted: h.compacted}
	}
}

// at returns the i-th oldest change, 0 <= i < n.
func (h *history) at(i int) *change {
	j := h.off + i
	return &h.chunks[j/histChunk][j%histChunk]
}

// clone returns a copy that later pushes and drops do not affect.
func (h *history) clone() history {
	return history{chunks: slices.Clone(h.chunks), off: h.off, n: h.n, compacted: h.compacted}
}

// search returns the index of the oldest change with revision >= rev (n
// when there is none).
func (h *history) search(rev uint64) int {
	return sort.Search(h.n, func(i int) bool { return h.at(i).rev >= rev })
}

// event returns c as a watch event; the caller owns it.
func (c *change) event() *metapb.Event {
	return &metapb.Event{Key: c.key, Seq: c.seq(), Prev: c.prev.seqV(), Current: c.cur.seqV(), Revision: c.rev}
}

// pruneLocked drops the changes older than the retention
// (WithHistoryRetention) by the largest entry time.
func (sm *StateMachine) pruneLocked() {
	if r := sm.retentionMs; r > 0 && sm.mu.nowMs > r {
		sm.mu.hist.pruneBefore(sm.mu.nowMs - r)
	}
}

// CompactReply is the result of a compact command.
type CompactReply struct {
	// CompactRevision is etcd's compact revision after the command: the
	// oldest revision a Range or a watch may ask for.
	CompactRevision uint64
	// Revision is the store's revision (a compaction takes none).
	Revision uint64
}

// compactLocked drops the history below rev (etcd's Compact): a rev
// beyond the revision is ErrFutureRevision, one already compacted (below
// the compact revision, or at it once anything was dropped) ErrCompacted.
func (sm *StateMachine) compactLocked(req *peerpb.CompactRequest) (*CompactReply, error) {
	rev, cur := req.GetRevision(), sm.mu.revision
	h := &sm.mu.hist
	switch {
	case rev > cur:
		return nil, fmt.Errorf("%w: compact at revision %d, the store is at %d", ErrFutureRevision, rev, cur)
	case rev < h.compactRevision() || (rev == h.compactRevision() && h.compacted > 0):
		return nil, &CompactedError{CompactRevision: h.compactRevision(), detail: fmt.Sprintf(
			"compact at revision %d: the history is compacted up to revision %d already", rev, h.compactRevision())}
	}
	h.compactTo(rev)
	return &CompactReply{CompactRevision: h.compactRevision(), Revision: cur}, nil
}

// CompactRevision returns etcd's compact revision: the oldest revision a
// Range at a revision or a watch may ask for (the history holds every
// change from it on).
func (sm *StateMachine) CompactRevision() uint64 {
	sm.mu.RLock()
	defer sm.mu.RUnlock()
	return sm.mu.hist.compactRevision()
}

// treeAt returns a copy of tree (the current keys, changed by pending
// since the history's last change) as of revision rev, undoing the
// changes after it, newest first: O(changes after rev). A rev the history
// no longer reaches is a CompactedError.
func treeAt(tree *btree.BTreeG[kv], h *history, pending []change, rev uint64) (*btree.BTreeG[kv], error) {
	if rev <= h.compacted {
		return nil, &CompactedError{CompactRevision: h.compactRevision(), detail: fmt.Sprintf(
			"revision %d: the history holds revision %d on", rev, h.compactRevision())}
	}
	t := tree.Copy()
	undo := func(c *change) {
		if c.prev.present() {
			t.Set(c.prev)
		} else {
			t.Delete(keyOnly(c.key))
		}
	}
	for i := len(pending) - 1; i >= 0; i-- {
		undo(&pending[i])
	}
	for i := h.n - 1; i >= 0 && h.at(i).rev > rev; i-- {
		undo(h.at(i))
	}
	return t, nil
}

// recordChangesLocked ends the entry: if it changed a key it takes its
// revision, and its changes enter the history. If events, it returns them
// as events, in the order made (nil when there are none, or !events).
func (sm *StateMachine) recordChangesLocked(events bool) []*metapb.Event {
	if len(sm.mu.changes) == 0 {
		return nil
	}
	sm.mu.revision = sm.entryRevLocked()
	var out []*metapb.Event
	if events {
		out = make([]*metapb.Event, len(sm.mu.changes))
	}
	for i := range sm.mu.changes {
		c := &sm.mu.changes[i]
		if events {
			out[i] = c.event()
		}
		sm.mu.hist.push(*c, sm.historySize)
	}
	return out
}

// EventsBetween calls fn for every change with from <= revision <= to, in
// the order made, until fn returns false; the events come from the
// bounded history (WithHistorySize). fn owns each event. No lock is held
// while fn runs (it iterates a copy taken at one point of the log), so fn
// may call any method; Apply goes on meanwhile and its events are not
// seen.
//
// from 0 is read as 1. When from is beyond Revision there is nothing to
// replay: fn is not called and the result is nil. When the history no
// longer holds every change with revision >= from (older ones were
// dropped to keep it bounded, or the state was restored without them),
// it returns an error wrapping ErrCompacted and calls nothing. to beyond
// Revision is read as Revision.
//
// The history and Revision change together under one lock: a caller that
// reads Revision (or a View) and then calls EventsBetween(x, that
// revision) sees every change up to it, or ErrCompacted.
func (sm *StateMachine) EventsBetween(from, to uint64, fn func(*metapb.Event) bool) error {
	sm.mu.RLock()
	rev := sm.mu.revision
	h := sm.mu.hist.clone()
	sm.mu.RUnlock()

	from = max(from, 1)
	if from > rev {
		return nil
	}
	if from <= h.compacted {
		return &CompactedError{CompactRevision: h.compactRevision(), detail: fmt.Sprintf(
			"changes from revision %d were dropped; the history holds revision %d to %d; "+
				"re-read the current state and watch from its revision + 1", from, h.compacted+1, rev)}
	}
	to = min(to, rev)
	for i := h.search(from); i < h.n; i++ {
		c := h.at(i)
		if c.rev > to || !fn(c.event()) {
			return nil
		}
	}
	return nil
}
