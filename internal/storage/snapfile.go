package storage

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Snap file format, version 1 (see doc.go). Written in one pass: the
// state machine streams its encoding into the file, so the data length
// and the CRC come last.
const (
	snapFileMagic   = "MSRVRSNP"
	snapFileVersion = 1
	// snapHeaderLen is the fixed part of the header: magic, version, term,
	// index, conf state length.
	snapHeaderLen = 8 + 4 + 8 + 8 + 4
	// snapTrailerLen: data length, CRC.
	snapTrailerLen = 8 + 4
	// maxConfStateLen bounds the conf state a header may claim.
	maxConfStateLen = 1 << 20
	// snapBufSize is the buffer between the encoder and the file, and the
	// read size when streaming a file.
	snapBufSize = 1 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errBadSnapFile marks a snap file (or a received stream) that is not a
// complete, intact snapshot: truncated, a CRC mismatch, a bad header.
var errBadSnapFile = errors.New("bad snapshot file")

func badSnapf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadSnapFile, fmt.Sprintf(format, args...))
}

// snapRefPrefix starts the Data of every raftpb.Snapshot that Storage hands
// out (Snapshot, LoadedSnapshot) or that the transport builds for a
// received one (ReceiveSnapshot): the state machine's bytes stay in a file
// of snap/, and Data names that file. The 0xff first byte cannot start a
// state machine snapshot ("MSRVSNAP").
const snapRefPrefix = "\xffmetasrv-snap-file:"

// snapRef returns the Data that refers to the file name in snap/.
func snapRef(name string) []byte { return []byte(snapRefPrefix + name) }

// parseSnapRef returns the file name a snapshot's Data refers to; false if
// Data holds the state machine's bytes themselves.
func parseSnapRef(data []byte) (string, bool) {
	name, ok := bytes.CutPrefix(data, []byte(snapRefPrefix))
	if !ok || len(name) == 0 || string(name) != filepath.Base(string(name)) {
		return "", false
	}
	return string(name), true
}

// snapHeader is what a snap file says of itself.
type snapHeader struct {
	Term, Index uint64
	ConfState   *raftpb.ConfState
	// DataLen is the length of the state machine data.
	DataLen int64
}

// matches reports whether the header is that of the snapshot md.
func (h *snapHeader) matches(md *raftpb.SnapshotMetadata) error {
	if h.Index != md.GetIndex() || h.Term != md.GetTerm() {
		return badSnapf("the file holds the snapshot at index %d term %d, not %d term %d",
			h.Index, h.Term, md.GetIndex(), md.GetTerm())
	}
	if !proto.Equal(raftpb.EnsureConfState(h.ConfState), raftpb.EnsureConfState(md.GetConfState())) {
		return badSnapf("the file's conf state %v differs from the snapshot's %v", h.ConfState, md.GetConfState())
	}
	return nil
}

// crcWriter counts and checksums what it passes on to w.
type crcWriter struct {
	w   io.Writer
	crc uint32
	n   int64
}

func (c *crcWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.crc = crc32.Update(c.crc, crcTable, p[:n])
	c.n += int64(n)
	return n, err
}

// writeSnapFile writes the snapshot md with the data src writes into the
// file name in dir: to a temporary file through a buffer, fsync'd, then
// renamed into place, and the directory fsync'd. It returns the file's
// size. No copy of the data is held in memory beyond the buffer.
func writeSnapFile(fsys vfs, dir, name string, md *raftpb.SnapshotMetadata, src io.WriterTo) (int64, error) {
	f, err := fsys.CreateTemp(dir, name+".tmp-*")
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	size, err := writeSnap(f, md, src)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		fsys.Remove(tmp)
		return 0, err
	}
	return size, fsys.SyncDir(dir)
}

