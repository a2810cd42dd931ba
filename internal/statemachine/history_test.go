package statemachine

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/api/peerpb"
)

// TestEvents checks Result.Events for every kind of change, and that the
// history holds the same events.
func TestEvents(t *testing.T) {
	a := newApplier(t)
	steps := []struct {
		name   string
		timeMs uint64
		cmd    *peerpb.Command
		want   []*metapb.Event
	}{
		{"create", t0, upsertCmd(put("a", "1")), []*metapb.Event{
			ev("a", 1, nil, seqV(1, "1", 1, 1, 0)),
		}},
		{"update", t0, upsertCmd(ttl(put("a", "2"), 50)), []*metapb.Event{
			ev("a", 2, seqV(1, "1", 1, 1, 0), seqV(2, "2", 1, 2, t0+50)),
		}},
		{"mismatch changes nothing", t0, upsertCmd(exact(put("a", "3"), 1)), nil},
		{"delete of an absent key", t0, upsertCmd(del("zz")), nil},
		{"txn put, delete, counter, sequential", t0, txnCmd(&metapb.TxnRequest{IfThen: []*metapb.TxnOp{
			opPut("b", "1"),
			opDel("b", nil),
			opIncr("n", 2, 0, nil),
			opSeq("q/", "n", "x", 0),
			opGet("a"),
		}}), []*metapb.Event{
			ev("b", 3, nil, seqV(3, "1", 3, 1, 0)),
			ev("b", 4, seqV(3, "1", 3, 1, 0), nil),
			ev("n", 5, nil, seqV(5, "2", 5, 1, 0)),
			ev("n", 6, seqV(5, "2", 5, 1, 0), seqV(6, "3", 5, 2, 0)),
			ev("q/00000000000000000003", 7, nil, seqV(7, "x", 7, 1, 0)),
		}},
		{"txn delete_by_prefix", t0, txnCmd(&metapb.TxnRequest{IfThen: []*metapb.TxnOp{opDelPrefix("q/")}}), []*metapb.Event{
			ev("q/00000000000000000003", 8, seqV(7, "x", 7, 1, 0), nil),
		}},
		{"expiry first, then the command", t0 + 50, upsertCmd(put("c", "1")), []*metapb.Event{
			ev("a", 9, seqV(2, "2", 1, 2, t0+50), nil),
			ev("c", 10, nil, seqV(10, "1", 10, 1, 0)),
		}},
		{"upsert delete", t0 + 50, upsertCmd(del("c")), []*metapb.Event{
			ev("c", 11, seqV(10, "1", 10, 1, 0), nil),
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
		if len(s.want) > 0 {
			got, err := eventsBetween(a.sm, s.want[0].Seq, a.sm.LastSeq())
			if err != nil || !equalEvents(got, s.want) {
				t.Fatalf("%s: history = %v, %v; want %v", s.name, got, err, s.want)
			}
		}
	}

	// A rejected command still reports the expiry it swept; entries that
	// are not commands report nothing and take no seq.
	a.upsert(t0+50, ttl(put("d", "1"), 10)) // seq 12
	res := a.apply(t0+100, upsertCmd(put("", "x")))
	want := []*metapb.Event{ev("d", 13, seqV(12, "1", 12, 1, t0+60), nil)}
	if !errors.Is(res.Err, ErrInvalidUpsert) || !equalEvents(res.Events, want) {
		t.Fatalf("rejected command: %+v, want the expiry events %v", res, want)
	}
	a.sm.ApplyEmpty(a.next())
	if err := a.conf(confChange(nodeCtx(1, "r", "g"), single(addVoter, 1))); err != nil {
		t.Fatal(err)
	}
	if res := a.sm.Apply(1, t0+200, upsertCmd(put("e", "1"))); !errors.Is(res.Err, ErrStaleIndex) || res.Events != nil {
		t.Fatalf("stale index: %+v", res)
	}
	if got := a.sm.LastSeq(); got != 13 {
		t.Fatalf("LastSeq = %d, want 13", got)
	}
	all, err := eventsBetween(a.sm, 0, ^uint64(0))
	if err != nil || len(all) != 13 {
		t.Fatalf("history has %d events (%v), want 13", len(all), err)
	}
	for i, e := range all {
		if e.Seq != uint64(i+1) {
			t.Fatalf("history event %d has seq %d", i, e.Seq)
		}
	}
}

// TestEventsAreCopies: changing a returned event changes neither the state
// nor the history.
func TestEventsAreCopies(t *testing.T) {
	a := newApplier(t)
	res := a.apply(t0, upsertCmd(put("a", "abc")))
	res.Events[0].Current.Data[0] = 'X'
	got, _ := eventsBetween(a.sm, 1, 1)
	got[0].Current.Data[1] = 'Y'
	got, _ = eventsBetween(a.sm, 1, 1)
	if string(got[0].Current.Data) != "abc" || string(a.sm.Get("a", t0).Data) != "abc" {
		t.Fatalf("an event aliases the state: %v", got)
	}
}

func TestEventsBetween(t *testing.T) {
	seqs := func(evs []*metapb.Event) []uint64 {
		var out []uint64
		for _, e := range evs {
			out = append(out, e.Seq)
		}
		return out
	}
	// size 5, 8 changes: the history holds seqs 4..8, the floor is 4.
	small := newApplier(t, WithHistorySize(5))
	for i := range 8 {
		small.upsert(t0, put(fmt.Sprintf("k%d", i%3), fmt.Sprint(i)))
	}
	// size 10, 3 changes: nothing dropped.
	roomy := newApplier(t, WithHistorySize(10))
	for i := range 3 {
		roomy.upsert(t0, put("k", fmt.Sprint(i)))
	}
	// size 0: nothing kept.
	none := newApplier(t, WithHistorySize(0))
	none.upsert(t0, put("k", "1"))
	none.upsert(t0, put("k", "2"))

	tests := []struct {
		name     string
		sm       *StateMachine
		from, to uint64
		want     []uint64
		err      error
	}{
		{"whole history", small.sm, 4, 8, []uint64{4, 5, 6, 7, 8}, nil},
		{"middle", small.sm, 5, 6, []uint64{5, 6}, nil},
		{"to beyond last seq", small.sm, 6, 100, []uint64{6, 7, 8}, nil},
		{"one", small.sm, 8, 8, []uint64{8}, nil},
		{"to before from", small.sm, 7, 6, nil, nil},
		{"from beyond last seq", small.sm, 9, 20, nil, nil},
		{"from far beyond", small.sm, 1 << 60, 1 << 61, nil, nil},
		{"below the floor", small.sm, 3, 8, nil, ErrCompacted},
		{"from 1 after drops", small.sm, 1, 8, nil, ErrCompacted},
		{"from 0 after drops", small.sm, 0, 8, nil, ErrCompacted},
		{"from 0 before any drop", roomy.sm, 0, 100, []uint64{1, 2, 3}, nil},
		{"from 1 before any drop", roomy.sm, 1, 2, []uint64{1, 2}, nil},
		{"no history: last seq", none.sm, 2, 2, nil, ErrCompacted},
		{"no history: next seq", none.sm, 3, 3, nil, nil},
		{"empty state machine", New(), 0, 10, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := eventsBetween(tt.sm, tt.from, tt.to)
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if s := seqs(got); fmt.Sprint(s) != fmt.Sprint(tt.want) {
				t.Fatalf("seqs %v, want %v", s, tt.want)
			}
		})
	}

	// fn returning false stops the replay.
	var n int
	if err := small.sm.EventsBetween(4, 8, func(*metapb.Event) bool { n++; return n < 2 }); err != nil || n != 2 {
		t.Fatalf("stopped after %d events (%v), want 2", n, err)
	}
	// The events are the ones Apply returned.
	res := small.apply(t0, upsertCmd(put("k0", "last")))
	got, _ := eventsBetween(small.sm, 9, 9)
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
		got = append(got, e.Seq)
		for range 300 { // drops the chunk the replay reads from
			a.upsert(t0, put("b", "x"))
		}
		return true
	})
	if err != nil || fmt.Sprint(got) != "[1 2]" {
		t.Fatalf("replay saw %v (%v), want [1 2]", got, err)
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
		last := a.sm.LastSeq()
		from := max(last, size) - size + 1
		got, err := eventsBetween(a.sm, from, last)
		if err != nil || len(got) != int(last-from+1) || got[0].Seq != from || got[len(got)-1].Seq != last {
			t.Fatalf("after seq %d: %d events from %d: %v", last, len(got), from, err)
		}
		if from > 1 {
			if _, err := eventsBetween(a.sm, from-1, last); !errors.Is(err, ErrCompacted) {
				t.Fatalf("after seq %d: from %d: %v, want ErrCompacted", last, from-1, err)
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
	last := src.sm.LastSeq()
	if last < 60 {
		t.Fatalf("the log made only %d changes", last)
	}
	want, err := eventsBetween(src.sm, last-49, last)
	if err != nil {
		t.Fatal(err)
	}
	data := encode(t, src.sm)

	// Same size: the same history, the same floor.
	same := New(WithHistorySize(50))
	if err := same.Restore(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	got, err := eventsBetween(same, last-49, last)
	if err != nil || !equalEvents(got, want) {
		t.Fatalf("restored history differs: %v", err)
	}
	if _, err := eventsBetween(same, last-50, last); !errors.Is(err, ErrCompacted) {
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
	got, err = eventsBetween(small, last-9, last)
	if err != nil || !equalEvents(got, want[40:]) {
		t.Fatalf("trimmed history: %v", err)
	}
	if _, err := eventsBetween(small, last-10, last); !errors.Is(err, ErrCompacted) {
		t.Fatalf("below the trimmed floor: %v", err)
	}

	// Both continue alike: the restored node keeps feeding its history.
	next := &applier{t: t, sm: same}
	res := next.apply(same.NowMs(), upsertCmd(put("after", "1")))
	k := len(res.Events)
	got, err = eventsBetween(same, same.LastSeq()-49, same.LastSeq())
	if err != nil || k == 0 || k > 50 || !equalEvents(got[50-k:], res.Events) || !equalEvents(got[:50-k], want[k:]) {
		t.Fatalf("history after restore and apply (%d new events): %v", k, err)
	}
}

// TestRestoreVersion1 reads a snapshot of the format before the history:
// the state is there, the history is empty and every seq up to the last
// one is compacted.
func TestRestoreVersion1(t *testing.T) {
	src := newApplier(t)
	src.upsert(t0, put("a", "1"))
	src.upsert(t0, ttl(put("b", "2"), 100))
	// Version 2 without history = version 1 plus an 8-byte zero count
	// before the CRC.
	src.sm.mu.hist = history{}
	v2 := encode(t, src.sm)
	v1 := bytes.Clone(v2[:len(v2)-12])
	v1[11] = snapshotVersionV1
	v1 = fixCRC(append(v1, 0, 0, 0, 0))

	sm := New()
	if err := sm.Restore(bytes.NewReader(v1)); err != nil {
		t.Fatal(err)
	}
	if !equalKVs(dump(sm), dump(src.sm)) || sm.LastSeq() != 2 || sm.AppliedIndex() != 2 {
		t.Fatalf("restored %v at seq %d", dump(sm), sm.LastSeq())
	}
	if _, err := eventsBetween(sm, 2, 2); !errors.Is(err, ErrCompacted) {
		t.Fatalf("EventsBetween(2, 2) = %v, want ErrCompacted", err)
	}
	if got, err := eventsBetween(sm, 3, 3); err != nil || got != nil {
		t.Fatalf("EventsBetween(3, 3) = %v, %v", got, err)
	}
	checkInvariants(t, sm)
}

// TestRestoreInvalidHistory builds snapshots with a valid checksum whose
// history section breaks one rule each.
func TestRestoreInvalidHistory(t *testing.T) {
	type val struct {
		present                    bool
		seq, createSeq, version, x uint64
	}
	type event struct {
		key       string
		seq       uint64
		flags     byte
		prev, cur val
	}
	keys := func(e *encoder) {
		e.byte(tagRecord)
		e.str("a")
		e.str("v")
		e.uvarint(3)
		e.uvarint(1)
		e.uvarint(3)
		e.uvarint(0)
		e.byte(tagEnd)
		e.u64(1)
	}
	build := func(count uint64, evs ...event) []byte {
		return buildSnapshot(3, nil, 1, keys, func(e *encoder) {
			e.u64(count)
			for _, ev := range evs {
				e.str(ev.key)
				e.uvarint(ev.seq)
				e.byte(ev.flags)
				if ev.flags&histPrev != 0 {
					e.str("p")
					e.uvarint(ev.prev.seq)
					e.uvarint(ev.prev.createSeq)
					e.uvarint(ev.prev.version)
					e.uvarint(ev.prev.x)
				}
				if ev.flags&histCur != 0 {
					e.str("c")
					e.uvarint(ev.cur.createSeq)
					e.uvarint(ev.cur.version)
					e.uvarint(ev.cur.x)
				}
			}
		})
	}
	e2 := event{"a", 2, histPrev | histCur, val{true, 1, 1, 1, 0}, val{true, 2, 1, 2, 0}}
	e3 := event{"a", 3, histPrev | histCur, val{true, 2, 1, 2, 0}, val{true, 3, 1, 3, 0}}
	with := func(e event, f func(*event)) event { f(&e); return e }

	sm := New()
	if err := sm.Restore(bytes.NewReader(build(2, e2, e3))); err != nil {
		t.Fatalf("the valid base case: %v", err)
	}
	got, err := eventsBetween(sm, 2, 3)
	want := []*metapb.Event{
		ev("a", 2, seqV(1, "p", 1, 1, 0), seqV(2, "c", 1, 2, 0)),
		ev("a", 3, seqV(2, "p", 1, 2, 0), seqV(3, "c", 1, 3, 0)),
	}
	if err != nil || !equalEvents(got, want) {
		t.Fatalf("restored history %v (%v), want %v", got, err, want)
	}

	tests := map[string][]byte{
		"count > last seq":        build(4, e2, e3),
		"gap":                     build(2, with(e2, func(e *event) { e.seq = 1 }), e3),
		"not up to last seq":      build(1, e2),
		"count past the events":   build(3, e2, e3),
		"flags 0":                 build(1, with(e3, func(e *event) { e.flags = 0 })),
		"flags 4":                 build(1, with(e3, func(e *event) { e.flags = 4 })),
		"empty key":               build(1, with(e3, func(e *event) { e.key = "" })),
		"key not UTF-8":           build(1, with(e3, func(e *event) { e.key = "a\xff" })),
		"prev seq 0":              build(1, with(e3, func(e *event) { e.prev.seq = 0 })),
		"prev seq = seq":          build(1, with(e3, func(e *event) { e.prev.seq = 3 })),
		"prev create_seq 0":       build(1, with(e3, func(e *event) { e.prev.createSeq = 0 })),
		"prev create_seq > seq":   build(1, with(e3, func(e *event) { e.prev.createSeq = 3 })),
		"prev version 0":          build(1, with(e3, func(e *event) { e.prev.version = 0 })),
		"cur create_seq 0":        build(1, with(e3, func(e *event) { e.cur.createSeq = 0 })),
		"cur create_seq > seq":    build(1, with(e3, func(e *event) { e.cur.createSeq = 4 })),
		"cur version 0":           build(1, with(e3, func(e *event) { e.cur.version = 0 })),
		"history section missing": buildSnapshot(3, nil, 1, keys, nil),
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
	a.upsert(t0, ttl(put("b/3", "x"), 10)) // invisible at t0+10
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
				rng(tt.key, tt.keyEnd, t0+10, func(kv *metapb.KV) bool {
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
	if !proto.Equal(v, seqV(1, "a", 1, 1, 0)) {
		t.Fatalf("view value %v", v)
	}
}
