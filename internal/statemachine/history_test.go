package statemachine

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/api/peerpb"
)

// TestEvents checks Result.Events for every kind of change, and that the
// history holds the same events: a put takes the next seq, a delete and an
// expiry none; every change of an entry has its revision, and an entry
// that changes nothing takes none.
func TestEvents(t *testing.T) {
	a := newApplier(t)
	const q = "q/000_000_000_000_000_000_002"
	steps := []struct {
		name   string
		timeMs uint64
		cmd    *peerpb.Command
		rev    uint64 // of the events
		want   []*metapb.Event
	}{
		{"create", t0, upsertCmd(put("a", "1")), 2, []*metapb.Event{
			ev("a", 1, nil, seqV(1, "1", 1, 1, 0)),
		}},
		{"update", t0, upsertCmd(ttl(put("a", "2"), 50)), 3, []*metapb.Event{
			ev("a", 2, seqV(1, "1", 1, 1, 0), seqV(2, "2", 1, 2, t0+50)),
		}},
		{"mismatch changes nothing", t0, upsertCmd(exact(put("a", "3"), 1)), 3, nil},
		{"delete of an absent key", t0, upsertCmd(del("zz")), 3, nil},
		{"txn put, delete, counter, sequential", t0, txnCmd(&metapb.TxnRequest{IfThen: []*metapb.TxnOp{
			opPut("b", "1"),
			opDel("b", nil),
			opIncr("n", 2, 0, nil),
			opSeq("q/", "n", "x", 0),
			opGet("a"),
		}}), 4, []*metapb.Event{
			ev("b", 3, nil, seqV(3, "1", 3, 1, 0)),
			ev("b", 3, seqV(3, "1", 3, 1, 0), nil),
			ev("n", 4, nil, seqV(4, "2", 4, 1, 0)),
			ev("n", 5, seqV(4, "2", 4, 1, 0), seqV(5, "3", 4, 2, 0)),
			ev(q, 6, nil, seqV(6, "x", 6, 1, 0)),
		}},
		{"txn delete_by_prefix", t0, txnCmd(&metapb.TxnRequest{IfThen: []*metapb.TxnOp{opDelPrefix("q/")}}), 5, []*metapb.Event{
			ev(q, 6, seqV(6, "x", 6, 1, 0), nil),
		}},
		{"expiry first, then the command", t0 + 51, upsertCmd(put("c", "1")), 6, []*metapb.Event{
			ev("a", 2, seqV(2, "2", 1, 2, t0+50), nil),
			ev("c", 7, nil, seqV(7, "1", 7, 1, 0)),
		}},
		{"upsert delete", t0 + 51, upsertCmd(del("c")), 7, []*metapb.Event{
			ev("c", 7, seqV(7, "1", 7, 1, 0), nil),
		}},
	}
	for _, s := range steps {
		res := a.apply(s.timeMs, s.cmd)
		if res.Err != nil {
			t.Fatalf("%s: %v", s.name, res.Err)
		}
		if !equalEvents(res.Events, s.want) {
			t.Fatalf("%s: events\n got %v\nwant %v", s.name, res.Events, s.want)
		}
		for _, e := range res.Events {
			if e.Revision != s.rev {
				t.Fatalf("%s: event %v at revision %d, want %d", s.name, e, e.Revision, s.rev)
			}
			if cur := e.GetCurrent(); cur != nil && cur.GetModRevision() != s.rev {
				t.Fatalf("%s: event %v: current value of mod_revision %d, want %d", s.name, e, cur.GetModRevision(), s.rev)
			}
		}
		if a.sm.Revision() != s.rev {
			t.Fatalf("%s: revision %d, want %d", s.name, a.sm.Revision(), s.rev)
		}
		if len(s.want) > 0 {
			got, err := eventsBetween(a.sm, s.rev, a.sm.Revision())
			if err != nil || !equalEvents(got, s.want) {
				t.Fatalf("%s: history = %v, %v; want %v", s.name, got, err, s.want)
			}
		}
	}

	// A rejected command still reports the expiry it swept; entries that
	// are not commands report nothing and take no seq or revision.
	a.upsert(t0+51, ttl(put("d", "1"), 10)) // seq 8, revision 8
	res := a.apply(t0+100, upsertCmd(put("", "x")))
	want := []*metapb.Event{ev("d", 8, seqV(8, "1", 8, 1, t0+61), nil)}
	if !errors.Is(res.Err, ErrInvalidUpsert) || !equalEvents(res.Events, want) || res.Events[0].Revision != 9 {
		t.Fatalf("rejected command: %+v, want the expiry events %v at revision 9", res, want)
	}
	a.sm.ApplyEmpty(a.next())
	if err := a.conf(confChange(nodeCtx(1, "r", "g"), single(addVoter, 1))); err != nil {
		t.Fatal(err)
	}
	if res := a.sm.Apply(1, t0+200, upsertCmd(put("e", "1"))); !errors.Is(res.Err, ErrStaleIndex) || res.Events != nil {
		t.Fatalf("stale index: %+v", res)
	}
	if a.sm.LastSeq() != 8 || a.sm.Revision() != 9 {
		t.Fatalf("LastSeq = %d, Revision = %d; want 8, 9", a.sm.LastSeq(), a.sm.Revision())
	}
	all, err := eventsBetween(a.sm, 0, ^uint64(0))
	if err != nil || len(all) != 13 {
		t.Fatalf("history has %d events (%v), want 13", len(all), err)
	}
	for i, e := range all {
		if e.Revision < FirstRevision+1 || (i > 0 && e.Revision < all[i-1].Revision) {
			t.Fatalf("history event %d has revision %d after %d", i, e.Revision, all[max(i-1, 0)].Revision)
		}
	}
}