// writeSnap writes the whole snap file encoding to w.
func writeSnap(w io.Writer, md *raftpb.SnapshotMetadata, src io.WriterTo) (int64, error) {
	cs, err := proto.Marshal(raftpb.EnsureConfState(md.GetConfState()))
	if err != nil {
		return 0, fmt.Errorf("marshal conf state: %w", err)
	}
	bw := bufio.NewWriterSize(w, snapBufSize)
	cw := &crcWriter{w: bw}
	hdr := make([]byte, 0, snapHeaderLen+len(cs))
	hdr = append(hdr, snapFileMagic...)
	hdr = binary.BigEndian.AppendUint32(hdr, snapFileVersion)
	hdr = binary.BigEndian.AppendUint64(hdr, md.GetTerm())
	hdr = binary.BigEndian.AppendUint64(hdr, md.GetIndex())
	hdr = binary.BigEndian.AppendUint32(hdr, uint32(len(cs)))
	hdr = append(hdr, cs...)
	if _, err := cw.Write(hdr); err != nil {
		return 0, err
	}
	n, err := src.WriteTo(cw)
	if err != nil {
		return 0, err
	}
	if cw.n != int64(len(hdr))+n {
		return 0, fmt.Errorf("snapshot source reported %d bytes, wrote %d", n, cw.n-int64(len(hdr)))
	}
	if _, err := cw.Write(binary.BigEndian.AppendUint64(nil, uint64(n))); err != nil {
		return 0, err
	}
	if _, err := bw.Write(binary.BigEndian.AppendUint32(nil, cw.crc)); err != nil {
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	return cw.n + 4, nil
}

// snapReader reads the state machine data of a snap file of known size,
// checksumming as it goes: at the end of the data it checks the trailer,
// and returns an error wrapping errBadSnapFile instead of io.EOF if the
// file is not intact. So one pass reads and verifies.
type snapReader struct {
	r    io.Reader
	hdr  snapHeader
	crc  hash.Hash32
	left int64 // data bytes not yet read
	err  error // sticky: io.EOF once the trailer checked out
}

// newSnapReader reads and checks the header of a snap file of size bytes
// from r.
func newSnapReader(r io.Reader, size int64) (*snapReader, error) {
	sr := &snapReader{r: r, crc: crc32.New(crcTable)}
	if size < snapHeaderLen+snapTrailerLen {
		return nil, badSnapf("%d bytes, too short for a snapshot file", size)
	}
	fixed := make([]byte, snapHeaderLen)
	if err := sr.full(fixed); err != nil {
		return nil, err
	}
	if string(fixed[:len(snapFileMagic)]) != snapFileMagic {
		return nil, badSnapf("it does not start with the magic %q of a snapshot file", snapFileMagic)
	}
	if v := binary.BigEndian.Uint32(fixed[8:]); v != snapFileVersion {
		return nil, badSnapf("format version %d; this binary reads version %d", v, snapFileVersion)
	}
	sr.hdr.Term = binary.BigEndian.Uint64(fixed[12:])
	sr.hdr.Index = binary.BigEndian.Uint64(fixed[20:])
	csLen := int64(binary.BigEndian.Uint32(fixed[28:]))
	if csLen > maxConfStateLen || csLen > size-snapHeaderLen-snapTrailerLen {
		return nil, badSnapf("conf state of %d bytes in a file of %d", csLen, size)
	}
	cs := make([]byte, csLen)
	if err := sr.full(cs); err != nil {
		return nil, err
	}
	sr.hdr.ConfState = &raftpb.ConfState{}
	if err := proto.Unmarshal(cs, sr.hdr.ConfState); err != nil {
		return nil, badSnapf("conf state: %v", err)
	}
	sr.hdr.DataLen = size - snapHeaderLen - csLen - snapTrailerLen
	sr.left = sr.hdr.DataLen
	return sr, nil
}

// full reads len(p) header bytes into p and checksums them.
func (sr *snapReader) full(p []byte) error {
	if _, err := io.ReadFull(sr.r, p); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return badSnapf("truncated: %v", err)
		}
		return err
	}
	sr.crc.Write(p)
	return nil
}

// Read reads data; after the last data byte it checks the trailer.
func (sr *snapReader) Read(p []byte) (int, error) {
	if sr.err != nil {
		return 0, sr.err
	}
	if sr.left == 0 {
		sr.err = sr.checkTrailer()
		return 0, sr.err
	}
	if int64(len(p)) > sr.left {
		p = p[:sr.left]
	}
	n, err := sr.r.Read(p)
	sr.crc.Write(p[:n])
	sr.left -= int64(n)
	if errors.Is(err, io.EOF) && sr.left > 0 {
		sr.err = badSnapf("truncated: %d data bytes missing", sr.left)
		return n, sr.err
	}
	if err != nil && !errors.Is(err, io.EOF) {
		sr.err = err
		return n, err
	}
	return n, nil
}

func (sr *snapReader) checkTrailer() error {
	var t [snapTrailerLen]byte
	if _, err := io.ReadFull(sr.r, t[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return badSnapf("truncated in the trailer: %v", err)
		}
		return err
	}
	sr.crc.Write(t[:8])
	if n := binary.BigEndian.Uint64(t[:8]); n != uint64(sr.hdr.DataLen) {
		return badSnapf("trailer says %d data bytes, the file holds %d", n, sr.hdr.DataLen)
	}
	if got, want := sr.crc.Sum32(), binary.BigEndian.Uint32(t[8:]); got != want {
		return badSnapf("checksum mismatch: computed %08x, trailer says %08x", got, want)
	}
	return io.EOF
}

// verifySnap reads a whole snap file of size bytes from r and checks it.
func verifySnap(r io.Reader, size int64) (*snapHeader, error) {
	sr, err := newSnapReader(r, size)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 64<<10)
	if _, err := io.CopyBuffer(io.Discard, sr, buf); err != nil {
		return nil, err
	}
	return &sr.hdr, nil
}

// readSnapFile checks the snap file p, streaming it, and returns its
// header.
func readSnapFile(fsys vfs, p string) (*snapHeader, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return verifySnap(bufio.NewReaderSize(f, snapBufSize), fi.Size())
}

// openSnapData opens the snap file p and returns a reader of its state
// machine data that verifies the file as it is read (see snapReader), and
// the file's header.
func openSnapData(fsys vfs, p string) (io.ReadCloser, *snapHeader, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	sr, err := newSnapReader(bufio.NewReaderSize(f, snapBufSize), fi.Size())
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return readCloser{sr, f}, &sr.hdr, nil
}

// removeSnapTemps deletes what a crash may have left in snapDir: files
// being written (*.tmp-*) and received snapshots never installed
// (*.recv-*).
func removeSnapTemps(fsys vfs, snapDir string, lg *slog.Logger) error {
	names, err := fsys.List(snapDir)
	if err != nil {
		return err
	}
	for _, name := range names {
		if !strings.Contains(name, ".snap.tmp-") && !strings.Contains(name, ".snap"+recvInfix) {
			continue
		}
		if err := fsys.Remove(filepath.Join(snapDir, name)); err != nil && !os.IsNotExist(err) {
			return err
		}
		lg.Info("removed an unfinished snapshot file", "file", name)
	}
	return nil
}
