package storage

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func encodeSnap(t testing.TB, md *raftpb.SnapshotMetadata, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := writeSnap(&buf, md, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("writeSnap returned %d, wrote %d", n, buf.Len())
	}
	return buf.Bytes()
}

func TestSnapFileRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		md   *raftpb.SnapshotMetadata
		data []byte
	}{
		{"empty data", snapshotAt(1, 1, confState(1), nil).GetMetadata(), nil},
		{"small", snapshotAt(7, 3, confState(1, 2, 3), nil).GetMetadata(), []byte("state")},
		{"larger than the buffer", snapshotAt(1<<40, 1<<33, confState(4, 5), nil).GetMetadata(), snapData(3 * snapBufSize / 2)},
		{"learners and joint config", &raftpb.SnapshotMetadata{Index: new(uint64(9)), Term: new(uint64(2)),
			ConfState: &raftpb.ConfState{Voters: []uint64{1, 2}, Learners: []uint64{3}, VotersOutgoing: []uint64{1}, AutoLeave: new(true)}}, snapData(100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := encodeSnap(t, tt.md, tt.data)
			hdr, err := verifySnap(bytes.NewReader(file), int64(len(file)))
			if err != nil {
				t.Fatalf("verifySnap: %v", err)
			}
			if err := hdr.matches(tt.md); err != nil {
				t.Fatal(err)
			}
			if hdr.DataLen != int64(len(tt.data)) {
				t.Fatalf("DataLen %d, want %d", hdr.DataLen, len(tt.data))
			}
			sr, err := newSnapReader(bytes.NewReader(file), int64(len(file)))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(sr)
			if err != nil || !bytes.Equal(got, tt.data) {
				t.Fatalf("data: %d bytes, %v; want %d bytes", len(got), err, len(tt.data))
			}
			other := proto.Clone(tt.md).(*raftpb.SnapshotMetadata)
			other.Index = new(tt.md.GetIndex() + 1)
			if err := hdr.matches(other); !errors.Is(err, errBadSnapFile) {
				t.Fatalf("header matches another index: %v", err)
			}
		})
	}
}

// Every truncation and every flipped byte of a snap file is detected,
// both by verifySnap (Open, Repair, ReceiveSnapshot) and by a reader of
// its data (restore), which must fail rather than end with io.EOF.
func TestSnapFileDamageDetected(t *testing.T) {
	md := snapshotAt(12, 2, confState(1, 2, 3), nil).GetMetadata()
	file := encodeSnap(t, md, snapData(700))
	check := func(t *testing.T, what string, b []byte, size int64) {
		t.Helper()
		if _, err := verifySnap(bytes.NewReader(b), size); err == nil {
			t.Fatalf("%s: verifySnap passed", what)
		}
		sr, err := newSnapReader(bytes.NewReader(b), size)
		if err != nil {
			return
		}
		if _, err := io.ReadAll(sr); err == nil {
			t.Fatalf("%s: the data reader ended without an error", what)
		}
	}
	for n := 0; n < len(file); n++ {
		// A file cut short, read as the file it is.
		check(t, "truncated file", file[:n], int64(n))
		// A stream that ends before the size it announced.
		check(t, "short stream", file[:n], int64(len(file)))
	}
	for i := range file {
		b := bytes.Clone(file)
		b[i] ^= 0x10
		check(t, "flipped byte", b, int64(len(b)))
	}
}