// TestEventsAreCopies: changing a returned event changes neither the state
// nor the history.
func TestEventsAreCopies(t *testing.T) {
	a := newApplier(t)
	res := a.apply(t0, upsertCmd(put("a", "abc")))
	res.Events[0].Current.Data[0] = 'X'
	got, _ := eventsBetween(a.sm, 2, 2)
	got[0].Current.Data[1] = 'Y'
	got, _ = eventsBetween(a.sm, 2, 2)
	if string(got[0].Current.Data) != "abc" || string(a.sm.Get("a", t0).Data) != "abc" {
		t.Fatalf("an event aliases the state: %v", got)
	}
}

func revisions(evs []*metapb.Event) []uint64 {
	var out []uint64
	for _, e := range evs {
		out = append(out, e.Revision)
	}
	return out
}

func TestEventsBetween(t *testing.T) {
	// size 5, 8 puts: revisions 2..9; the history holds 5..9.
	small := newApplier(t, WithHistorySize(5))
	for i := range 8 {
		small.upsert(t0, put(fmt.Sprintf("k%d", i%3), fmt.Sprint(i)))
	}
	// size 10, 3 puts: nothing dropped.
	roomy := newApplier(t, WithHistorySize(10))
	for i := range 3 {
		roomy.upsert(t0, put("k", fmt.Sprint(i)))
	}
	// size 0: nothing kept.
	none := newApplier(t, WithHistorySize(0))
	none.upsert(t0, put("k", "1"))
	none.upsert(t0, put("k", "2"))
	// size 3, a revision of two changes: dropping one of them drops both.
	split := newApplier(t, WithHistorySize(3))
	split.upsert(t0, put("k", "1"))                                                              // revision 2
	split.txn(t0, &metapb.TxnRequest{IfThen: []*metapb.TxnOp{opPut("a", "1"), opPut("b", "1")}}) // 3
	split.upsert(t0, put("c", "1"))                                                              // 4
	split.upsert(t0, put("d", "1"))                                                              // 5

	tests := []struct {
		name     string
		sm       *StateMachine
		from, to uint64
		want     []uint64
		err      error
	}{
		{"whole history", small.sm, 5, 9, []uint64{5, 6, 7, 8, 9}, nil},
		{"middle", small.sm, 6, 7, []uint64{6, 7}, nil},
		{"to beyond the revision", small.sm, 7, 100, []uint64{7, 8, 9}, nil},
		{"one", small.sm, 9, 9, []uint64{9}, nil},
		{"to before from", small.sm, 8, 7, nil, nil},
		{"from beyond the revision", small.sm, 10, 20, nil, nil},
		{"from far beyond", small.sm, 1 << 60, 1 << 61, nil, nil},
		{"below the floor", small.sm, 4, 9, nil, ErrCompacted},
		{"from 1 after drops", small.sm, 1, 9, nil, ErrCompacted},
		{"from 0 after drops", small.sm, 0, 9, nil, ErrCompacted},
		{"from 0 before any drop", roomy.sm, 0, 100, []uint64{2, 3, 4}, nil},
		{"from 1 before any drop", roomy.sm, 1, 3, []uint64{2, 3}, nil},
		{"no history: the revision", none.sm, 3, 3, nil, ErrCompacted},
		{"no history: the next revision", none.sm, 4, 4, nil, nil},
		{"empty state machine", New(), 0, 10, nil, nil},
		{"a revision dropped whole", split.sm, 4, 5, []uint64{4, 5}, nil},
		{"a revision partly dropped is compacted", split.sm, 3, 5, nil, ErrCompacted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := eventsBetween(tt.sm, tt.from, tt.to)
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if s := revisions(got); fmt.Sprint(s) != fmt.Sprint(tt.want) {
				t.Fatalf("revisions %v, want %v", s, tt.want)
			}
		})
	}

	// fn returning false stops the replay.
	var n int
	if err := small.sm.EventsBetween(5, 9, func(*metapb.Event) bool { n++; return n < 2 }); err != nil || n != 2 {
		t.Fatalf("stopped after %d events (%v), want 2", n, err)
	}
	// The events are the ones Apply returned.
	res := small.apply(t0, upsertCmd(put("k0", "last")))
	got, _ := eventsBetween(small.sm, 10, 10)
	if !equalEvents(got, res.Events) {
		t.Fatalf("history %v, Apply returned %v", got, res.Events)
	}
}

