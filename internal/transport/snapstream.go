package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/peerpb"
)

// The byte stream of a Peer.Snapshot call, cut into SnapshotChunks:
//
//	snapshotStreamMagic
//	uvarint n, then n bytes: the MsgSnap, protobuf, with an empty Snapshot.Data
//	the snapshot file: the rest of total_size
//
// The magic tells a snapshot stream from anything else sent to the port;
// its 0xff first byte cannot start a protobuf message.
const snapshotStreamMagic = "\xffMSNAP1\n"

// maxSnapshotHeader bounds the MsgSnap header a stream may announce: it
// holds no data, only the snapshot's metadata.
const maxSnapshotHeader = 16 << 20

// snapshotHeader returns the start of the snapshot stream of m, up to its
// file: the magic and m without its Data.
func snapshotHeader(m *raftpb.Message) ([]byte, error) {
	head := proto.Clone(m).(*raftpb.Message)
	if head.Snapshot != nil {
		head.Snapshot.Data = nil
	}
	msg, err := proto.Marshal(head)
	if err != nil {
		return nil, fmt.Errorf("marshal snapshot message: %w", err)
	}
	b := make([]byte, 0, len(snapshotStreamMagic)+binary.MaxVarintLen64+len(msg))
	b = append(b, snapshotStreamMagic...)
	b = binary.AppendUvarint(b, uint64(len(msg)))
	return append(b, msg...), nil
}

// readSnapshotHeader reads the magic and the MsgSnap (for node id) from
// the start of a snapshot stream. A stream that does not start with the
// magic is ErrBadSnapshot.
func readSnapshotHeader(r *chunkReader, id uint64) (*raftpb.Message, error) {
	magic := make([]byte, len(snapshotStreamMagic))
	if _, err := io.ReadFull(r, magic); err != nil {
		return nil, r.short(err)
	}
	if string(magic) != snapshotStreamMagic {
		return nil, fmt.Errorf("%w: the stream does not start with the snapshot stream magic %q", ErrBadSnapshot, snapshotStreamMagic)
	}
	n, err := binary.ReadUvarint(r)
	if err != nil && r.err == nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("%w: header length: %v", ErrBadSnapshot, err) // overflows
	}
	if err != nil {
		return nil, r.short(err)
	}
	if n > maxSnapshotHeader || n > r.total-r.read {
		return nil, fmt.Errorf("%w: header of %d bytes", ErrBadSnapshot, n)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, r.short(err)
	}
	return decodeSnapshot(msg, id)
}

// chunkReader reads the byte stream of a Peer.Snapshot call, the data of
// its chunks in order, checking it against the first chunk's total_size:
// more bytes, or the stream ending before total_size, are ErrBadSnapshot.
type chunkReader struct {
	recv   func() (*peerpb.SnapshotChunk, error) // the stream's Recv
	total  uint64
	read   uint64
	cur    []byte // unread data of the current chunk
	err    error  // sticky: the stream failed or broke the rules
	onData func(n int)
}

func newChunkReader(recv func() (*peerpb.SnapshotChunk, error), first *peerpb.SnapshotChunk, onData func(int)) (*chunkReader, error) {
	total := first.GetTotalSize()
	if total == 0 {
		return nil, fmt.Errorf("%w: first chunk has no total_size", ErrBadSnapshot)
	}
	if total > math.MaxInt64 {
		return nil, fmt.Errorf("%w: total_size %d is too large", ErrBadSnapshot, total)
	}
	r := &chunkReader{recv: recv, total: total, onData: onData}
	if err := r.take(first.GetData()); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *chunkReader) take(p []byte) error {
	if r.read+uint64(len(r.cur))+uint64(len(p)) > r.total {
		return fmt.Errorf("%w: chunks exceed total_size %d", ErrBadSnapshot, r.total)
	}
	r.cur = p
	r.onData(len(p))
	return nil
}

// Read returns the stream's next bytes; io.EOF once total_size bytes were
// read (the stream must then end: see finish).
func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.read == r.total {
			return 0, io.EOF
		}
		c, err := r.recv()
		switch {
		case errors.Is(err, io.EOF):
			r.err = fmt.Errorf("%w: got %d of total_size %d bytes", ErrBadSnapshot, r.read, r.total)
		case err != nil:
			r.err = err
		default:
			r.err = r.take(c.GetData())
		}
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	r.read += uint64(n)
	return n, nil
}

// ReadByte is for binary.ReadUvarint.
func (r *chunkReader) ReadByte() (byte, error) {
	var b [1]byte
	_, err := io.ReadFull(r, b[:])
	return b[0], err
}

// short turns an io.EOF from reading a part of the stream into
// ErrBadSnapshot: total_size ended inside it.
func (r *chunkReader) short(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: total_size %d ends inside the header", ErrBadSnapshot, r.total)
	}
	return err
}

// finish checks that every byte of total_size was read and that the
// stream ends there.
func (r *chunkReader) finish() error {
	if r.err != nil {
		return r.err
	}
	if r.read != r.total || len(r.cur) != 0 {
		return fmt.Errorf("%w: %d of total_size %d bytes read", ErrBadSnapshot, r.read, r.total)
	}
	for {
		c, err := r.recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(c.GetData()) > 0 {
			return fmt.Errorf("%w: chunks exceed total_size %d", ErrBadSnapshot, r.total)
		}
	}
}

// decodeSnapshot decodes the MsgSnap header of a snapshot stream addressed
// to id.
func decodeSnapshot(data []byte, id uint64) (*raftpb.Message, error) {
	m := new(raftpb.Message)
	if err := proto.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	if m.GetType() != raftpb.MsgSnap {
		return nil, fmt.Errorf("%w: holds a %v, not a MsgSnap", ErrBadSnapshot, m.GetType())
	}
	if m.GetTo() != id {
		return nil, fmt.Errorf("%w: snapshot for node %d, this is node %d", ErrWrongNode, m.GetTo(), id)
	}
	if m.GetSnapshot().GetMetadata().GetIndex() == 0 {
		return nil, fmt.Errorf("%w: MsgSnap without a snapshot", ErrBadSnapshot)
	}
	return m, nil
}
