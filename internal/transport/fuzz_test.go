package transport

import (
	"bytes"
	"errors"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// FuzzAssembler splits data into chunks of chunkSize and reassembles it
// against a total_size off by delta: it must give data back exactly when
// delta is 0 and ErrBadSnapshot otherwise.
func FuzzAssembler(f *testing.F) {
	f.Add([]byte("hello snapshot"), uint16(3), int16(0))
	f.Add([]byte("x"), uint16(0), int16(1))
	f.Add([]byte{}, uint16(1), int16(0))
	f.Add(bytes.Repeat([]byte{7}, 1000), uint16(999), int16(-1))
	f.Fuzz(func(t *testing.T, data []byte, chunkSize uint16, delta int16) {
		total := len(data) + int(delta)
		if total < 0 {
			total = 0
		}
		a, err := newAssembler(uint64(total))
		if total == 0 {
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("total 0: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		step := max(int(chunkSize), 1)
		for off := 0; off < len(data) && err == nil; off += step {
			err = a.add(data[off:min(off+step, len(data))])
		}
		var got []byte
		if err == nil {
			got, err = a.bytes()
		}
		if total == len(data) {
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("reassembled %d of %d bytes, err %v", len(got), len(data), err)
			}
		} else if !errors.Is(err, ErrBadSnapshot) {
			t.Fatalf("total %d for %d bytes: err %v", total, len(data), err)
		}
	})
}

// FuzzDecodeSnapshot: any input decodes to a MsgSnap for node 2 or fails
// with a sentinel, never panics.
func FuzzDecodeSnapshot(f *testing.F) {
	good, _ := proto.Marshal(snap(1, 2, []byte("state")))
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