// TestEventsBetweenHoldsNoLock: fn may apply; the replay keeps seeing the
// history as it was.
func TestEventsBetweenHoldsNoLock(t *testing.T) {
	a := newApplier(t, WithHistorySize(2))
	a.upsert(t0, put("a", "1"))
	a.upsert(t0, put("a", "2"))
	var got []uint64
	err := a.sm.EventsBetween(1, 10, func(e *metapb.Event) bool {
		got = append(got, e.Revision)
		for range 300 { // drops the chunk the replay reads from
			a.upsert(t0, put("b", "x"))
		}
		return true
	})
	if err != nil || fmt.Sprint(got) != "[2 3]" {
		t.Fatalf("replay saw %v (%v), want [2 3]", got, err)
	}
	if _, err := eventsBetween(a.sm, 1, 10); !errors.Is(err, ErrCompacted) {
		t.Fatalf("after more writes: %v, want ErrCompacted", err)
	}
}

// TestHistoryWrapsChunks pushes past several chunks with a size that is
// not a multiple of the chunk size.
func TestHistoryWrapsChunks(t *testing.T) {
	const size = 300
	a := newApplier(t, WithHistorySize(size))
	for i := range 3*histChunk + 17 {
		a.upsert(t0, put("k", fmt.Sprint(i)))
		last := a.sm.Revision()
		from := max(last, size+1) - size + 1
		got, err := eventsBetween(a.sm, from, last)
		if err != nil || len(got) != int(last-from+1) || got[0].Revision != from || got[len(got)-1].Revision != last {
			t.Fatalf("after revision %d: %d events from %d: %v", last, len(got), from, err)
		}
		if from > FirstRevision+1 {
			if _, err := eventsBetween(a.sm, from-1, last); !errors.Is(err, ErrCompacted) {
				t.Fatalf("after revision %d: from %d: %v, want ErrCompacted", last, from-1, err)
			}
		}
	}
	if n := len(a.sm.mu.hist.chunks); n > size/histChunk+2 {
		t.Fatalf("history keeps %d chunks for %d events", n, size)
	}
}

