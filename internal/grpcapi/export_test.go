package grpcapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/api/peerpb"
	"github.com/metasrv/metasrv/internal/backup"
	"github.com/metasrv/metasrv/internal/server"
	"github.com/metasrv/metasrv/internal/statemachine"
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

// exportKV is a KV whose ExportSource returns sm, or err.
type exportKV struct {
	KV  // not called
	sm  *statemachine.StateMachine
	err error
}

func (e *exportKV) ExportSource(context.Context) (*statemachine.StateMachine, string, uint64, error) {
	if e.err != nil {
		return nil, "", 0, e.err
	}
	return e.sm, "test", 1, nil
}

// bigState returns a state machine holding 20,000 keys with values of 0 to
// 299 bytes, and one value whose dump line is over 1 MiB.
func bigState(t *testing.T) *statemachine.StateMachine {
	t.Helper()
	sm := statemachine.New()
	put := func(i int, key string, value []byte) {
		r := sm.Apply(uint64(i+1), 1, &peerpb.Command{Body: &peerpb.Command_Upsert{Upsert: &metapb.UpsertRequest{Key: key, Value: value}}})
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	for i := range 20_000 {
		put(i, fmt.Sprintf("k%06d", i), bytes.Repeat([]byte("v"), i%300))
	}
	put(20_000, "big", bytes.Repeat([]byte("x"), 5<<20/2))
	return sm
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
	sm := bigState(t)
	var dump bytes.Buffer
	if err := backup.ExportStateMachine(&dump, sm, "test", 1); err != nil {
		t.Fatal(err)
	}
	m := NewMeta(&exportKV{sm: sm}, DefaultLimits(4<<20))
	st := &exportStream{}
	if err := m.Export(&metapb.ExportRequest{}, st); err != nil {
		t.Fatal(err)
	}
	if len(st.chunks) < 4 {
		t.Errorf("%d chunks for %d bytes", len(st.chunks), dump.Len())
	}
	checkChunks(t, st.chunks, dump.Bytes(), exportChunkBytes)
}

// databendExportKV is an exportKV that can also export in Databend's
// format.
type databendExportKV struct{ exportKV }

func (*databendExportKV) TermOf(uint64) uint64 { return 7 }
func (*databendExportKV) AdminStatus() server.AdminStatus {
	return server.AdminStatus{ID: 3}
}

// Export in Databend's format streams backup.ExportDatabend's lines, cut
// at line ends like the native dump.
func TestExportDatabendFormat(t *testing.T) {
	sm := bigState(t)
	var dump bytes.Buffer
	if err := backup.ExportDatabend(&dump, sm, 3, func(uint64) uint64 { return 7 }); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dump.String(), `["raft_log",{"NodeId":3}]`) || !strings.Contains(dump.String(), `"leader_id":{"term":7,"node_id":0},"index":20001}`) {
		t.Fatalf("dump does not name node 3 and the applied log id:\n%.500s", dump.String())
	}
	m := NewMeta(&databendExportKV{exportKV{sm: sm}}, DefaultLimits(4<<20))
	st := &exportStream{}
	if err := m.Export(&metapb.ExportRequest{Format: metapb.ExportRequest_DATABEND}, st); err != nil {
		t.Fatal(err)
	}
	checkChunks(t, st.chunks, dump.Bytes(), exportChunkBytes)
}

func TestExportErrors(t *testing.T) {
	broken := status.Error(codes.Unavailable, "stream broke")
	databend := &metapb.ExportRequest{Format: metapb.ExportRequest_DATABEND}
	tests := []struct {
		name    string
		kv      KV
		req     *metapb.ExportRequest // nil: metasrv's format
		sendErr error
		code    codes.Code
	}{
		{"not an exporter", &fakeExportlessKV{}, nil, nil, codes.Unimplemented},
		{"no leader", &exportKV{err: fmt.Errorf("%w: no leader", server.ErrNoLeader)}, nil, nil, codes.Unavailable},
		{"barrier timeout", &exportKV{err: fmt.Errorf("%w: slow", server.ErrTimeout)}, nil, nil, codes.DeadlineExceeded},
		{"send fails", &exportKV{sm: bigState(t)}, nil, broken, codes.Unavailable},
		{"unknown format", &exportKV{sm: statemachine.New()}, &metapb.ExportRequest{Format: 9}, nil, codes.InvalidArgument},
		{"databend format not available", &exportKV{sm: statemachine.New()}, databend, nil, codes.Unimplemented},
		{"databend format: send fails", &databendExportKV{exportKV{sm: bigState(t)}}, databend, broken, codes.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			if req == nil {
				req = &metapb.ExportRequest{}
			}
			err := NewMeta(tt.kv, DefaultLimits(4<<20)).Export(req, &exportStream{sendErr: tt.sendErr})
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
