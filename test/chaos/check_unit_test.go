package chaos

import (
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/metasrv/metasrv/api/metapb"
)

// Histories are written as ops with times in ms; every check must see the
// bug it is meant to catch, and accept the correct histories.

func v(seq uint64, data string) val { return val{exists: true, seq: seq, data: data} }

func get(call, ret int64, key string, r val) *op {
	return &op{kind: opGet, key: key, call: call * 1e6, ret: ret * 1e6, result: r}
}

// put is an upsert with match any that was applied with seq.
func put(call, ret int64, key, value string, prev val, seq uint64) *op {
	return &op{kind: opUpsert, key: key, value: value, call: call * 1e6, ret: ret * 1e6,
		applied: true, prev: prev, result: v(seq, value)}
}

func cas(call, ret int64, key, value string, m uint64, applied bool, prev val, seq uint64) *op {
	o := &op{kind: opUpsert, key: key, value: value, matchKind: metapb.MatchSeq_EXACT, mseq: m,
		call: call * 1e6, ret: ret * 1e6, applied: applied, prev: prev, result: prev}
	if applied {
		o.result = v(seq, value)
	}
	return o
}

func lost(o *op) *op {
	o.outcome, o.ret, o.applied, o.prev, o.result = unknown, 0, false, val{}, val{}
	return o
}

func numbered(ops ...*op) []*op {
	for i, o := range ops {
		o.id, o.client = i, i
	}
	return ops
}

func TestModel(t *testing.T) {
	tests := []struct {
		name string
		ops  []*op
		ok   bool
	}{
		{"write then read", numbered(
			put(0, 10, "a", "x", val{}, 1),
			get(20, 30, "a", v(1, "x")),
		), true},
		{"stale read", numbered(
			put(0, 10, "a", "x", val{}, 1),
			put(20, 30, "a", "y", v(1, "x"), 2),
			get(40, 50, "a", v(1, "x")),
		), false},
		{"lost acknowledged write", numbered(
			put(0, 10, "a", "x", val{}, 3),
			get(20, 30, "a", val{}),
		), false},
		{"concurrent read sees either", numbered(
			put(0, 10, "a", "x", val{}, 1),
			put(20, 40, "a", "y", v(1, "x"), 2),
			get(25, 30, "a", v(1, "x")),
			get(26, 31, "a", v(2, "y")),
		), true},
		{"read goes back in time", numbered(
			put(0, 10, "a", "x", val{}, 1),
			put(20, 60, "a", "y", v(1, "x"), 2),
			get(25, 30, "a", v(2, "y")),
			get(35, 40, "a", v(1, "x")),
		), false},
		{"unknown write seen later with its seq", numbered(
			lost(put(0, 0, "a", "x", val{}, 0)),
			get(20, 30, "a", v(7, "x")),
			cas(40, 50, "a", "y", 7, true, v(7, "x"), 9),
		), true},
		{"unknown write never seen", numbered(
			lost(put(0, 0, "a", "x", val{}, 0)),
			get(20, 30, "a", val{}),
		), true},
		{"unknown write seen, then gone without a write", numbered(
			lost(put(0, 0, "a", "x", val{}, 0)),
			get(20, 30, "a", v(7, "x")),
			get(40, 50, "a", val{}),
		), false},
		{"cas applied on a wrong seq", numbered(
			put(0, 10, "a", "x", val{}, 4),
			cas(20, 30, "a", "y", 3, true, v(4, "x"), 5),
		), false},
		{"cas refused on the right seq", numbered(
			put(0, 10, "a", "x", val{}, 4),
			cas(20, 30, "a", "y", 4, false, v(4, "x"), 0),
		), false},
		{"seq does not grow", numbered(
			put(0, 10, "a", "x", val{}, 4),
			put(20, 30, "a", "y", v(4, "x"), 4),
		), false},
		{"unknown cas on an unknown seq may hold", numbered(
			lost(put(0, 0, "a", "x", val{}, 0)),
			lost(cas(5, 0, "a", "y", 3, false, val{}, 0)),
			get(20, 30, "a", v(8, "y")),
		), true},
		{"keys are independent", numbered(
			put(0, 10, "a", "x", val{}, 1),
			put(20, 30, "b", "y", val{}, 2),
			get(40, 50, "a", v(1, "x")),
		), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := porcupine.CheckOperationsTimeout(kvModel, porcupineOps(tt.ops), 10*time.Second)
			if want := map[bool]porcupine.CheckResult{true: porcupine.Ok, false: porcupine.Illegal}[tt.ok]; res != want {
				t.Errorf("check = %s, want %s", res, want)
			}
		})
	}
}