func TestHistorySnapshotRestore(t *testing.T) {
	src := newApplier(t, WithHistorySize(50))
	for _, e := range randomLog(11, 400) {
		applyEntry(t, src.sm, e)
	}
	last := src.sm.Revision()
	floor := src.sm.mu.hist.compacted + 1
	if floor < 20 {
		t.Fatalf("the log made only %d revisions", last)
	}
	want, err := eventsBetween(src.sm, floor, last)
	if err != nil {
		t.Fatal(err)
	}
	data := encode(t, src.sm)

	// Same size: the same history, the same floor.
	same := New(WithHistorySize(50))
	if err := same.Restore(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	got, err := eventsBetween(same, floor, last)
	if err != nil || !equalEvents(got, want) {
		t.Fatalf("restored history differs: %v", err)
	}
	if _, err := eventsBetween(same, floor-1, last); !errors.Is(err, ErrCompacted) {
		t.Fatalf("below the restored floor: %v", err)
	}
	if same.Hash() != src.sm.Hash() {
		t.Fatal("Hash differs after restore")
	}

	// A smaller history keeps the newest events only.
	small := New(WithHistorySize(10))
	if err := small.Restore(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	smallFloor := small.mu.hist.compacted + 1
	got, err = eventsBetween(small, smallFloor, last)
	if err != nil || len(got) == 0 || len(got) > 10 || !equalEvents(got, want[len(want)-len(got):]) {
		t.Fatalf("trimmed history from %d: %d events: %v", smallFloor, len(got), err)
	}
	if _, err := eventsBetween(small, smallFloor-1, last); !errors.Is(err, ErrCompacted) {
		t.Fatalf("below the trimmed floor: %v", err)
	}

	// Both continue alike: the restored node keeps feeding its history.
	next := &applier{t: t, sm: same}
	res := next.apply(same.NowMs(), upsertCmd(put("after", "1")))
	if len(res.Events) == 0 {
		t.Fatal("no events")
	}
	got, err = eventsBetween(same, same.Revision(), same.Revision())
	if err != nil || !equalEvents(got, res.Events) {
		t.Fatalf("history after restore and apply: %v, want %v (%v)", got, res.Events, err)
	}
}

// TestRestoreInvalidHistory builds snapshots with a valid checksum whose
// history section breaks one rule each. The state: key "a" at seq 3,
// revision buildRevision; the history holds its last two puts.
func TestRestoreInvalidHistory(t *testing.T) {
	type event struct {
		key       string
		rev       uint64
		flags     byte
		prev, cur kvMeta
	}
	const rev = buildRevision
	keys := func(e *encoder) {
		e.record(newKV("a", kvMeta{seq: 3, createSeq: 1, version: 3, createRev: 2, modRev: rev}, []byte("v")))
		e.byte(tagEnd)
		e.u64(1)
	}
	build := func(compacted, count uint64, evs ...event) []byte {
		return buildSnapshot(3, nil, 1, keys, func(e *encoder) {
			e.u64(compacted)
			e.u64(count)
			for _, ev := range evs {
				e.str(ev.key)
				e.uvarint(ev.rev)
				e.uvarint(0)
				e.byte(ev.flags)
				if ev.flags&histPrev != 0 {
					e.value(newKV(ev.key, ev.prev, []byte("p")))
				}
				if ev.flags&histCur != 0 {
					e.value(newKV(ev.key, ev.cur, []byte("c")))
				}
			}
		})
	}
	v1 := kvMeta{seq: 1, createSeq: 1, version: 1, createRev: 2, modRev: 2}
	v2 := kvMeta{seq: 2, createSeq: 1, version: 2, createRev: 2, modRev: rev - 1}
	v3 := kvMeta{seq: 3, createSeq: 1, version: 3, createRev: 2, modRev: rev}
	e2 := event{"a", rev - 1, histPrev | histCur, v1, v2}
	e3 := event{"a", rev, histPrev | histCur, v2, v3}
	with := func(e event, f func(*event)) event { f(&e); return e }

	sm := New()
	if err := sm.Restore(bytes.NewReader(build(rev-2, 2, e2, e3))); err != nil {
		t.Fatalf("the valid base case: %v", err)
	}
	got, err := eventsBetween(sm, rev-1, rev)
	want := []*metapb.Event{
		ev("a", 2, seqV(1, "p", 1, 1, 0), seqV(2, "c", 1, 2, 0)),
		ev("a", 3, seqV(2, "p", 1, 2, 0), seqV(3, "c", 1, 3, 0)),
	}
	if err != nil || !equalEvents(got, want) || got[0].Revision != rev-1 || got[1].Revision != rev {
		t.Fatalf("restored history %v (%v), want %v at revisions %d, %d", got, err, want, rev-1, rev)
	}
	if _, err := eventsBetween(sm, rev-2, rev); !errors.Is(err, ErrCompacted) {
		t.Fatalf("EventsBetween from the compacted revision: %v, want ErrCompacted", err)
	}

	tests := map[string][]byte{
		"compacted > revision":      build(rev+1, 0),
		"count past the events":     build(rev-2, 3, e2, e3),
		"revisions descend":         build(rev-2, 2, e3, with(e2, func(e *event) { e.rev = rev - 1 })),
		"revision at the compacted": build(rev-1, 2, e2, e3),
		"revision beyond the state": build(rev-2, 1, with(e3, func(e *event) { e.rev = rev + 1 })),
		"not up to the revision":    build(rev-2, 1, e2),
		"flags 0":                   build(rev-2, 1, with(e3, func(e *event) { e.flags = 0 })),
		"flags 4":                   build(rev-2, 1, with(e3, func(e *event) { e.flags = 4 })),
		"empty key":                 build(rev-2, 1, with(e3, func(e *event) { e.key = "" })),
		"prev seq 0":                build(rev-2, 1, with(e3, func(e *event) { e.prev.seq = 0 })),
		"prev create_seq > seq":     build(rev-2, 1, with(e3, func(e *event) { e.prev.createSeq = 3 })),
		"prev version 0":            build(rev-2, 1, with(e3, func(e *event) { e.prev.version = 0 })),
		"prev after the event":      build(rev-2, 1, with(e3, func(e *event) { e.prev.modRev = rev + 1 })),
		"cur create_seq 0":          build(rev-2, 1, with(e3, func(e *event) { e.cur.createSeq = 0 })),
		"cur version 0":             build(rev-2, 1, with(e3, func(e *event) { e.cur.version = 0 })),
		"cur of another revision":   build(rev-2, 1, with(e3, func(e *event) { e.cur.modRev = rev - 1 })),
		"cur seq beyond the last":   build(rev-2, 1, with(e3, func(e *event) { e.cur.seq = 4 })),
		"history section missing":   buildSnapshot(3, nil, 1, keys, nil),
		"history count missing":     buildSnapshot(3, nil, 1, keys, func(e *encoder) { e.u64(0) }),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			err := New().Restore(bytes.NewReader(data))
			if !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("err = %v, want ErrCorruptSnapshot", err)
			}
		})
	}
}

