package clustertest

import (
	"sync/atomic"
	"time"
)

// Clock is a wall clock that moves only when told to, for Options.Now:
// every node stamps entries and hides expired keys by it, while raft
// ticks on real time.
//
//	clock := clustertest.NewClock(time.Now())
//	c := clustertest.New(t, 3, clustertest.Options{Now: clock.Now})
//	clock.Advance(2 * time.Second) // keys with a 1 s ttl have expired
type Clock struct {
	ns atomic.Int64
}

// NewClock returns a clock that reads start until advanced.
func NewClock(start time.Time) *Clock {
	c := &Clock{}
	c.ns.Store(start.UnixNano())
	return c
}

// Now returns the clock's time. Safe from any goroutine.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
