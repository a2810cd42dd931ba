package statemachine

import (
	"fmt"
	"slices"

	"github.com/metasrv/metasrv/api/metapb"
)

// DefaultHistorySize is the number of most recent events a state machine
// keeps for watches that resume (EventsBetween) when New is not given
// WithHistorySize.
const DefaultHistorySize = 10000

// Option configures a StateMachine in New.
type Option func(*options)

type options struct {
	historySize int
}

// WithHistorySize sets how many of the most recent events (changes of any
// key) the state machine keeps so that a watch can resume from a seq with
// EventsBetween. Default DefaultHistorySize; 0 (or less) keeps none, so
// every resume older than the next change is ErrCompacted. The history is
// part of the replicated state (snapshot, Hash): give every node of a
// cluster the same size. Memory: the events hold the previous and current
// values, so a large size with large values costs a lot.
func WithHistorySize(n int) Option {
	return func(o *options) { o.historySize = max(n, 0) }
}

// histChunk is the number of changes in one chunk of the history.
const histChunk = 256

// history is the bounded list of the most recent changes, oldest first.
// Every seq is taken by exactly one change, so the seqs in the history are
// contiguous: it holds every change with seq in [lastSeq-n+1, lastSeq].
// The floor (the first seq a resume may ask for) is therefore
// lastSeq-n+1: 1 while nothing was dropped, and one more than the seq of
// the newest dropped change after that.
//
// The changes live in fixed-size chunks written append-only: a slot, once
// written, never changes, and dropping the oldest only moves off. So a
// clone (a copy of the chunk list, O(n/histChunk)) taken under the lock
// stays valid without the lock while Apply keeps appending.
type history struct {
	// chunks[0][off:] ... chunks[len-1] hold the n changes; every chunk
	// has capacity histChunk and only the last one may be partly filled.
	chunks [][]change
	off    int
	n      int
}

// push appends c and drops the oldest changes beyond limit.
func (h *history) push(c change, limit int) {
	if limit <= 0 {
		return
	}
	if k := len(h.chunks); k == 0 || len(h.chunks[k-1]) == histChunk {
		h.chunks = append(h.chunks, make([]change, 0, histChunk))
	}
	last := len(h.chunks) - 1
	h.chunks[last] = append(h.chunks[last], c)
	h.n++
	for h.n > limit {
		h.dropOldest()
	}
}

// dropOldest forgets the oldest change. The slot is not cleared: a clone
// may still read it.
func (h *history) dropOldest() {
	h.off++
	h.n--
	if h.off == histChunk {
		h.chunks[0] = nil
		h.chunks = h.chunks[1:]
		h.off = 0
	}
	if h.n == 0 {
		*h = history{}
	}
}

// at returns the i-th oldest change, 0 <= i < n.
func (h *history) at(i int) *change {
	j := h.off + i
	return &h.chunks[j/histChunk][j%histChunk]
}

// clone returns a copy that later pushes and drops do not affect.
func (h *history) clone() history {
	return history{chunks: slices.Clone(h.chunks), off: h.off, n: h.n}
}

// floor returns the smallest seq the history can replay from, given the
// last seq taken: every change with seq >= floor is held.
func (h *history) floor(lastSeq uint64) uint64 { return lastSeq - uint64(h.n) + 1 }

// event returns c as a watch event; the caller owns it.
func (c *change) event() *metapb.Event {
	return &metapb.Event{Key: c.key, Seq: c.seq, Prev: c.prev.seqV(), Current: c.cur.seqV()}
}

// recordChangesLocked adds the changes of this Apply to the history and,
// if events, returns them as events, in seq order (nil when there are
// none, or !events).
func (sm *StateMachine) recordChangesLocked(events bool) []*metapb.Event {
	if len(sm.mu.changes) == 0 {
		return nil
	}
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

// EventsBetween calls fn for every change with from <= seq <= to, in seq
// order, until fn returns false; the events come from the bounded history
// (WithHistorySize). fn owns each event. No lock is held while fn runs (it
// iterates a copy taken at one point of the log), so fn may call any
// method; Apply goes on meanwhile and its events are not seen.
//
// from 0 is read as 1. When from is beyond LastSeq there is nothing to
// replay: fn is not called and the result is nil. When the history no
// longer holds every change with seq >= from (older ones were dropped to
// keep it bounded), it returns an error wrapping ErrCompacted and calls
// nothing. to beyond LastSeq is read as LastSeq.
//
// The history and LastSeq change together under one lock: a caller that
// reads LastSeq (or a View) and then calls EventsBetween(x, that seq) sees
// every change up to that seq, or ErrCompacted.
func (sm *StateMachine) EventsBetween(from, to uint64, fn func(*metapb.Event) bool) error {
	sm.mu.RLock()
	lastSeq := sm.mu.lastSeq
	h := sm.mu.hist.clone()
	sm.mu.RUnlock()

	from = max(from, 1)
	if from > lastSeq {
		return nil
	}
	if floor := h.floor(lastSeq); from < floor {
		return fmt.Errorf("%w: changes from seq %d were dropped; the history holds seq %d to %d; "+
			"re-read the current state and watch from its seq + 1", ErrCompacted, from, floor, lastSeq)
	}
	to = min(to, lastSeq)
	first := h.floor(lastSeq)
	for seq := from; seq <= to; seq++ {
		if !fn(h.at(int(seq - first)).event()) {
			return nil
		}
	}
	return nil
}
