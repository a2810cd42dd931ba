package server

import (
	"sync"

	"github.com/metasrv/metasrv/internal/statemachine"
)

// proposals maps the request id of an in-flight proposal to the channel its
// result is delivered on. The apply goroutine triggers; request goroutines
// register and always cancel (see Server.propose).
type proposals struct {
	mu struct {
		sync.Mutex
		m map[uint64]pending
	}
}

// pending is one waiting proposal and the raft term it was made in.
type pending struct {
	ch   chan *statemachine.Result
	term uint64
}

func newProposals() *proposals {
	p := &proposals{}
	p.mu.m = make(map[uint64]pending)
	return p
}

// register adds a waiter for proposal id, made while term was current.
func (p *proposals) register(id, term uint64) <-chan *statemachine.Result {
	ch := make(chan *statemachine.Result, 1)
	p.mu.Lock()
	p.mu.m[id] = pending{ch: ch, term: term}
	p.mu.Unlock()
	return ch
}

// failBefore fails every proposal made in a term before term. Called by the
// apply goroutine when it applies the first entry of a new term: the new
// leader's log holds every older entry that can still commit, before that
// entry, so a proposal of an older term that has not been applied by then
// was lost with the old leader. The error still says the outcome is
// unknown: the term a proposal records can lag the one raft forwarded it in.
func (p *proposals) failBefore(term uint64, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, w := range p.mu.m {
		if w.term < term {
			w.ch <- &statemachine.Result{Err: err}
			delete(p.mu.m, id)
		}
	}
}

func (p *proposals) cancel(id uint64) {
	p.mu.Lock()
	delete(p.mu.m, id)
	p.mu.Unlock()
}

// trigger delivers res to the waiter of id, if there is one. Never blocks.
func (p *proposals) trigger(id uint64, res *statemachine.Result) {
	p.mu.Lock()
	w, ok := p.mu.m[id]
	delete(p.mu.m, id)
	p.mu.Unlock()
	if ok {
		w.ch <- res
	}
}

// appliedWait lets goroutines wait until the applied index reaches a value.
type appliedWait struct {
	mu struct {
		sync.Mutex
		applied uint64
		waiters map[uint64]chan struct{}
	}
}

func newAppliedWait(applied uint64) *appliedWait {
	w := &appliedWait{}
	w.mu.applied = applied
	w.mu.waiters = make(map[uint64]chan struct{})
	return w
}

var closedC = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// wait returns a channel closed once the applied index is >= index.
func (w *appliedWait) wait(index uint64) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.applied >= index {
		return closedC
	}
	ch, ok := w.mu.waiters[index]
	if !ok {
		ch = make(chan struct{})
		w.mu.waiters[index] = ch
	}
	return ch
}

// trigger records the applied index and releases every waiter it satisfies.
func (w *appliedWait) trigger(applied uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if applied <= w.mu.applied {
		return
	}
	w.mu.applied = applied
	for idx, ch := range w.mu.waiters {
		if idx <= applied {
			close(ch)
			delete(w.mu.waiters, idx)
		}
	}
}
