package storage

import (
	"os"
	"path/filepath"
	"testing"

	"go.etcd.io/etcd/client/pkg/v3/fileutil"
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
		s.mu.wal.SetUnsafeNoFsync()
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
