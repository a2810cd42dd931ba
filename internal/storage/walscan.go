package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"

	"go.etcd.io/etcd/client/pkg/v3/fileutil"
	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// walCRCTable is the table of the CRC-32C chain over the WAL's records.
var walCRCTable = crc32.MakeTable(crc32.Castagnoli)

// walFrameBytes is the size of the length field that starts every record;
// records start at multiples of it.
const walFrameBytes = 8

// errStrayBytes: a zero length field ended a file's records, but non-zero
// bytes follow it.
var errStrayBytes = errors.New("non-zero bytes follow the end of the records")

// walScan is what scanWAL found: every WAL file in order, and the first
// place where the records stop being readable, if any.
type walScan struct {
	// Files are the WAL file names in raft_dir/wal, oldest first.
	Files []string
	// Damage is the first unreadable place; nil if every file reads to
	// its end.
	Damage *walDamage
	// HardState is the last hard state read before Damage (or the end),
	// Snapshots the snapshot records, in the order written, each with the
	// index in Files of the file holding it.
	HardState *raftpb.HardState
	Snapshots []scannedSnap
}

type scannedSnap struct {
	Index, Term uint64
	File        int
}

// walDamage is where the WAL stops being readable.
type walDamage struct {
	// File is the WAL file (its name in raft_dir/wal, at FileIndex in
	// walScan.Files) and Offset where the first record that cannot be read
	// starts: everything before it is intact.
	File      string
	FileIndex int
	Offset    int64
	// Err says what is wrong at Offset.
	Err error
	// Torn means a write cut short by a crash: the damage is in the newest
	// file, it is an incomplete record (or stray bytes past the records),
	// and no intact record follows it. Such a record was never fsync'd, so
	// never acknowledged: dropping it loses nothing. Anything else is
	// damage to data that was already on disk.
	Torn bool
	// Later is the offset of an intact record found after the damage in
	// the same file, or -1: intact records after the damage prove that it
	// is not a torn write.
	Later int64
	// inHead: the damage is in the CRC and metadata records that start
	// every file, which etcd writes and syncs before the file gets its
	// name; never torn.
	inHead bool
}

func (d *walDamage) String() string {
	return fmt.Sprintf("WAL file %s is damaged at offset %d (%v)", filepath.Join(walDirName, d.File), d.Offset, d.Err)
}

// scanWAL reads every record of every WAL file in raft_dir/wal (walDir),
// oldest first, as etcd's reader does but without stopping at the first
// surprise: it checks the CRC chain within and across files, that every
// file starts with a CRC record, that every record's payload decodes, and
// that nothing but zeros follows a file's last record. It opens the files
// read-only and changes nothing. An error is an I/O error; damage is
// reported in walScan.Damage.
func scanWAL(walDir string) (*walScan, error) {
	names, err := fileutil.ReadDir(walDir, fileutil.WithExt(".wal"))
	if err != nil {
		return nil, err
	}
	var valid []string
	for _, name := range names {
		if _, _, err := parseWALName(name); err == nil {
			valid = append(valid, name)
		}
	}
	return scanWALFiles(walDir, valid)
}

// scanWALFiles is scanWAL over the given files, which must be consecutive
// WAL files. The first file's CRC record is taken as it is (the files
// before it may have been purged).
func scanWALFiles(walDir string, names []string) (*walScan, error) {
	sc := &walScan{Files: names, HardState: &raftpb.HardState{}}
	var chain uint32
	for i, name := range names {
		d, end, err := sc.scanFile(walDir, name, i, chain)
		if err != nil {
			return nil, err
		}
		if d != nil {
			sc.Damage = d
			if i == len(names)-1 {
				if err := d.classify(filepath.Join(walDir, name)); err != nil {
					return nil, err
				}
			}
			return sc, nil
		}
		chain = end
	}
	return sc, nil
}

