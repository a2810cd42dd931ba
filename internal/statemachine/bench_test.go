package statemachine

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"runtime"
	"testing"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/api/peerpb"
)

// populate returns a state machine holding n keys with valueSize-byte values.
func populate(b *testing.B, n, valueSize int) *StateMachine {
	b.Helper()
	sm := New()
	value := bytes.Repeat([]byte("v"), valueSize)
	for i := range n {
		cmd := upsertCmd(&metapb.UpsertRequest{Key: fmt.Sprintf("key/%08d", i), Value: value})
		if res := sm.Apply(uint64(i+1), t0, cmd); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
	return sm
}

// BenchmarkApplyUpsert applies upserts of 256-byte values over 100k keys:
// as the proposer with watchers (everything), and as another node with
// no watchers (ApplyOptions: no reply values, no events).
func BenchmarkApplyUpsert(b *testing.B) {
	for _, bc := range []struct {
		name string
		o    ApplyOptions
	}{{"all", ApplyOptions{}}, {"quiet", ApplyOptions{NoReply: true, NoEvents: true}}} {
		b.Run(bc.name, func(b *testing.B) {
			sm := New()
			const keys = 100_000
			cmds := make([]*peerpb.Command, keys)
			for i := range cmds {
				cmds[i] = upsertCmd(&metapb.UpsertRequest{Key: fmt.Sprintf("key/%08d", i), Value: make([]byte, 256)})
			}
			var i uint64
			b.ReportAllocs()
			for b.Loop() {
				i++
				if res := sm.ApplyWith(i, t0+i, cmds[i%keys], bc.o); res.Err != nil {
					b.Fatal(res.Err)
				}
			}
		})
	}
}

// BenchmarkApplyTxn applies 3-op transactions over 100k keys with a
// condition: plain ops, and ops with a counter (which need a rollback
// point).
func BenchmarkApplyTxn(b *testing.B) {
	const keys = 100_000
	value := make([]byte, 256)
	for _, bc := range []struct {
		name string
		ops  func(key string) []*metapb.TxnOp
	}{
		{"put-get-delete", func(key string) []*metapb.TxnOp {
			return []*metapb.TxnOp{
				opPutReq(&metapb.TxnPut{Key: key, Value: value}), opGet(key), opDel(key+"/old", nil),
			}
		}},
		{"put-increase-sequential", func(key string) []*metapb.TxnOp {
			return []*metapb.TxnOp{
				opPutReq(&metapb.TxnPut{Key: key, Value: value}), opIncr("counter", 1, 0, nil), opSeq("q/", "qseq", "x", 0),
			}
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			sm := populate(b, keys, 256)
			cmds := make([]*peerpb.Command, keys)
			for i := range cmds {
				key := fmt.Sprintf("key/%08d", i)
				cmds[i] = txnCmd(&metapb.TxnRequest{
					Condition: []*metapb.TxnCondition{condSeq(key, GE, 1)},
					IfThen:    bc.ops(key),
				})
			}
			i := sm.AppliedIndex()
			b.ReportAllocs()
			for b.Loop() {
				i++
				res := sm.Apply(i, t0+i, cmds[i%keys])
				if res.Err != nil || !res.Txn.Success {
					b.Fatal(res)
				}
			}
		})
	}
}

func BenchmarkEventsBetween(b *testing.B) {
	sm := populate(b, DefaultHistorySize, 256)
	from := sm.LastSeq() - 99
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		if err := sm.EventsBetween(from, sm.LastSeq(), func(*metapb.Event) bool { n++; return true }); err != nil || n != 100 {
			b.Fatal(n, err)
		}
	}
}

func BenchmarkApplyUpsertTTL(b *testing.B) {
	sm := New()
	const keys = 100_000
	cmds := make([]*peerpb.Command, keys)
	for i := range cmds {
		cmds[i] = upsertCmd(&metapb.UpsertRequest{Key: fmt.Sprintf("key/%08d", i), Value: make([]byte, 256), TtlMs: 50_000})
	}
	var i uint64
	b.ReportAllocs()
	for b.Loop() {
		i++
		// Each entry advances the clock by 1 ms: steady state of about
		// 50k live keys, one expiring per Apply.
		if res := sm.Apply(i, t0+i, cmds[i%keys]); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	const keys = 100_000
	sm := populate(b, keys, 256)
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprintf("key/%08d", i)
	}
	var i int
	b.ReportAllocs()
	for b.Loop() {
		i++
		if sm.Get(names[i%keys], t0) == nil {
			b.Fatal("missing key")
		}
	}
}

