package server

import (
	"sync"
)

// tickClock runs the server's own timers on raft's ticks rather than the
// wall clock: the removal check (removal.go), the address refresh
// (refreshSelfAddress) and the lessor (lease.go). A timer of k ticks fires
// once the raft node has taken k more ticks (raftnode.Config.OnTick). In production the ticks
// come from the node's ticker, one every TickInterval, so a wait of
// ElectionTick ticks lasts an election timeout as it did on a wall-clock
// timer; with Config.Ticks it lasts until a test has given that many
// ticks, and nothing fires in between.
//
// A timer that fired counts as work under way until its goroutine
// releases it, after doing what the timer was for: Server.Settle waits
// for that, so that a test that ticks and settles sees every effect of
// the timers the ticks fired (a check asked, the node stopped, a change
// proposed).
//
// Usage, on one goroutine:
//
//	t := s.clock.after(k)
//	select {
//	case <-t.C: // k ticks passed: do the work
//	case <-other:
//	}
//	s.clock.release(t) // after the work; or t = s.clock.renew(t, k) to wait again
type tickClock struct {
	mu struct {
		sync.Mutex
		timers map[*tickTimer]struct{} // waiting for ticks
		busy   int                     // fired and not yet released
		idleC  chan struct{}           // closed when busy drops to 0; nil while 0
	}
}

// tickTimer is one timer of a tickClock: C is closed when it fires.
type tickTimer struct {
	C     chan struct{}
	left  int  // ticks until it fires; guarded by the clock's mu
	fired bool // guarded by the clock's mu
}

func newTickClock() *tickClock {
	c := &tickClock{}
	c.mu.timers = make(map[*tickTimer]struct{})
	return c
}

// after returns a timer that fires after k more ticks (at the next one if
// k < 1).
func (c *tickClock) after(k int) *tickTimer {
	t := &tickTimer{C: make(chan struct{}), left: max(k, 1)}
	c.mu.Lock()
	c.mu.timers[t] = struct{}{}
	c.mu.Unlock()
	return t
}

// tick is raftnode's OnTick: it counts one tick down on every timer and
// fires those that are due. It never blocks.
func (c *tickClock) tick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for t := range c.mu.timers {
		if t.left--; t.left > 0 {
			continue
		}
		delete(c.mu.timers, t)
		t.fired = true
		if c.mu.busy == 0 {
			c.mu.idleC = make(chan struct{})
		}
		c.mu.busy++
		close(t.C)
	}
}

// release ends t: a timer that has not fired never will; one that fired
// is no longer work under way.
func (c *tickClock) release(t *tickTimer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !t.fired {
		delete(c.mu.timers, t)
		return
	}
	t.fired = false // released once
	if c.mu.busy--; c.mu.busy == 0 {
		close(c.mu.idleC)
		c.mu.idleC = nil
	}
}

// renew sets the next timer, of k ticks, then releases t: no tick falls
// between the two, and a goroutine that waits on timer after timer counts
// every tick.
func (c *tickClock) renew(t *tickTimer, k int) *tickTimer {
	next := c.after(k)
	c.release(t)
	return next
}

// idle returns nil when no timer that fired is being handled, else a
// channel closed once none is.
func (c *tickClock) idle() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.idleC
}