// scanFile reads one file, its records chained to chain (the CRC at the
// end of the previous file; ignored for the first file). It returns the
// damage found, or the CRC at the end of the file.
func (sc *walScan) scanFile(walDir, name string, index int, chain uint32) (*walDamage, uint32, error) {
	p := filepath.Join(walDir, name)
	f, err := os.Open(p)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	dec := wal.NewDecoder(fileutil.NewFileReader(f))
	rec := &walpb.Record{}
	for n := 0; ; n++ {
		damage := func(off int64, format string, args ...any) *walDamage {
			return &walDamage{File: name, FileIndex: index, Offset: off, Err: fmt.Errorf(format, args...), Later: -1, inHead: n < 2}
		}
		off := dec.LastOffset()
		err := dec.Decode(rec)
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return damage(0, "the file holds no records"), 0, nil
			}
			zero, err := zeroFrom(f, off, fi.Size())
			if err != nil {
				return nil, 0, err
			}
			if !zero {
				return damage(off, "%w", errStrayBytes), 0, nil
			}
			return nil, dec.LastCRC(), nil
		}
		if err != nil {
			return damage(off, "%w", err), 0, nil
		}
		if end := dec.LastOffset(); end%walFrameBytes != 0 {
			// Every record is padded to 8 bytes: the padding count in its
			// length field is damaged, and the decoder read past its end.
			return damage(off, "the record's length field is damaged: the record would end at offset %d, not on an 8-byte boundary", end), 0, nil
		}
		switch rec.GetType() {
		case wal.CrcType:
			// A CRC record carries the chain so far: the previous file's
			// at the head of a file (none to check for the first file).
			want := dec.LastCRC()
			if n == 0 {
				want = chain
			}
			if (n > 0 || index > 0) && rec.GetCrc() != want {
				return damage(off, "%w: the CRC record holds %08x, the records before it give %08x", wal.ErrCRCMismatch, rec.GetCrc(), want), 0, nil
			}
			dec.UpdateCRC(rec.GetCrc())
			continue
		case wal.MetadataType:
			if _, err := decodeMetadata(rec.GetData()); err != nil {
				return damage(off, "%v", err), 0, nil
			}
		case wal.EntryType:
			var e raftpb.Entry
			if err := proto.Unmarshal(rec.GetData(), &e); err != nil {
				return damage(off, "undecodable entry: %v", err), 0, nil
			}
		case wal.StateType:
			var hs raftpb.HardState
			if err := proto.Unmarshal(rec.GetData(), &hs); err != nil {
				return damage(off, "undecodable hard state: %v", err), 0, nil
			}
			sc.HardState = &hs
		case wal.SnapshotType:
			var ws walpb.Snapshot
			if err := proto.Unmarshal(rec.GetData(), &ws); err != nil {
				return damage(off, "undecodable snapshot record: %v", err), 0, nil
			}
			sc.Snapshots = append(sc.Snapshots, scannedSnap{Index: ws.GetIndex(), Term: ws.GetTerm(), File: index})
		default:
			return damage(off, "unknown record type %d", rec.GetType()), 0, nil
		}
		if n == 0 {
			return damage(off, "the file does not start with a CRC record"), 0, nil
		}
	}
}

// zeroFrom reports whether f holds only zero bytes from off to size.
func zeroFrom(f *os.File, off, size int64) (bool, error) {
	buf := make([]byte, 1<<20)
	zeros := make([]byte, len(buf))
	for off < size {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		if !bytes.Equal(buf[:n], zeros[:n]) {
			return false, nil
		}
		off += int64(n)
		if err != nil && !errors.Is(err, io.EOF) {
			return false, err
		}
		if n == 0 {
			break
		}
	}
	return true, nil
}

// classify decides whether damage in the newest file p is a torn write.
//
// A crash during a write leaves the last record incomplete: the file ends
// inside it, or sectors of it that never reached the disk read as zeros
// (the decoder reports both as io.ErrUnexpectedEOF; a zero length field
// ends the records and leaves stray bytes after it). Nothing written after
// that record can have reached the disk in order. So intact records after
// the damage mean the damage hit data that was already written (bit rot, a
// bad sector, a stray write): it is not torn, and dropping everything after
// it would lose writes that were acknowledged.
func (d *walDamage) classify(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	b := make([]byte, max(0, fi.Size()-d.Offset))
	if _, err := f.ReadAt(b, d.Offset); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	prev, err := chainBefore(f, d.Offset)
	if err != nil {
		return err
	}
	if later := findIntactRecord(b, d.Offset, prev); later >= 0 {
		d.Later = later
	}
	d.Torn = !d.inHead && d.Later < 0 &&
		(errors.Is(d.Err, io.ErrUnexpectedEOF) || errors.Is(d.Err, errStrayBytes))
	return nil
}

