package storage

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/metrics"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/fileutil"
	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/raft/v3/raftpb"
)

// benchSave saves batch entries of 300 bytes plus a hard state per Save,
// as a leader's Ready loop does under load. Every Save has entries, so
// every Save is fdatasync'd (unless noSync).
func benchSave(b *testing.B, batch int, noSync bool) {
	s, err := Open(b.TempDir(), testID, testCluster, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if noSync {
		s.mu.wal.(*wal.WAL).SetUnsafeNoFsync()
	}
	data := make([]byte, 300)
	// Build the entries up front so the loop measures Save only.
	ents := make([]*raftpb.Entry, b.N*batch)
	for i := range ents {
		ents[i] = &raftpb.Entry{Index: new(uint64(i + 1)), Term: new(uint64(1)), Type: raftpb.EntryNormal.Enum(), Data: data}
	}
	hss := make([]*raftpb.HardState, b.N)
	for i := range hss {
		hss[i] = hardState(1, 1, uint64(i*batch))
	}
	b.SetBytes(int64(batch * len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Save(hss[i], ents[i*batch:(i+1)*batch], nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/entry")
}

func BenchmarkSave(b *testing.B)             { benchSave(b, 1, false) }
func BenchmarkSaveBatch(b *testing.B)        { benchSave(b, 64, false) }
func BenchmarkSaveNoFsync(b *testing.B)      { benchSave(b, 1, true) }
func BenchmarkSaveBatchNoFsync(b *testing.B) { benchSave(b, 64, true) }

// BenchmarkFdatasync is the floor under BenchmarkSave: a 300-byte write
// and fdatasync into a preallocated file in the same file system.
func BenchmarkFdatasync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "f"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := fileutil.Preallocate(f, 64<<20, true); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 304)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		off := int64(i*len(buf)) % (64 << 20)
		if _, err := f.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
		if err := fileutil.Fdatasync(f); err != nil {
			b.Fatal(err)
		}
	}
}

// synthSnapshot writes size bytes in 64 KB writes, as the state machine's
// buffered encoder does (a stand-in for statemachine.Snapshot).
type synthSnapshot struct{ size int64 }

func (s synthSnapshot) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, 64<<10)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	var n int64
	for n < s.size {
		k, err := w.Write(buf[:min(int64(len(buf)), s.size-n)])
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// heapPeak samples the live heap every millisecond until stopped and
// returns the highest value seen above the value at the start.
func heapPeak() (stop func() uint64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	base := read()
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if v := read(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		if p := peak.Load(); p > base {
			return p - base
		}
		return 0
	}
}

// BenchmarkCreateSnapshot takes a snapshot of a state machine whose
// encoding is size bytes (8 MB: the bench's 10,000 keys; 256 MB: ~1M keys
// of 256 bytes), as the server does, and reports the heap it needed at
// its peak above what it held before.
func BenchmarkCreateSnapshot(b *testing.B) {
	for _, size := range []int64{8 << 20, 256 << 20} {
		b.Run(fmt.Sprintf("size=%dMB", size>>20), func(b *testing.B) {
			s, err := Open(b.TempDir(), testID, testCluster, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			mustSave(b, s, hardState(1, 1, 100_000), entries(1, 100_000, 1, 1), nil)
			b.SetBytes(size)
			b.ReportAllocs()
			var peak uint64
			i := uint64(1)
			for b.Loop() {
				stop := heapPeak()
				if err := s.CreateSnapshot(i, confState(1), synthSnapshot{size}, 5); err != nil {
					b.Fatal(err)
				}
				peak = max(peak, stop())
				i++
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		})
	}
}

// BenchmarkSaveDuringSnapshot measures what a large snapshot being written
// does to the WAL's fsync'd Saves on the same disk: one entry of 300 bytes
// per Save, back to back, while 256 MB snapshots are written one after the
// other; it reports the Saves' p50, p99 and max (compare BenchmarkSave).
// docs/PERFORMANCE.md has what syncing snapshot files in pieces did to it.
func BenchmarkSaveDuringSnapshot(b *testing.B) {
	s, err := Open(b.TempDir(), testID, testCluster, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const pre = 1000
	mustSave(b, s, hardState(1, 1, pre), entries(1, pre, 1, 1), nil)

	stop := make(chan struct{})
	snapErr := make(chan error, 1)
	go func() {
		for i := uint64(1); ; i++ {
			select {
			case <-stop:
				snapErr <- nil
				return
			default:
			}
			if err := s.CreateSnapshot(i, confState(1), synthSnapshot{256 << 20}, 1<<40); err != nil {
				snapErr <- err
				return
			}
		}
	}()
	data := make([]byte, 300)
	var lat []time.Duration
	next := uint64(pre + 1)
	for b.Loop() {
		e := &raftpb.Entry{Index: new(next), Term: new(uint64(1)), Type: raftpb.EntryNormal.Enum(), Data: data}
		start := time.Now()
		if err := s.Save(hardState(1, 1, next), []*raftpb.Entry{e}, nil); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		next++
	}
	close(stop)
	if err := <-snapErr; err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(q(0.5), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	b.ReportMetric(q(1), "max-µs")
}
