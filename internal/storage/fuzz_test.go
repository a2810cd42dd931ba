package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

const fuzzWALName = "0000000000000000-0000000000000000.wal"

// smallSegments makes new WAL segments small for the rest of the test, so
// that the preallocation of every Open costs little.
func smallSegments(t testing.TB) {
	old := wal.SegmentSizeBytes
	wal.SegmentSizeBytes = 64 << 10
	t.Cleanup(func() { wal.SegmentSizeBytes = old })
}

// seedWAL returns the bytes of a WAL written by Storage: entries, hard
// states, a snapshot record, a conf change.
func seedWAL(f *testing.F) []byte {
	dir := f.TempDir()
	s, err := Open(dir, testID, testCluster, nil)
	if err != nil {
		f.Fatal(err)
	}
	mustSave(f, s, hardState(1, 1, 3), entries(1, 3, 1, 20), nil)
	cc := &raftpb.Entry{Index: new(uint64(4)), Term: new(uint64(1)), Type: raftpb.EntryConfChangeV2.Enum(), Data: []byte{0x0a, 0x02, 0x08, 0x01}}
	mustSave(f, s, hardState(1, 1, 4), []*raftpb.Entry{cc}, nil)
	if err := s.CreateSnapshot(3, confState(1), bytes.NewReader([]byte("state")), 0); err != nil {
		f.Fatal(err)
	}
	mustSave(f, s, hardState(2, 1, 6), entries(5, 6, 2, 7), nil)
	s.Close()
	p := filepath.Join(dir, walDirName, fuzzWALName)
	b, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	return b[:walEnd(f, p)]
}

// FuzzOpenWAL opens a raft_dir whose WAL is the fuzzer's bytes (a valid
// WAL, cut, flipped, extended). Open must not panic, and either refuse
// with one of its sentinels or load a log that takes writes and reopens
// with them. Repair must not panic either, and a raft_dir it repaired must
// open.
func FuzzOpenWAL(f *testing.F) {
	smallSegments(f)
	good := seedWAL(f)
	f.Add(good)
	f.Add(good[:len(good)-5])
	f.Add(good[:len(good)/2])
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x20
	f.Add(flipped)
	f.Add(append(bytes.Clone(good), 0x10, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		smallSegments(t)
		dir := t.TempDir()
		writeWAL(t, dir, fuzzWALName, data)
		s, err := Open(dir, testID, testCluster, nil)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrIDMismatch) && !errors.Is(err, ErrClusterMismatch) {
				t.Fatalf("Open: %v wraps no sentinel", err)
			}
		} else {
			ents := allEntries(t, s)
			next, term := uint64(1), uint64(1)
			if last, _ := s.LastIndex(); last > 0 {
				next = last + 1
				term, _ = s.Term(last)
			}
			more := entries(next, next, max(term, s.HardState().GetTerm()), 5)
			if err := s.Save(nil, more, nil); err != nil {
				t.Fatalf("Save after Open: %v", err)
			}
			s.Close()
			s2, err := Open(dir, testID, testCluster, nil)
			if err != nil {
				t.Fatalf("reopen after a write: %v", err)
			}
			checkEntries(t, allEntries(t, s2), append(ents, more...))
			s2.Close()
		}

		dir = t.TempDir()
		writeWAL(t, dir, fuzzWALName, data)
		if ro, err := OpenReadOnly(dir, nil); err == nil {
			ro.Close()
		}
		_ = ReadWALRecords(dir, func(WALRecord) error { return nil })
		if _, err := Repair(dir, nil); err == nil {
			s, err := Open(dir, testID, testCluster, nil)
			if err != nil && !errors.Is(err, ErrIDMismatch) && !errors.Is(err, ErrClusterMismatch) {
				t.Fatalf("Open after a successful Repair: %v", err)
			}
			if s != nil {
				s.Close()
			}
		}
	})
}

// walEncoder writes WAL records as the etcd encoder does: CRC-chained,
// framed and padded.
type walEncoder struct {
	buf   bytes.Buffer
	chain uint32
}

func (e *walEncoder) record(typ int64, data []byte) {
	rec := &walpb.Record{Type: new(typ), Data: data}
	if typ != wal.CrcType {
		e.chain = crc32.Update(e.chain, walCRCTable, data)
	}
	rec.Crc = new(e.chain)
	b, err := proto.Marshal(rec)
	if err != nil {
		panic(err)
	}
	pad := (walFrameBytes - len(b)%walFrameBytes) % walFrameBytes
	l := uint64(len(b))
	if pad != 0 {
		l |= uint64(0x80|pad) << 56
	}
	e.buf.Write(binary.LittleEndian.AppendUint64(nil, l))
	e.buf.Write(b)
	e.buf.Write(make([]byte, pad))
}

