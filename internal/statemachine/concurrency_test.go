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
		// A view holds nothing newer than its LastSeq and Revision.
		v := sm.View()
		v.Range("k", "l", 0, func(kv *metapb.KV) bool {
			if kv.Value.Seq > v.LastSeq() || kv.Value.ModRevision > v.Revision() {
				t.Errorf("view at seq %d, revision %d holds %s at seq %d, revision %d",
					v.LastSeq(), v.Revision(), kv.Key, kv.Value.Seq, kv.Value.ModRevision)
			}
			return true
		})
		sm.Range("k0", "k2", t0, func(*metapb.KV) bool { return true })
	})
	reader(func() {
		sm.Hash()
		sm.Nodes()
		sm.KeyCount()
		// Revision then EventsBetween up to it sees every event, in
		// ascending revisions that end at it, without a gap when every
		// revision changed a key.
		last := sm.Revision()
		from := max(last, 20) - 19
		prev := max(from, FirstRevision+1) - 1 // revision 1 is the empty store: no events
		err := sm.EventsBetween(from, last, func(e *metapb.Event) bool {
			if e.Revision != prev && e.Revision != prev+1 {
				t.Errorf("EventsBetween(%d, %d): revision %d after %d", from, last, e.Revision, prev)
			}
			prev = e.Revision
			return true
		})
		if errors.Is(err, ErrCompacted) && sm.Revision() >= from+16 {
			return // revisions came in between that dropped it: rightly compacted
		}
		if err != nil || (last >= from && prev != last) {
			t.Errorf("EventsBetween(%d, %d) stopped at revision %d: %v", from, last, prev, err)
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
