package statemachine

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// encodeVersion encodes sm's snapshot in the given format version.
func encodeVersion(t testing.TB, sm *StateMachine, version uint32) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := sm.Snapshot().writeVersion(&buf, version); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

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

// Version 3 stores each value of the history once: a 10-key state whose
// history holds 100 writes of 256 bytes is far smaller than in version 2,
// and restores to the same state (history included) from either version.
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
			src := historyState(t, tt.keys, tt.rounds, 256, WithHistorySize(tt.historySize))
			v3 := encode(t, src.sm)
			v2 := encodeVersion(t, src.sm, snapshotVersionV2)
			if tt.historySize > 0 && tt.rounds > 1 && len(v3) > len(v2)*2/3 {
				t.Errorf("version 3 is %d bytes, version 2 %d: the history is not stored compactly", len(v3), len(v2))
			}
			for version, data := range map[uint32][]byte{3: v3, 2: v2} {
				dst := New(WithHistorySize(tt.historySize))
				if err := dst.Restore(bytes.NewReader(data)); err != nil {
					t.Fatalf("restore version %d: %v", version, err)
				}
				checkInvariants(t, dst)
				if dst.Hash() != src.sm.Hash() {
					t.Fatalf("version %d restores another state", version)
				}
				from := max(src.sm.LastSeq()-uint64(min(tt.historySize, int(src.sm.LastSeq())))+1, 1)
				if tt.historySize == 0 {
					continue
				}
				want, err := eventsBetween(src.sm, from, src.sm.LastSeq())
				if err != nil {
					t.Fatal(err)
				}
				got, err := eventsBetween(dst, from, src.sm.LastSeq())
				if err != nil {
					t.Fatalf("version %d: events %d..%d: %v", version, from, src.sm.LastSeq(), err)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("version %d: restored history differs:\n got %v\nwant %v", version, got, want)
				}
			}
		})
	}
}

// A version 3 snapshot that writes out a value it must refer to, or that
// refers to a value that is not there, is corrupt.
func TestSnapshotHistoryRefsChecked(t *testing.T) {
	key := func(e *encoder, k, v string, seq uint64) {
		e.byte(tagRecord)
		e.str(k)
		e.str(v)
		e.uvarint(seq)
		e.uvarint(1)
		e.uvarint(2)
		e.uvarint(0)
	}
	keys := func(e *encoder) {
		key(e, "a", "2", 2)
		e.byte(tagEnd)
		e.u64(1)
	}
	value := func(e *encoder, v string, seq, version uint64) {
		e.str(v)
		if seq != 0 {
			e.uvarint(seq)
		}
		e.uvarint(1)
		e.uvarint(version)
		e.uvarint(0)
	}
	// firstEvent writes the history count 2 and the event that created
	// "a" with the value "1".
	firstEvent := func(e *encoder) {
		e.u64(2)
		e.str("a")
		e.uvarint(1)
		e.byte(histCur)
		value(e, "1", 0, 1)
	}
	tests := []struct {
		name string
		hist func(e *encoder)
		ok   bool
	}{
		{"canonical", func(e *encoder) {
			firstEvent(e)
			e.str("a")
			e.uvarint(2)
			e.byte(histPrev | histPrevOfEvent | histCur | histCurOfRecord)
		}, true},
		{"prev written out", func(e *encoder) {
			firstEvent(e)
			e.str("a")
			e.uvarint(2)
			e.byte(histPrev | histCur | histCurOfRecord)
			value(e, "1", 1, 1)
		}, false},
		{"cur written out", func(e *encoder) {
			firstEvent(e)
			e.str("a")
			e.uvarint(2)
			e.byte(histPrev | histPrevOfEvent | histCur)
			value(e, "2", 0, 2)
		}, false},
		{"prev of no earlier event", func(e *encoder) {
			e.u64(1)
			e.str("a")
			e.uvarint(2)
			e.byte(histPrev | histPrevOfEvent | histCur | histCurOfRecord)
		}, false},
		{"cur of a record with another seq", func(e *encoder) {
			e.u64(2)
			e.str("a")
			e.uvarint(1)
			e.byte(histCur | histCurOfRecord)
			e.str("a")
			e.uvarint(2)
			e.byte(histPrev | histPrevOfEvent | histCur | histCurOfRecord)
		}, false},
		{"ref flag without its value", func(e *encoder) {
			e.u64(1)
			e.str("a")
			e.uvarint(2)
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
	for _, version := range []uint32{snapshotVersionV2, snapshotVersion} {
		b.Run(fmt.Sprintf("v%d", version), func(b *testing.B) {
			a := newApplier(b)
			value := bytes.Repeat([]byte("v"), 256)
			for i := range 20_000 {
				k := (i * 7919) % 10_000
				a.upsert(t0, put(fmt.Sprintf("bench/key/%08d", k), string(value)))
			}
			n, err := a.sm.Snapshot().writeVersion(discard{}, version)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(n)
			for b.Loop() {
				if _, err := a.sm.Snapshot().writeVersion(discard{}, version); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/(1<<20), "snapshot-MB")
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
