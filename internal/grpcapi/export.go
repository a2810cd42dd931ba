package grpcapi

import (
	"bytes"
	"context"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/backup"
	"github.com/metasrv/metasrv/internal/server"
	"github.com/metasrv/metasrv/internal/statemachine"
)

// Exporter is what Meta.Export needs of the server (internal/server.Server
// implements it). Meta uses it when the KV given to NewMeta implements it
// too; otherwise Export answers Unimplemented.
type Exporter interface {
	// ExportSource waits for a linearizable read barrier bounded by ctx,
	// then returns the state machine to dump (its View holds every write
	// acknowledged before the call), the cluster name and the node's
	// clock in Unix ms. It is called from a gRPC goroutine.
	ExportSource(ctx context.Context) (sm *statemachine.StateMachine, clusterName string, nowMs uint64, err error)
}

// DatabendExporter is what Meta.Export needs besides Exporter for a dump
// in Databend's format (internal/server.Server implements it).
type DatabendExporter interface {
	// TermOf returns the raft term of the entry at an index, 0 when
	// unknown.
	TermOf(index uint64) uint64
	// AdminStatus describes this node (its id).
	AdminStatus() server.AdminStatus
}

// exportChunkBytes bounds the data of one ExportChunk.
const exportChunkBytes = 1 << 20

// Export streams a dump of the whole state in chunks of at most 1 MiB that
// end at line ends; only a line longer than 1 MiB (a large value) is split
// over several chunks. The receiver concatenates the chunks. The default
// request deadline, when the client sets none, bounds the read barrier
// only; the stream itself lasts as long as the client reads it.
//
// The dump is in req's format: metasrv's (internal/backup), or Databend's
// export lines (backup.ExportDatabend).
func (m *Meta) Export(req *metapb.ExportRequest, stream metapb.Meta_ExportServer) error {
	ex, ok := m.kv.(Exporter)
	if !ok {
		return status.Error(codes.Unimplemented, "export is not available on this server")
	}
	write := func(w io.Writer, sm *statemachine.StateMachine, clusterName string, nowMs uint64) error {
		return backup.ExportStateMachine(w, sm, clusterName, nowMs)
	}
	switch req.GetFormat() {
	case metapb.ExportRequest_METASRV:
	case metapb.ExportRequest_DATABEND:
		dx, ok := m.kv.(DatabendExporter)
		if !ok {
			return status.Error(codes.Unimplemented, "export in Databend's format is not available on this server")
		}
		write = func(w io.Writer, sm *statemachine.StateMachine, _ string, _ uint64) error {
			return backup.ExportDatabend(w, sm, dx.AdminStatus().ID, dx.TermOf)
		}
	default:
		return status.Errorf(codes.InvalidArgument, "unknown export format %d: want METASRV (0) or DATABEND (1)", req.GetFormat())
	}
	ctx, cancel := m.withDeadline(stream.Context())
	defer cancel()
	cw := &chunkWriter{max: exportChunkBytes, send: func(b []byte) error {
		return stream.Send(&metapb.ExportChunk{Data: b})
	}}
	sm, clusterName, nowMs, err := ex.ExportSource(ctx)
	if err == nil {
		err = write(cw, sm, clusterName, nowMs)
	}
	if cw.sendErr != nil {
		return cw.sendErr // the stream broke; its status says why
	}
	if err != nil {
		return toStatus(err)
	}
	return cw.flush()
}

// chunkWriter groups what is written into chunks of at most max bytes that
// end at a newline when the data allows it, and hands each full chunk to
// send. Each chunk is a new slice: gRPC may use a sent message lazily.
type chunkWriter struct {
	max     int
	send    func([]byte) error
	buf     []byte
	sendErr error
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	if c.sendErr != nil {
		return 0, c.sendErr
	}
	n := len(p)
	for len(c.buf)+len(p) > c.max {
		room := c.max - len(c.buf)
		if i := bytes.LastIndexByte(p[:room], '\n'); i >= 0 {
			// Fill up to the last line end that fits.
			c.buf = append(c.buf, p[:i+1]...)
			p = p[i+1:]
		} else if j := bytes.LastIndexByte(c.buf, '\n'); j >= 0 {
			// Send the whole lines buffered; keep the partial line.
			rest := c.buf[j+1:]
			c.buf = c.buf[:j+1]
			if err := c.flush(); err != nil {
				return 0, err
			}
			c.buf = append(make([]byte, 0, c.max), rest...)
			continue
		} else {
			// One line longer than max: split it.
			c.buf = append(c.buf, p[:room]...)
			p = p[room:]
		}
		if err := c.flush(); err != nil {
			return 0, err
		}
	}
	if c.buf == nil {
		c.buf = make([]byte, 0, c.max)
	}
	c.buf = append(c.buf, p...)
	return n, nil
}

// flush sends what is buffered, if anything.
func (c *chunkWriter) flush() error {
	if c.sendErr != nil || len(c.buf) == 0 {
		return c.sendErr
	}
	if err := c.send(c.buf); err != nil {
		c.sendErr = err
		return err
	}
	c.buf = nil
	return nil
}