// TestHashSeesHistory: the same keys with different histories hash
// differently.
func TestHashSeesHistory(t *testing.T) {
	seen := map[uint64]int{}
	for _, size := range []int{0, 1, 2, 3} {
		a := newApplier(t, WithHistorySize(size))
		a.upsert(t0, put("k", "1"))
		a.upsert(t0, put("k", "2"))
		h := a.sm.Hash()
		if prev, ok := seen[h]; ok && min(prev, 2) != min(size, 2) {
			t.Fatalf("history size %d hashes like size %d", size, prev)
		}
		seen[h] = size
	}
}

func TestRange(t *testing.T) {
	a := newApplier(t)
	for _, k := range []string{"a", "b", "b/1", "b/2", "c", "d"} {
		a.upsert(t0, put(k, k))
	}
	a.upsert(t0, ttl(put("b/3", "x"), 10)) // invisible at t0+11
	view := a.sm.View()
	a.upsert(t0, put("b/0", "later")) // not in the view

	tests := []struct {
		key, keyEnd string
		stop        int
		want        []string
		wantLive    []string // on the state machine, after b/0
	}{
		{"b", "", 0, []string{"b"}, []string{"b"}},
		{"zz", "", 0, nil, nil},
		{"b/3", "", 0, nil, nil}, // expired
		{"b", "c", 0, []string{"b", "b/1", "b/2"}, []string{"b", "b/0", "b/1", "b/2"}},
		{"b/", "b0", 0, []string{"b/1", "b/2"}, []string{"b/0", "b/1", "b/2"}},
		{"a", "\xff", 0, []string{"a", "b", "b/1", "b/2", "c", "d"}, []string{"a", "b", "b/0", "b/1", "b/2", "c", "d"}},
		{"a", "\xff", 2, []string{"a", "b"}, []string{"a", "b"}},
		{"c", "b", 0, nil, nil},
		{"c", "c", 0, nil, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q-%q", tt.key, tt.keyEnd), func(t *testing.T) {
			collect := func(rng func(key, keyEnd string, nowMs uint64, fn func(*metapb.KV) bool)) []string {
				var got []string
				rng(tt.key, tt.keyEnd, t0+11, func(kv *metapb.KV) bool {
					got = append(got, kv.Key)
					return len(got) != tt.stop
				})
				return got
			}
			if got := collect(view.Range); !equalStrings(got, tt.want) {
				t.Errorf("View.Range = %v, want %v", got, tt.want)
			}
			if got := collect(a.sm.Range); !equalStrings(got, tt.wantLive) {
				t.Errorf("StateMachine.Range = %v, want %v", got, tt.wantLive)
			}
		})
	}
	if view.LastSeq() != 7 || view.AppliedIndex() != 7 {
		t.Fatalf("view at seq %d, index %d; want 7, 7", view.LastSeq(), view.AppliedIndex())
	}
	var v *metapb.SeqV
	view.Range("a", "", t0, func(kv *metapb.KV) bool { v = kv.Value; return true })
	if !equalSeqs(v, seqV(1, "a", 1, 1, 0)) {
		t.Fatalf("view value %v", v)
	}
}
