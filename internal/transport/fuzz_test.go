package transport

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/metasrv/metasrv/api/peerpb"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// readStream reads a snapshot stream cut into chunks as the receiver
// does: the header, the file, and the end of the stream.
func readStream(chunks []*peerpb.SnapshotChunk, id uint64) (*raftpb.Message, []byte, error) {
	if len(chunks) == 0 {
		return nil, nil, errors.New("no chunk")
	}
	rest := chunks[1:]
	recv := func() (*peerpb.SnapshotChunk, error) {
		if len(rest) == 0 {
			return nil, io.EOF
		}
		c := rest[0]
		rest = rest[1:]
		return c, nil
	}
	r, err := newChunkReader(recv, chunks[0], func(int) {})
	if err != nil {
		return nil, nil, err
	}
	m, err := readSnapshotHeader(r, id)
	if err != nil {
		return nil, nil, err
	}
	file, err := io.ReadAll(r)
	if err == nil {
		err = r.finish()
	}
	return m, file, err
}

// cut splits a stream into chunks of size step, the first carrying
// total_size total.
func cut(stream []byte, step int, total uint64) []*peerpb.SnapshotChunk {
	chunks := []*peerpb.SnapshotChunk{{TotalSize: total}}
	for off := 0; off < len(stream); off += step {
		if off == 0 {
			chunks[0].Data = stream[:min(step, len(stream))]
			continue
		}
		chunks = append(chunks, &peerpb.SnapshotChunk{Data: stream[off:min(off+step, len(stream))]})
	}
	return chunks
}

// FuzzSnapshotStream cuts the stream of a MsgSnap whose file is file into
// chunks of chunkSize, against a total_size off by delta: the receiver
// must get the message and the file back exactly when delta is 0, and
// ErrBadSnapshot otherwise.
func FuzzSnapshotStream(f *testing.F) {
	f.Add([]byte("hello snapshot"), uint16(3), int16(0))
	f.Add([]byte("x"), uint16(0), int16(1))
	f.Add([]byte{}, uint16(1), int16(0))
	f.Add(bytes.Repeat([]byte{7}, 1000), uint16(999), int16(-1))
	f.Add(bytes.Repeat([]byte{7}, 1000), uint16(20), int16(-1000))
	f.Fuzz(func(t *testing.T, file []byte, chunkSize uint16, delta int16) {
		m := snap(1, 2, file)
		head, err := snapshotHeader(m)
		if err != nil {
			t.Fatal(err)
		}
		stream := append(head, file...)
		total := max(len(stream)+int(delta), 0)
		got, gotFile, err := readStream(cut(stream, max(int(chunkSize), 1), uint64(total)), 2)
		if delta == 0 {
			if err != nil || !bytes.Equal(gotFile, file) || got.GetSnapshot().GetMetadata().GetIndex() != 100 || len(got.GetSnapshot().GetData()) != 0 {
				t.Fatalf("got %d of %d file bytes, err %v", len(gotFile), len(file), err)
			}
		} else if !errors.Is(err, ErrBadSnapshot) {
			t.Fatalf("total %d for %d bytes: err %v", total, len(stream), err)
		}
	})
}

// FuzzSnapshotStreamBytes: any stream is read or refused with a sentinel,
// never panics.
func FuzzSnapshotStreamBytes(f *testing.F) {
	good, _ := snapshotHeader(snap(1, 2, nil))
	f.Add(append(good, "file"...))
	f.Add(good[:len(good)-1])
	f.Add([]byte(snapshotStreamMagic + "\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		_, _, err := readStream(cut(stream, 7, uint64(len(stream))), 2)
		if err != nil && !errors.Is(err, ErrBadSnapshot) && !errors.Is(err, ErrWrongNode) {
			t.Fatalf("error without a sentinel: %v", err)
		}
	})
}

// FuzzDecodeSnapshot: any input decodes to a MsgSnap for node 2 or fails
// with a sentinel, never panics.
func FuzzDecodeSnapshot(f *testing.F) {
	good, _ := proto.Marshal(snap(1, 2, nil))
	other, _ := proto.Marshal(app(1, 2, 1, 3))
	f.Add(good)
	f.Add(other)
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeSnapshot(data, 2)
		if err != nil {
			if !errors.Is(err, ErrBadSnapshot) && !errors.Is(err, ErrWrongNode) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		if m.GetTo() != 2 || m.GetType() != raftpb.MsgSnap {
			t.Fatalf("decoded %v", m)
		}
	})
}
