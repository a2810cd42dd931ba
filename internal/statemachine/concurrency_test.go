package statemachine

import (
	"bytes"
	"sync"
	"testing"

	"github.com/metasrv/metasrv/api/metapb"
)

// TestConcurrentReads runs readers, List callbacks and snapshot writers
// against the apply goroutine (run it with -race). Every snapshot taken
// mid-way must equal the state of a replay up to its index.
func TestConcurrentReads(t *testing.T) {
	log := randomLog(7, 3000)
	sm := New()
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
	})
	reader(func() { sm.Hash(); sm.Nodes(); sm.KeyCount(); sm.LastSeq() })

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
		ref := New()
		for _, e := range log[:s.index] {
			applyEntry(t, ref, e)
		}
		restored := New()
		if err := restored.Restore(bytes.NewReader(s.data)); err != nil {
			t.Fatal(err)
		}
		assertSameState(t, restored, ref)
	}
}