// FuzzWALRecords writes WAL records whose checksums are all right but
// whose payloads are the fuzzer's: (type, length, payload) triples after a
// valid head. etcd's reader panics on a well-checksummed record it cannot
// decode; Open must refuse it instead, never panic.
func FuzzWALRecords(f *testing.F) {
	smallSegments(f)
	rec := func(typ byte, m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		return append([]byte{typ, byte(len(b))}, b...)
	}
	valid := bytes.Join([][]byte{
		rec(0, entries(1, 1, 1, 10)[0]),
		rec(0, entries(2, 2, 1, 10)[0]),
		rec(1, hardState(1, 1, 2)),
		rec(2, &walpb.Snapshot{Index: new(uint64(1)), Term: new(uint64(1))}),
	}, nil)
	f.Add(valid)
	f.Add([]byte{0, 3, 0xff, 0xff, 0xff})
	f.Add([]byte{1, 2, 0x08, 0x80})
	f.Add([]byte{2, 1, 0x12})
	f.Add([]byte{4, 4, '{', '}', ' ', ' '})
	f.Add([]byte{9, 0})

	types := []int64{wal.EntryType, wal.StateType, wal.SnapshotType, wal.CrcType, wal.MetadataType}
	f.Fuzz(func(t *testing.T, data []byte) {
		smallSegments(t)
		var e walEncoder
		e.record(wal.CrcType, nil)
		e.record(wal.MetadataType, encodeMetadata(metadata{ID: testID, ClusterName: testCluster}))
		e.record(wal.SnapshotType, mustMarshal(t, &walpb.Snapshot{Index: new(uint64(0)), Term: new(uint64(0))}))
		for len(data) >= 2 {
			typ := int64(data[0]) + 100 // unknown types too
			if int(data[0]) < len(types) {
				typ = types[data[0]]
			}
			n := min(int(data[1]), len(data)-2)
			e.record(typ, data[2:2+n])
			data = data[2+n:]
		}
		dir := t.TempDir()
		writeWAL(t, dir, fuzzWALName, e.buf.Bytes())
		s, err := Open(dir, testID, testCluster, nil)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v, want ErrCorrupt", err)
			}
			return
		}
		s.Close()
		if ro, err := OpenReadOnly(dir, nil); err == nil {
			ro.Close()
		}
	})
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzSnapFile puts the fuzzer's bytes in the snap file of a snapshot the
// WAL records.
// pickSnapshot must not panic, and must either pass the file over as
// damaged or return the snapshot its name and the WAL record say.
func FuzzSnapFile(f *testing.F) {
	dir := f.TempDir()
	s, err := Open(dir, testID, testCluster, nil)
	if err != nil {
		f.Fatal(err)
	}
	mustSave(f, s, hardState(1, 1, 100), entries(1, 100, 1, 1), nil)
	if err := s.CreateSnapshot(100, confState(1, 2), bytes.NewReader([]byte("state machine")), 0); err != nil {
		f.Fatal(err)
	}
	s.Close()
	name := snapFileName(1, 100)
	good, err := os.ReadFile(filepath.Join(dir, snapDirName, name))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add([]byte{})
	f.Add([]byte{0x08, 0x01})
	f.Add(append([]byte("MSRVRSNQ"), good[8:]...)) // another magic

	walSnaps := []*walpb.Snapshot{
		{Index: new(uint64(0)), Term: new(uint64(0))},
		{Index: new(uint64(100)), Term: new(uint64(1))},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		snapDir := t.TempDir()
		if err := os.WriteFile(filepath.Join(snapDir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
		sn, skipped, err := pickSnapshot(osFS{}, snapDir, walSnaps)
		if err != nil {
			t.Fatalf("pickSnapshot: %v", err)
		}
		md := sn.GetMetadata()
		switch {
		case md.GetIndex() == 100:
			if md.GetTerm() != 1 || len(skipped) != 0 {
				t.Fatalf("loaded %v, skipped %v", md, skipped)
			}
		case md.GetIndex() == 0:
			if len(skipped) != 1 || skipped[0].Name != name || skipped[0].Err == nil {
				t.Fatalf("skipped %v, want %s with a reason", skipped, name)
			}
		default:
			t.Fatalf("loaded snapshot %v", md)
		}
	})
}
