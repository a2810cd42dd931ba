package statemachine

import "testing"

// TestHashKV: the same keys at the same revision hash alike whatever the
// history size; another value, another hash.
func TestHashKV(t *testing.T) {
	build := func(size int, v string) *Snapshot {
		a := newApplier(t, WithHistorySize(size))
		a.upsert(t0, put("k", "1"))
		a.upsert(t0, put("k", v))
		return a.sm.Snapshot()
	}
	base := build(0, "2")
	for _, c := range []struct {
		name  string
		s     *Snapshot
		equal bool
	}{
		{"another history size", build(3, "2"), true},
		{"another value", build(0, "3"), false},
	} {
		if got := c.s.HashKV() == base.HashKV(); got != c.equal {
			t.Errorf("%s: equal hash = %v, want %v", c.name, got, c.equal)
		}
		if c.s.Revision() != base.Revision() {
			t.Errorf("%s: revision %d, want %d", c.name, c.s.Revision(), base.Revision())
		}
	}
	if base.HashKV() == newApplier(t).sm.Snapshot().HashKV() {
		t.Error("an empty state hashes like one with a key")
	}
}
