package h2count

import (
	"sync/atomic"
	"testing"
)

// frame returns an HTTP/2 frame header and payload.
func frame(typ, flags byte, payload int) []byte {
	return append([]byte{byte(payload >> 16), byte(payload >> 8), byte(payload), typ, flags, 0, 0, 0, 0}, make([]byte, payload)...)
}

func TestFramesCountsPingsAcrossWrites(t *testing.T) {
	var stream []byte
	stream = append(stream, preface...)
	stream = append(stream, frame(0x4, 0, 18)...)            // SETTINGS
	stream = append(stream, frame(framePing, 0, 8)...)       // a ping
	stream = append(stream, frame(0x0, 0, 70000)...)         // DATA whose payload holds a ping's header
	copy(stream[len(stream)-70000:], frame(framePing, 0, 8)) // (not a frame: must not count)
	stream = append(stream, frame(framePing, flagAck, 8)...) // an ack: not counted
	stream = append(stream, frame(framePing, 0, 8)...)       // another ping
	for _, chunk := range []int{1, 5, 9, 4096, len(stream)} {
		var n atomic.Int64
		f := frames{skip: len(preface), pings: &n}
		for p := stream; len(p) > 0; {
			k := min(chunk, len(p))
			f.scan(p[:k])
			p = p[k:]
		}
		if n.Load() != 2 {
			t.Errorf("read in chunks of %d bytes: %d pings, want 2", chunk, n.Load())
		}
	}
}
