package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"go.etcd.io/etcd/client/pkg/v3/fileutil"
	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

const (
	testID      = 1
	testCluster = "test"
)

// testLogger writes slog output to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func mustOpen(t testing.TB, dir string) *Storage {
	t.Helper()
	s, err := Open(dir, testID, testCluster, testLogger(t))
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func hardState(term, vote, commit uint64) *raftpb.HardState {
	return &raftpb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}
}

// entries returns entries lo..hi inclusive at term, each with size bytes of
// data derived from its index.
func entries(lo, hi, term uint64, size int) []*raftpb.Entry {
	var ents []*raftpb.Entry
	for i := lo; i <= hi; i++ {
		data := bytes.Repeat([]byte{byte(i%251 + 1)}, size)
		ents = append(ents, &raftpb.Entry{Index: new(i), Term: new(term), Type: raftpb.EntryNormal.Enum(), Data: data})
	}
	return ents
}

func mustSave(t testing.TB, s *Storage, hs *raftpb.HardState, ents []*raftpb.Entry, sn *raftpb.Snapshot) {
	t.Helper()
	if err := s.Save(hs, ents, sn); err != nil {
		t.Fatalf("Save: %v", err)
	}
}

// allEntries returns every entry the MemoryStorage holds.
func allEntries(t testing.TB, s *Storage) []*raftpb.Entry {
	t.Helper()
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if last < first {
		return nil
	}
	ents, err := s.Entries(first, last+1, ^uint64(0))
	if err != nil {
		t.Fatalf("Entries(%d, %d): %v", first, last+1, err)
	}
	return ents
}

func checkEntries(t testing.TB, got, want []*raftpb.Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("entry %d: got index %d term %d len %d, want index %d term %d len %d",
				i, got[i].GetIndex(), got[i].GetTerm(), len(got[i].GetData()),
				want[i].GetIndex(), want[i].GetTerm(), len(want[i].GetData()))
		}
	}
}

func checkHardState(t testing.TB, got, want *raftpb.HardState) {
	t.Helper()
	if got.GetTerm() != want.GetTerm() || got.GetVote() != want.GetVote() || got.GetCommit() != want.GetCommit() {
		t.Fatalf("hard state: got %v, want %v", got, want)
	}
}

func checkIndexes(t testing.TB, s *Storage, first, last uint64) {
	t.Helper()
	f, _ := s.FirstIndex()
	l, _ := s.LastIndex()
	if f != first || l != last {
		t.Fatalf("FirstIndex, LastIndex = %d, %d; want %d, %d", f, l, first, last)
	}
}

// treeBytes returns every regular file under dir with its content.
func treeBytes(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		m[rel] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func walNames(t testing.TB, dir string) []string {
	t.Helper()
	names, err := fileutil.ReadDir(filepath.Join(dir, walDirName), fileutil.WithExt(".wal"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func snapNames(t testing.TB, dir string) []string {
	t.Helper()
	names, err := fileutil.ReadDir(filepath.Join(dir, snapDirName), fileutil.WithExt(".snap"))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// walEnd returns the offset just past the last valid record of the WAL file p.
func walEnd(t testing.TB, p string) int64 {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := wal.NewDecoder(fileutil.NewFileReader(f))
	rec := &walpb.Record{}
	for {
		err := dec.Decode(rec)
		if errors.Is(err, io.EOF) {
			return dec.LastOffset()
		}
		if err != nil {
			t.Fatalf("decode %s: %v", p, err)
		}
		if rec.GetType() == wal.CrcType {
			dec.UpdateCRC(rec.GetCrc())
		}
	}
}

func confState(voters ...uint64) *raftpb.ConfState {
	return &raftpb.ConfState{Voters: voters, AutoLeave: new(false)}
}

func snapshotAt(index, term uint64, cs *raftpb.ConfState, data []byte) *raftpb.Snapshot {
	return &raftpb.Snapshot{
		Metadata: &raftpb.SnapshotMetadata{Index: new(index), Term: new(term), ConfState: cs},
		Data:     data,
	}
}

func snapData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return fmt.Appendf(b, "end")
}

// readSnap reads the state machine data of sn, a snapshot of s, from its
// file.
func readSnap(t testing.TB, s *Storage, sn *raftpb.Snapshot) []byte {
	t.Helper()
	rc, err := s.OpenSnapshotData(sn)
	if err != nil {
		t.Fatalf("OpenSnapshotData(%d): %v", sn.GetMetadata().GetIndex(), err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read snapshot %d: %v", sn.GetMetadata().GetIndex(), err)
	}
	return b
}
