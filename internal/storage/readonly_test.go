package storage

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/raft/v3/raftpb"
)

// dirState lists every file under dir with its size and modification time.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		out[p] = fi.ModTime().Format(time.RFC3339Nano) + " " + fi.Mode().String()
		if !fi.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[p] += " " + string(b[:min(len(b), 4096)])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOpenReadOnly(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	mustSave(t, s, hardState(2, 1, 8), entries(1, 10, 2, 16), nil)
	data := []byte("state machine snapshot")
	if err := s.CreateSnapshot(5, &raftpb.ConfState{Voters: []uint64{1, 2}}, bytes.NewReader(data), 0); err != nil {
		t.Fatal(err)
	}

	if _, err := OpenReadOnly(dir, nil); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "held by pid") {
		t.Fatalf("OpenReadOnly of an open raft_dir: %v, want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	before := dirState(t, dir)
	ro, err := OpenReadOnly(dir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if ro.ID != testID || ro.ClusterName != testCluster {
		t.Errorf("id %d cluster %q", ro.ID, ro.ClusterName)
	}
	if md := ro.Snapshot.GetMetadata(); md.GetIndex() != 5 || md.GetTerm() != 2 {
		t.Errorf("snapshot %v", ro.Snapshot)
	}
	rc, err := ro.OpenSnapshotData()
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(got) != string(data) {
		t.Errorf("snapshot data %q, %v; want %q", got, err, data)
	}
	if hs := ro.HardState; hs.GetTerm() != 2 || hs.GetVote() != 1 || hs.GetCommit() != 8 {
		t.Errorf("hard state %v", hs)
	}
	if len(ro.Entries) != 5 || ro.Entries[0].GetIndex() != 6 || ro.Entries[4].GetIndex() != 10 {
		t.Errorf("entries: %d, want 6..10", len(ro.Entries))
	}
	// While it is held, a node cannot open the directory.
	if _, err := Open(dir, testID, testCluster, nil); !errors.Is(err, ErrLocked) {
		t.Errorf("Open while read-only open: %v, want ErrLocked", err)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	after := dirState(t, dir)
	for p, st := range before {
		if after[p] != st {
			t.Errorf("%s changed", p)
		}
	}
	if len(after) != len(before) {
		t.Errorf("files added or removed: %d before, %d after", len(before), len(after))
	}

	if _, err := OpenReadOnly(t.TempDir(), nil); !errors.Is(err, ErrNotRaftDir) {
		t.Errorf("empty dir: %v, want ErrNotRaftDir", err)
	}
}

func TestReadWALRecords(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	mustSave(t, s, hardState(1, 1, 3), entries(1, 3, 1, 8), nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var types []int64
	var entryIndexes []uint64
	err := ReadWALRecords(dir, func(r WALRecord) error {
		types = append(types, r.Type)
		if r.Type == wal.EntryType {
			entryIndexes = append(entryIndexes, wal.MustUnmarshalEntry(r.Data).GetIndex())
		}
		if !strings.HasSuffix(r.File, ".wal") {
			t.Errorf("file %q", r.File)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{wal.CrcType, wal.MetadataType, wal.SnapshotType, wal.EntryType, wal.EntryType, wal.EntryType, wal.StateType}
	if len(types) < len(want) {
		t.Fatalf("record types %v, want at least %v", types, want)
	}
	for i, ty := range want {
		if types[i] != ty {
			t.Errorf("record %d: type %d, want %d (all: %v)", i, types[i], ty, types)
		}
	}
	if len(entryIndexes) != 3 || entryIndexes[2] != 3 {
		t.Errorf("entry indexes %v", entryIndexes)
	}
	stop := errors.New("stop")
	if err := ReadWALRecords(dir, func(WALRecord) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("callback error: %v", err)
	}
}