func TestCheckSeqOrder(t *testing.T) {
	ok := numbered(
		put(0, 10, "a", "x", val{}, 1),
		put(20, 30, "b", "y", val{}, 2),
		put(25, 35, "a", "z", v(1, "x"), 3),
	)
	if err := checkSeqOrder(ok); err != nil {
		t.Errorf("correct history: %v", err)
	}
	backwards := numbered(
		put(0, 10, "a", "x", val{}, 5),
		put(20, 30, "b", "y", val{}, 2),
	)
	if err := checkSeqOrder(backwards); err == nil || !strings.Contains(err.Error(), "not above") {
		t.Errorf("a later write with a smaller seq: %v", err)
	}
	dup := numbered(
		put(0, 10, "a", "x", val{}, 5),
		put(0, 10, "b", "y", val{}, 5),
	)
	if err := checkSeqOrder(dup); err == nil || !strings.Contains(err.Error(), "two writes") {
		t.Errorf("two writes with one seq: %v", err)
	}
}

func TestCheckWatch(t *testing.T) {
	ops := numbered(
		put(0, 10, "chaos/a", "x", val{}, 1),
		lost(put(20, 0, "chaos/b", "y", val{}, 0)),
		put(30, 40, "chaos/a", "z", v(1, "x"), 3),
	)
	events := []wevent{
		{rev: 2, seq: 1, key: "chaos/a", cur: v(1, "x")},
		{rev: 3, seq: 2, key: "chaos/b", cur: v(2, "y")},
		{rev: 4, seq: 3, key: "chaos/a", prev: v(1, "x"), cur: v(3, "z")},
	}
	final := map[string]val{"chaos/a": v(3, "z"), "chaos/b": v(2, "y")}
	if err := checkWatch("ok", events, ops, 4, final); err != nil {
		t.Errorf("correct events: %v", err)
	}
	for _, tt := range []struct {
		name   string
		events []wevent
		want   string
	}{
		{"gap", []wevent{events[0], events[2]}, "want 3"},
		{"repeat", []wevent{events[0], events[1], events[1], events[2]}, "want 3"},
		{"wrong prev", []wevent{events[0], events[1], {rev: 4, seq: 3, key: "chaos/a", cur: v(3, "z")}}, "replaying"},
		{"missing acknowledged write", []wevent{events[0], events[1], {rev: 4, seq: 3, key: "chaos/b", prev: v(2, "y"), cur: v(3, "q")}}, "no write"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := checkWatch(tt.name, tt.events, ops, 4, final)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestResolveUnknown(t *testing.T) {
	ops := numbered(
		lost(put(0, 0, "chaos/a", "x", val{}, 0)),
		lost(put(5, 0, "chaos/a", "y", val{}, 0)),
		get(20, 30, "chaos/a", v(1, "x")),
	)
	events := []wevent{{rev: 2, seq: 1, key: "chaos/a", cur: v(1, "x")}}
	got := resolveUnknown(ops, events)
	if len(got) != 2 || !got[0].resolved || got[0].result != v(1, "x") || got[1].kind != opGet {
		t.Fatalf("resolveUnknown = %v, want the write of x resolved, y left out, the get kept", got)
	}
	if ops[0].resolved {
		t.Error("resolveUnknown changed the history it was given")
	}
	if res := porcupine.CheckOperationsTimeout(kvModel, porcupineOps(got), 10*time.Second); res != porcupine.Ok {
		t.Errorf("check = %s, want Ok", res)
	}
	// A read of the value before the resolved write was sent is still a
	// violation.
	early := numbered(
		get(0, 1, "chaos/a", v(1, "x")),
		lost(put(5, 0, "chaos/a", "x", val{}, 0)),
	)
	if res := porcupine.CheckOperationsTimeout(kvModel, porcupineOps(resolveUnknown(early, events)), 10*time.Second); res != porcupine.Illegal {
		t.Errorf("a read before the write: check = %s, want Illegal", res)
	}
}