func TestReceiveSnapshotInstalledBySave(t *testing.T) {
	// The leader's snapshot, as the transport streams it.
	leader := mustOpen(t, t.TempDir())
	mustSave(t, leader, hardState(3, 1, 100), entries(1, 100, 3, 10), nil)
	cs := confState(1, 2, 3)
	data := snapData(3 * snapBufSize)
	if err := leader.CreateSnapshot(90, cs, bytes.NewReader(data), 0); err != nil {
		t.Fatal(err)
	}
	sn, err := leader.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if len(sn.GetData()) > 100 {
		t.Fatalf("Snapshot() holds %d bytes of data, want a reference to the file", len(sn.GetData()))
	}
	rc, size, err := leader.OpenSnapshot(sn)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if size != leader.SnapshotSize() {
		t.Fatalf("OpenSnapshot size %d, SnapshotSize %d", size, leader.SnapshotSize())
	}

	dir := t.TempDir()
	f := mustOpen(t, dir)
	mustSave(t, f, hardState(1, 0, 5), entries(1, 10, 1, 10), nil)
	ref, err := f.ReceiveSnapshot(sn.GetMetadata(), rc, size)
	if err != nil {
		t.Fatal(err)
	}
	mustSave(t, f, hardState(3, 0, 90), nil, &raftpb.Snapshot{Metadata: sn.GetMetadata(), Data: ref})
	got, _ := f.Snapshot()
	if got.GetMetadata().GetIndex() != 90 || !bytes.Equal(readSnap(t, f, got), data) {
		t.Fatalf("installed snapshot: index %d", got.GetMetadata().GetIndex())
	}
	if f.SnapshotSize() != size {
		t.Fatalf("SnapshotSize %d, want %d", f.SnapshotSize(), size)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	f = mustOpen(t, dir)
	ls := f.LoadedSnapshot()
	if ls.GetMetadata().GetIndex() != 90 || !proto.Equal(ls.GetMetadata().GetConfState(), cs) || !bytes.Equal(readSnap(t, f, ls), data) {
		t.Fatalf("after restart: loaded snapshot %v", ls.GetMetadata())
	}
	if names := snapNames(t, dir); len(names) != 1 || names[0] != snapFileName(3, 90) {
		t.Fatalf("snap/ holds %v", names)
	}
}

func TestReceiveSnapshotRefused(t *testing.T) {
	md := snapshotAt(50, 2, confState(1, 2), nil).GetMetadata()
	good := encodeSnap(t, md, snapData(5000))
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 1
	tests := []struct {
		name   string
		stream []byte
		size   int64
		md     *raftpb.SnapshotMetadata
	}{
		{"truncated stream", good[:len(good)-100], int64(len(good)), md},
		{"flipped byte", flipped, int64(len(flipped)), md},
		{"another snapshot's file", good, int64(len(good)), snapshotAt(51, 2, confState(1, 2), nil).GetMetadata()},
		{"another conf state", good, int64(len(good)), snapshotAt(50, 2, confState(1, 2, 3), nil).GetMetadata()},
		{"not a snap file", snapData(5000), 5004, md},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpen(t, dir)
			if _, err := s.ReceiveSnapshot(tt.md, bytes.NewReader(tt.stream), tt.size); err == nil {
				t.Fatal("ReceiveSnapshot took it")
			}
			if ents, _ := os.ReadDir(filepath.Join(dir, snapDirName)); len(ents) != 0 {
				t.Fatalf("snap/ holds %v after a refused snapshot", ents)
			}
		})
	}
}

// A received snapshot raft did not take is deleted once the node's own
// snapshot passes it, and on restart; files cut short by a crash are
// removed on restart.
func TestReceivedAndTempFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	mustSave(t, s, hardState(1, 1, 40), entries(1, 40, 1, 10), nil)
	for _, index := range []uint64{20, 60} {
		md := snapshotAt(index, 1, confState(1), nil).GetMetadata()
		b := encodeSnap(t, md, snapData(100))
		if _, err := s.ReceiveSnapshot(md, bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateSnapshot(30, confState(1), bytes.NewReader(snapData(10)), 0); err != nil {
		t.Fatal(err)
	}
	var left []string
	ents, _ := os.ReadDir(filepath.Join(dir, snapDirName))
	for _, e := range ents {
		left = append(left, e.Name())
	}
	if len(left) != 2 || left[0] != snapFileName(1, 30) || !strings.HasPrefix(left[1], snapFileName(1, 60)+recvInfix) {
		t.Fatalf("snap/ holds %v; want the snapshot at 30 and the received one at 60", left)
	}
	if err := os.WriteFile(filepath.Join(dir, snapDirName, snapFileName(1, 35)+".tmp-123"), []byte("cut"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Close()
	mustOpen(t, dir)
	if got := snapNames(t, dir); len(got) != 1 || got[0] != snapFileName(1, 30) {
		t.Fatalf("after restart snap/ holds %v", got)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, snapDirName)); len(ents) != 1 {
		t.Fatalf("after restart snap/ holds %d files", len(ents))
	}
}

func TestSnapRef(t *testing.T) {
	tests := []struct {
		data []byte
		name string
		ok   bool
	}{
		{snapRef("0000000000000001-0000000000000002.snap"), "0000000000000001-0000000000000002.snap", true},
		{[]byte("MSRVSNAP...."), "", false},
		{nil, "", false},
		{[]byte(snapRefPrefix), "", false},
		{[]byte(snapRefPrefix + "../wal/x"), "", false},
	}
	for _, tt := range tests {
		name, ok := parseSnapRef(tt.data)
		if name != tt.name || ok != tt.ok {
			t.Errorf("parseSnapRef(%q) = %q, %v; want %q, %v", tt.data, name, ok, tt.name, tt.ok)
		}
	}
}
