package server

import "testing"

func fired(t *tickTimer) bool {
	select {
	case <-t.C:
		return true
	default:
		return false
	}
}

// A timer fires on its k-th tick, counts as work under way until it is
// released, and one released before it fires never does.
func TestTickClock(t *testing.T) {
	c := newTickClock()
	two, gone := c.after(2), c.after(1)
	c.release(gone)
	c.tick()
	if fired(two) || fired(gone) || c.idle() != nil {
		t.Fatal("after one tick: a timer of two ticks, or a released one, fired")
	}
	c.tick()
	if !fired(two) || fired(gone) {
		t.Fatal("after two ticks: the timer of two ticks has not fired, or the released one has")
	}
	idleC := c.idle()
	if idleC == nil {
		t.Fatal("a fired timer not yet released is not work under way")
	}
	next := c.renew(two, 1)
	select {
	case <-idleC:
	default:
		t.Fatal("still busy once the fired timer was renewed")
	}
	if c.idle() != nil || fired(next) {
		t.Fatal("the renewed timer fired, or counts as work, before a tick")
	}
	c.tick()
	if !fired(next) || c.idle() == nil {
		t.Fatal("the renewed timer did not fire on the next tick")
	}
	c.release(next)
	c.release(next) // a second release changes nothing
	if c.idle() != nil {
		t.Fatal("busy after every fired timer was released")
	}
}
