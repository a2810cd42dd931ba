package grpcapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/server"
)

// checkChunks checks that chunks join to want, each holds at most max
// bytes, and each ends at a line end unless its line is longer than max.
func checkChunks(t *testing.T, chunks [][]byte, want []byte, max int) {
	t.Helper()
	if got := bytes.Join(chunks, nil); !bytes.Equal(got, want) {
		t.Fatalf("chunks join to %d bytes, want %d", len(got), len(want))
	}
	off := 0
	for i, c := range chunks {
		if len(c) == 0 || len(c) > max {
			t.Errorf("chunk %d holds %d bytes, want 1..%d", i, len(c), max)
		}
		off += len(c)
		if c[len(c)-1] == '\n' {
			continue
		}
		// Mid-line: that line must be longer than max.
		start := bytes.LastIndexByte(want[:off], '\n') + 1
		end := off + bytes.IndexByte(want[off:], '\n') + 1
		if end <= off {
			end = len(want)
		}
		if end-start <= max {
			t.Errorf("chunk %d ends inside a line of %d bytes, which fits in a chunk of %d", i, end-start, max)
		}
	}
}

func TestChunkWriter(t *testing.T) {
	const max = 32
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var data []byte
		for range rng.IntN(20) {
			n := rng.IntN(3 * max)
			if rng.IntN(4) == 0 {
				n = rng.IntN(5)
			}
			data = append(data, strings.Repeat(string(rune('a'+round%26)), n)...)
			data = append(data, '\n')
		}
		var chunks [][]byte
		cw := &chunkWriter{max: max, send: func(b []byte) error { chunks = append(chunks, b); return nil }}
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(2*max))
			if k, err := cw.Write(rest[:n]); k != n || err != nil {
				t.Fatalf("Write: %d, %v", k, err)
			}
			rest = rest[n:]
		}
		if err := cw.flush(); err != nil {
			t.Fatal(err)
		}
		checkChunks(t, chunks, data, max)
	}
}

// exportKV is a KV whose Export writes dump, then returns err.
type exportKV struct {
	KV   // not called
	dump []byte
	err  error
}

func (e *exportKV) Export(_ context.Context, w io.Writer) error {
	// Written in odd pieces, as a buffered writer might.
	for rest := e.dump; len(rest) > 0; {
		n := min(len(rest), 100_000)
		if _, err := w.Write(rest[:n]); err != nil {
			return err
		}
		rest = rest[n:]
	}
	return e.err
}

type exportStream struct {
	grpc.ServerStream
	chunks  [][]byte
	sendErr error
}

func (s *exportStream) Context() context.Context { return context.Background() }
func (s *exportStream) Send(c *metapb.ExportChunk) error {
	if s.sendErr != nil {
		return s.sendErr
	}
	s.chunks = append(s.chunks, c.GetData())
	return nil
}

func TestExportStreamsChunks(t *testing.T) {
	var dump bytes.Buffer
	for i := range 20_000 {
		fmt.Fprintf(&dump, `{"type":"kv","key":"k%06d","value":"%s"}`+"\n", i, strings.Repeat("v", i%300))
		if i == 7000 { // a large value: one line over 1 MiB
			fmt.Fprintf(&dump, `{"type":"kv","key":"big","value":"%s"}`+"\n", strings.Repeat("x", 5<<20/2))
		}
	}
	m := NewMeta(&exportKV{dump: dump.Bytes()}, DefaultLimits(4<<20))
	st := &exportStream{}
	if err := m.Export(&metapb.ExportRequest{}, st); err != nil {
		t.Fatal(err)
	}
	if len(st.chunks) < 4 {
		t.Errorf("%d chunks for %d bytes", len(st.chunks), dump.Len())
	}
	checkChunks(t, st.chunks, dump.Bytes(), exportChunkBytes)
}

func TestExportErrors(t *testing.T) {
	broken := status.Error(codes.Unavailable, "stream broke")
	tests := []struct {
		name    string
		kv      KV
		sendErr error
		code    codes.Code
	}{
		{"not an exporter", &fakeExportlessKV{}, nil, codes.Unimplemented},
		{"no leader", &exportKV{err: fmt.Errorf("%w: no leader", server.ErrNoLeader)}, nil, codes.Unavailable},
		{"barrier timeout", &exportKV{err: fmt.Errorf("%w: slow", server.ErrTimeout)}, nil, codes.DeadlineExceeded},
		{"send fails", &exportKV{dump: bytes.Repeat([]byte("line\n"), 1<<19)}, broken, codes.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := NewMeta(tt.kv, DefaultLimits(4<<20)).Export(&metapb.ExportRequest{}, &exportStream{sendErr: tt.sendErr})
			if status.Code(err) != tt.code {
				t.Errorf("got %v, want code %v", err, tt.code)
			}
			if tt.sendErr != nil && !errors.Is(err, tt.sendErr) {
				t.Errorf("got %v, want the send error", err)
			}
		})
	}
}

// fakeExportlessKV is a KV without Export.
type fakeExportlessKV struct{ KV }
