package statemachine

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// historyState applies keys*rounds writes of size-byte values, cycling over
// the keys, plus deletes, expiring keys and re-creations, so the history
// holds every kind of event.
func historyState(t testing.TB, keys, rounds, size int, opts ...Option) *applier {
	t.Helper()
	a := newApplier(t, opts...)
	for r := range rounds {
		for k := range keys {
			a.upsert(t0, put(fmt.Sprintf("k/%04d", k), fmt.Sprintf("%0*d", size, r*keys+k)))
		}
	}
	a.upsert(t0, del("k/0000"))
	a.upsert(t0, put("k/0000", "back"))
	a.upsert(t0, del("k/0001"))
	a.upsert(t0, ttl(put("k/0002", "short"), 10))
	a.upsert(t0+20, put("k/0003", "expires k/0002"))
	return a
}

// The snapshot stores each value of the history once: a 10-key state
// whose history holds 100 writes of 256 bytes is far smaller than those
// values, and restores to the same state, history included.
func TestSnapshotHistoryCompact(t *testing.T) {
	tests := []struct {
		name         string
		keys, rounds int
		historySize  int
	}{
		{"every key rewritten many times", 10, 10, DefaultHistorySize},
		{"each key once", 100, 1, DefaultHistorySize},
		{"history shorter than the writes", 10, 10, 25},
		{"no history", 10, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const size = 256
			src := historyState(t, tt.keys, tt.rounds, size, WithHistorySize(tt.historySize))
			data := encode(t, src.sm)
			// Written out, each event's two values (prev and cur) would
			// take 2*size bytes, and each key another size.
			events := min(tt.historySize, tt.keys*tt.rounds)
			if tt.rounds > 1 && events > 0 && len(data) > (tt.keys+2*events)*size*2/3 {
				t.Errorf("%d bytes for %d keys and %d events of %d bytes: the history is not stored compactly",
					len(data), tt.keys, events, size)
			}
			dst := New(WithHistorySize(tt.historySize))
			if err := dst.Restore(bytes.NewReader(data)); err != nil {
				t.Fatalf("restore: %v", err)
			}
			checkInvariants(t, dst)
			if dst.Hash() != src.sm.Hash() {
				t.Fatal("restored another state")
			}
			rev := src.sm.Revision()
			want, wantErr := eventsBetween(src.sm, 1, rev)
			got, err := eventsBetween(dst, 1, rev)
			if !errors.Is(err, ErrCompacted) != !errors.Is(wantErr, ErrCompacted) || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("restored history differs:\n got %v (%v)\nwant %v (%v)", got, err, want, wantErr)
			}
			from := src.sm.mu.hist.compacted + 1
			want, _ = eventsBetween(src.sm, from, rev)
			got, err = eventsBetween(dst, from, rev)
			if err != nil || fmt.Sprint(got) != fmt.Sprint(want) || (tt.historySize > 0 && len(got) == 0) {
				t.Fatalf("restored history from revision %d differs (%v):\n got %v\nwant %v", from, err, got, want)
			}
		})
	}
}

// A snapshot that writes out a value it must refer to, or that refers to
// a value that is not there, is corrupt.
func TestSnapshotHistoryRefsChecked(t *testing.T) {
	const rev = buildRevision
	m1 := kvMeta{seq: 1, createSeq: 1, version: 1, createRev: rev - 1, modRev: rev - 1}
	m2 := kvMeta{seq: 2, createSeq: 1, version: 2, createRev: rev - 1, modRev: rev}
	keys := func(e *encoder) {
		e.record(newKV("a", m2, []byte("2")))
		e.byte(tagEnd)
		e.u64(1)
	}
	// firstEvent writes the compacted revision, the history count 2 and
	// the event that created "a" with the value "1".
	firstEvent := func(e *encoder) {
		e.u64(rev - 2)
		e.u64(2)
		e.str("a")
		e.uvarint(rev - 1)
		e.uvarint(0)
		e.byte(histCur)
		e.value(newKV("a", m1, []byte("1")))
	}
	tests := []struct {
		name string
		hist func(e *encoder)
		ok   bool
	}{
		{"canonical", func(e *encoder) {
			firstEvent(e)
			e.str("a")
			e.uvarint(rev)
			e.uvarint(0)
			e.byte(histPrev | histPrevOfEvent | histCur | histCurOfRecord)
		}, true},
		{"prev written out", func(e *encoder) {
			firstEvent(e)
			e.str("a")
			e.uvarint(rev)
			e.uvarint(0)
			e.byte(histPrev | histCur | histCurOfRecord)
			e.value(newKV("a", m1, []byte("1")))
		}, false},
		{"cur written out", func(e *encoder) {
			firstEvent(e)
			e.str("a")
			e.uvarint(rev)
			e.uvarint(0)
			e.byte(histPrev | histPrevOfEvent | histCur)
			e.value(newKV("a", m2, []byte("2")))
		}, false},
		{"prev of no earlier event", func(e *encoder) {
			e.u64(rev - 1)
			e.u64(1)
			e.str("a")
			e.uvarint(rev)
			e.uvarint(0)
			e.byte(histPrev | histPrevOfEvent | histCur | histCurOfRecord)
		}, false},
		{"cur of a record with another revision", func(e *encoder) {
			e.u64(rev - 2)
			e.u64(2)
			e.str("a")
			e.uvarint(rev - 1)
			e.uvarint(0)
			e.byte(histCur | histCurOfRecord)
			e.str("a")
			e.uvarint(rev)
			e.uvarint(0)
			e.byte(histPrev | histPrevOfEvent | histCur | histCurOfRecord)
		}, false},
		{"ref flag without its value", func(e *encoder) {
			e.u64(rev - 1)
			e.u64(1)
			e.str("a")
			e.uvarint(rev)
			e.uvarint(0)
			e.byte(histCurOfRecord)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := New().Restore(bytes.NewReader(buildSnapshot(2, nil, 1, keys, tt.hist)))
			if tt.ok && err != nil {
				t.Fatal(err)
			}
			if !tt.ok && !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("err = %v, want ErrCorruptSnapshot", err)
			}
		})
	}
}

// BenchmarkSnapshotHistory encodes the bench's state: 10,000 keys of 256
// bytes written at random, and a full history of 10,000 events.
func BenchmarkSnapshotHistory(b *testing.B) {
	a := newApplier(b)
	value := bytes.Repeat([]byte("v"), 256)
	for i := range 20_000 {
		k := (i * 7919) % 10_000
		a.upsert(t0, put(fmt.Sprintf("bench/key/%08d", k), string(value)))
	}
	n, err := a.sm.Snapshot().WriteTo(discard{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(n)
	for b.Loop() {
		if _, err := a.sm.Snapshot().WriteTo(discard{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/(1<<20), "snapshot-MB")
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