func BenchmarkSnapshotWrite(b *testing.B) {
	sm := populate(b, 100_000, 256)
	n, err := sm.Snapshot().WriteTo(io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sm.Snapshot().WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRestore(b *testing.B) {
	sm := populate(b, 100_000, 256)
	var buf bytes.Buffer
	if _, err := sm.Snapshot().WriteTo(&buf); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := New().Restore(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshotRoundTrip1M writes and restores 1M keys of 256 bytes.
func BenchmarkSnapshotRoundTrip1M(b *testing.B) {
	sm := populate(b, 1_000_000, 256)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if _, err := sm.Snapshot().WriteTo(&buf); err != nil {
			b.Fatal(err)
		}
		if err := New().Restore(&buf); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Cap()))
}

func BenchmarkHash100k(b *testing.B) {
	sm := populate(b, 100_000, 256)
	for b.Loop() {
		sm.Hash()
	}
}

// BenchmarkHeapPerKey reports the Go heap a state of 100k keys of 256
// bytes takes per key (heap-B/key: live heap after a GC, less the heap
// before, over the keys), for keys written in ascending order (as a bulk
// load), in random order, and restored from a snapshot.
func BenchmarkHeapPerKey(b *testing.B) {
	const keys = 100_000
	value := make([]byte, 256)
	cmds := make([]*peerpb.Command, keys)
	for i := range cmds {
		cmds[i] = upsertCmd(&metapb.UpsertRequest{Key: fmt.Sprintf("key/%08d", i), Value: value})
	}
	written := func(order []int) *StateMachine {
		sm := New(WithHistorySize(0))
		for i, k := range order {
			if res := sm.Apply(uint64(i+1), t0, cmds[k]); res.Err != nil {
				b.Fatal(res.Err)
			}
		}
		return sm
	}
	ascending := make([]int, keys)
	for i := range ascending {
		ascending[i] = i
	}
	random := rand.New(rand.NewSource(1)).Perm(keys)
	var snap bytes.Buffer
	if _, err := written(ascending).Snapshot().WriteTo(&snap); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		build func() *StateMachine
	}{
		{"ascending", func() *StateMachine { return written(ascending) }},
		{"random", func() *StateMachine { return written(random) }},
		{"restored", func() *StateMachine {
			sm := New(WithHistorySize(0))
			if err := sm.Restore(bytes.NewReader(snap.Bytes())); err != nil {
				b.Fatal(err)
			}
			return sm
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var perKey float64
			for b.Loop() {
				before := liveHeap()
				sm := bc.build()
				perKey = float64(liveHeap()-before) / keys
				runtime.KeepAlive(sm)
			}
			b.ReportMetric(perKey, "heap-B/key")
		})
	}
}

// liveHeap returns the bytes of live heap objects after a full GC.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkHeapPerChange measures the Go heap one retained change of the
// history costs (bytes/change): 100k puts over 1000 keys of 256-byte
// values, with a history that keeps all of them, less the same state
// with no history. An overwrite keeps the value it replaced alive (the
// change's prev); a change's current value is the next change's prev or
// the key itself, so each value is counted once.
func BenchmarkHeapPerChange(b *testing.B) {
	const changes, keys = 100_000, 1000
	value := make([]byte, 256)
	cmds := make([]*peerpb.Command, changes)
	for i := range cmds {
		cmds[i] = upsertCmd(&metapb.UpsertRequest{Key: fmt.Sprintf("key/%08d", i%keys), Value: value})
	}
	written := func(history int) *StateMachine {
		sm := New(WithHistorySize(history), WithHistoryRetention(0))
		for i, c := range cmds {
			if res := sm.Apply(uint64(i+1), t0, c); res.Err != nil {
				b.Fatal(res.Err)
			}
		}
		return sm
	}
	var perChange float64
	for b.Loop() {
		before := liveHeap()
		none := written(0)
		bare := liveHeap() - before
		runtime.KeepAlive(none)
		before = liveHeap()
		all := written(changes)
		perChange = float64(liveHeap()-before-bare) / changes
		runtime.KeepAlive(all)
	}
	b.ReportMetric(perChange, "bytes/change")
}
