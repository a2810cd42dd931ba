package statemachine

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"github.com/metasrv/metasrv/api/metapb"
)

// TestConcurrentReads runs readers, List callbacks and snapshot writers
// against the apply goroutine (run it with -race). Every snapshot taken
// mid-way must equal the state of a replay up to its index.
func TestConcurrentReads(t *testing.T) {
	log := randomLog(7, 3000)
	sm := New(WithHistorySize(64)) // small, so the history wraps

	stop := make(chan struct{})
	var wg sync.WaitGroup

	reader := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					f()
				}
			}
		}()
	}
	reader(func() { sm.Get("k01", t0) })
	reader(func() { sm.MGet([]string{"k02", "k03", "zz"}, t0+5000) })
	reader(func() {
		sm.List("k1", 5, 0, func(kv *metapb.KV) bool { kv.Value.Data = nil; return true })
		// A view holds nothing newer than its LastSeq.
		v := sm.View()
		v.Range("k", "l", 0, func(kv *metapb.KV) bool {
			if kv.Value.Seq > v.LastSeq() {
				t.Errorf("view at seq %d holds %s at seq %d", v.LastSeq(), kv.Key, kv.Value.Seq)
			}
			return true
		})
		sm.Range("k0", "k2", t0, func(*metapb.KV) bool { return true })
	})
	reader(func() {
		sm.Hash()
		sm.Nodes()
		sm.KeyCount()
		// LastSeq then EventsBetween up to it sees every event, contiguous.
		last := sm.LastSeq()
		from := max(last, 20) - 19
		next := from
		err := sm.EventsBetween(from, last, func(e *metapb.Event) bool {
			if e.Seq != next {
				t.Errorf("EventsBetween(%d, %d): seq %d, want %d", from, last, e.Seq, next)
			}
			next++
			return true
		})
		if errors.Is(err, ErrCompacted) && sm.LastSeq() >= from+64 {
			return // 64 more changes came in between: rightly compacted
		}
		if err != nil || next != last+1 {
			t.Errorf("EventsBetween(%d, %d) stopped before %d: %v", from, last, next, err)
		}
	})

	type taken struct {
		index uint64
		data  []byte
	}
	snaps := make(chan taken, 64)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(snaps)
		for range 20 {
			select {
			case <-stop:
				return
			default:
			}
			s := sm.Snapshot()
			var buf bytes.Buffer
			if _, err := s.WriteTo(&buf); err != nil {
				t.Error(err)
				return
			}
			snaps <- taken{s.Index(), buf.Bytes()}
		}
	}()

	for _, e := range log {
		applyEntry(t, sm, e)
	}
	close(stop)
	wg.Wait()

	for s := range snaps {
		ref := New(WithHistorySize(64))
		for _, e := range log[:s.index] {
			applyEntry(t, ref, e)
		}
		restored := New(WithHistorySize(64))
		if err := restored.Restore(bytes.NewReader(s.data)); err != nil {
			t.Fatal(err)
		}
		assertSameState(t, restored, ref)
	}
}