// chainBefore returns the CRC chain value after the records of f that end
// at off, re-read: a failed Decode has already folded the damaged record's
// data into the decoder's.
func chainBefore(f *os.File, off int64) (uint32, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	dec := wal.NewDecoder(fileutil.NewFileReader(f))
	rec := &walpb.Record{}
	for dec.LastOffset() < off {
		if err := dec.Decode(rec); err != nil {
			return 0, fmt.Errorf("re-read %s up to offset %d: %w", f.Name(), off, err)
		}
		if rec.GetType() == wal.CrcType {
			dec.UpdateCRC(rec.GetCrc())
		}
	}
	return dec.LastCRC(), nil
}

// findIntactRecord looks for a record written intact after the damaged one
// that starts b, which lies at offset base of its file; prev is the CRC
// chain value before the damaged record. It returns the record's file
// offset, or -1.
//
// A record is recognised by the CRC chain: it parses at an 8-byte aligned
// offset, and either the record right after it continues its CRC, or its
// CRC continues the chain through the damaged record (through that
// record's CRC field, or its data, whichever survived; the damaged
// record's length field may be what was hit, so every window of its bytes
// that parses is tried), or directly from prev. A false match needs a
// CRC-32 collision.
func findIntactRecord(b []byte, base int64, prev uint32) int64 {
	first := walFrameBytes - int(base%walFrameBytes) // next aligned offset after base
	for p := first; p+walFrameBytes <= len(b); p += walFrameBytes {
		x, next, ok := parseRecord(b, p)
		if !ok || x.GetType() == wal.CrcType {
			continue
		}
		if y, _, ok := parseRecord(b, next); ok && y.GetType() != wal.CrcType &&
			y.GetCrc() == crc32.Update(x.GetCrc(), walCRCTable, y.GetData()) {
			return base + int64(p)
		}
		for _, c := range chainCandidates(b[:p], prev) {
			if x.GetCrc() == crc32.Update(c, walCRCTable, x.GetData()) {
				return base + int64(p)
			}
		}
	}
	return -1
}

// chainCandidates returns the CRC chain values the damaged record framed at
// the start of b (which ends where b ends, but for up to 7 bytes of
// padding) may have left: prev, and for every window of its bytes that
// parses as a record, that record's CRC field and its data folded into
// prev.
func chainCandidates(b []byte, prev uint32) []uint32 {
	out := []uint32{prev}
	if len(b) <= walFrameBytes {
		return out
	}
	body := b[walFrameBytes:]
	const maxSkip = 16 // bytes of a damaged type or CRC field to skip
	for j := 0; j <= maxSkip && j < len(body); j++ {
		ends := map[int]bool{}
		for n := max(j+1, len(body)-7); n <= len(body); n++ {
			ends[n] = true // the whole record, with the padding trimmed
		}
		for n := j + 1; n <= min(len(body), j+maxSkip); n++ {
			ends[n] = true // a prefix: the type and CRC fields
		}
		for n := range ends {
			var r walpb.Record
			if proto.Unmarshal(body[j:n], &r) == nil {
				out = append(out, r.GetCrc(), crc32.Update(prev, walCRCTable, r.GetData()))
			}
		}
	}
	return out
}

// parseRecord parses the record framed at b[p:] as the etcd encoder writes
// it: a little-endian length (padding in the top byte), the walpb.Record,
// zero padding to 8 bytes. It returns the record, the offset after it, and
// whether it parsed with a known type.
func parseRecord(b []byte, p int) (*walpb.Record, int, bool) {
	if p < 0 || p+walFrameBytes > len(b) {
		return nil, 0, false
	}
	l := binary.LittleEndian.Uint64(b[p:])
	if l == 0 {
		return nil, 0, false
	}
	recBytes := int64(l &^ (0xff << 56))
	var padBytes int64
	if int64(l) < 0 {
		padBytes = int64(l>>56) & 0x7
	}
	rest := int64(len(b) - p - walFrameBytes)
	if recBytes <= 0 || recBytes+padBytes > rest || (recBytes+padBytes)%walFrameBytes != 0 {
		return nil, 0, false
	}
	start := p + walFrameBytes
	end := start + int(recBytes)
	if !bytes.Equal(b[end:end+int(padBytes)], make([]byte, padBytes)) {
		return nil, 0, false
	}
	rec := &walpb.Record{}
	if proto.Unmarshal(b[start:end], rec) != nil {
		return nil, 0, false
	}
	switch rec.GetType() {
	case wal.MetadataType, wal.EntryType, wal.StateType, wal.CrcType, wal.SnapshotType:
		return rec, end + int(padBytes), true
	}
	return nil, 0, false
}
