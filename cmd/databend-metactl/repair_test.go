package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/metasrv/metasrv/internal/storage"
)

// damagedRaftDir writes a raft_dir of node 1 with entries 1..20, one per
// Save, a snapshot at 5 whose members are voters, and flips a byte in the
// record of entry 10.
func damagedRaftDir(t *testing.T, voters ...uint64) string {
	t.Helper()
	dir := t.TempDir()
	s, err := storage.Open(dir, 1, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 20; i++ {
		e := &raftpb.Entry{Index: new(i), Term: new(uint64(1)), Type: raftpb.EntryNormal.Enum(), Data: []byte(strings.Repeat("x", 100))}
		if err := s.Save(&raftpb.HardState{Term: new(uint64(1)), Vote: new(uint64(1)), Commit: new(i)}, []*raftpb.Entry{e}, nil); err != nil {
			t.Fatal(err)
		}
		if i == 5 {
			if err := s.CreateSnapshot(5, &raftpb.ConfState{Voters: append([]uint64{1}, voters...)}, strings.NewReader("state"), 100); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.Close()
	at := entryOffset(t, dir, 10)
	p := walFile(t, dir)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[at+50] ^= 0x01
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := storage.Open(dir, 1, "test", nil); err == nil || !strings.Contains(err.Error(), "databend-metactl repair --raft-dir "+dir) {
		t.Fatalf("Open of the damaged dir: %v, want a refusal pointing at repair", err)
	}
	return dir
}

func walFile(t *testing.T, dir string) string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "wal", "*.wal"))
	if err != nil || len(names) != 1 {
		t.Fatalf("WAL files %v, %v", names, err)
	}
	return names[0]
}

// entryOffset returns the offset of the WAL record of entry index.
func entryOffset(t *testing.T, dir string, index uint64) int64 {
	t.Helper()
	at := int64(-1)
	err := storage.ReadWALRecords(dir, func(r storage.WALRecord) error {
		if r.Type == wal.EntryType && wal.MustUnmarshalEntry(r.Data).GetIndex() == index {
			at = r.Offset
		}
		return nil
	})
	if err != nil || at < 0 {
		t.Fatalf("no record of entry %d: %v", index, err)
	}
	return at
}

func TestRepairCommand(t *testing.T) {
	dir := damagedRaftDir(t)
	stdout, stderr, code := runCLI(t, "repair", "--raft-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q, stdout %q", code, stderr, stdout)
	}
	for _, want := range []string{
		"damage: WAL file wal/", "is damaged at offset",
		"cut " + walFile(t, dir), ".broken",
		"log up to index 9",
		"WARNING: the log entries after index 9 up to index 20 are lost on this node (id 1)",
		"This node is a single-node cluster", "databend-metactl import",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout does not say %q:\n%s", want, stdout)
		}
	}
	s, err := storage.Open(dir, 1, "test", nil)
	if err != nil {
		t.Fatalf("Open after repair: %v", err)
	}
	if last, _ := s.LastIndex(); last != 9 {
		t.Errorf("last index %d after repair, want 9", last)
	}
	s.Close()

	stdout, _, code = runCLI(t, "repair", "--raft-dir", dir)
	if code != 0 || !strings.Contains(stdout, "is intact: nothing to repair") {
		t.Errorf("second repair: exit %d, %q", code, stdout)
	}
}

func TestRepairCommandClusterMember(t *testing.T) {
	dir := damagedRaftDir(t, 2, 3)
	stdout, stderr, code := runCLI(t, "repair", "--raft-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{
		"has been a member of a cluster with nodes [2 3]", "do not start it again under id 1",
		"tocommit out of range", "rejoins a cluster that still has them, as a new node",
		"databend-meta --leave-id 1 --leave-via", "a new id and join = [",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout does not say %q:\n%s", want, stdout)
		}
	}
}

func TestRepairCommandJSON(t *testing.T) {
	dir := damagedRaftDir(t)
	stdout, stderr, code := runCLI(t, "--output", "json", "repair", "--raft-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var got repairJSON
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("decode %q: %v", stdout, err)
	}
	if !got.Lost || got.LastIndex != 9 || got.LostUpTo != 20 || got.Truncated == "" || got.Warning == "" || got.Error != "" || got.ID != 1 || len(got.Peers) != 0 {
		t.Errorf("report %+v", got)
	}
}

func TestRepairCommandRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		args func(t *testing.T) []string
		code int
		want string
	}{
		{"no raft-dir", func(*testing.T) []string { return []string{"repair"} }, exitUsage, "--raft-dir is required"},
		{"not a raft_dir", func(t *testing.T) []string { return []string{"repair", "--raft-dir", t.TempDir()} }, exitError, "not a raft_dir"},
		{"running node", func(t *testing.T) []string {
			dir := t.TempDir()
			s, err := storage.Open(dir, 1, "test", nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return []string{"repair", "--raft-dir", dir}
		}, exitError, "stopped node only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, tc.args(t)...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tc.code, tc.want)
			}
		})
	}
}
