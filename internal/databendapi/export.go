package databendapi

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/api/databendpb"
	"github.com/metasrv/metasrv/internal/backup"
	"github.com/metasrv/metasrv/internal/statemachine"
)

// Exporter is what Export and ExportV1 need of the server (implemented by
// *server.Server). Called from gRPC goroutines.
type Exporter interface {
	// ExportSource waits for a linearizable read barrier bounded by ctx,
	// then returns the state machine to dump (its View holds every write
	// acknowledged before the call).
	ExportSource(ctx context.Context) (sm *statemachine.StateMachine, clusterName string, nowMs uint64, err error)
	// TermOf returns the raft term of the entry at an index, 0 when
	// unknown.
	TermOf(index uint64) uint64
}

// defaultExportChunk is how many lines an ExportedChunk holds when the
// client does not say, as in databend-meta.
const defaultExportChunk = 32

// Export streams the node's data as Databend's dump lines (data version
// V004, backup.DatabendLines), 32 per chunk.
func (s *Service) Export(_ *databendpb.Empty, stream grpc.ServerStreamingServer[databendpb.ExportedChunk]) error {
	return s.export(stream, defaultExportChunk)
}

// ExportV1 is Export with chunk_size lines per chunk (default 32; 0 is
// refused).
func (s *Service) ExportV1(req *databendpb.ExportRequest, stream grpc.ServerStreamingServer[databendpb.ExportedChunk]) error {
	n := uint64(defaultExportChunk)
	if req.ChunkSize != nil {
		n = req.GetChunkSize()
	}
	if n == 0 {
		return toStatus(invalidf("chunk_size 0: give at least 1 line per chunk, or leave it unset for %d", defaultExportChunk))
	}
	return s.export(stream, min(n, 1<<20))
}

// export writes the dump of a consistent copy of the state taken after a
// read barrier (bounded by the default timeout when the client sets no
// deadline; the stream then lasts as long as the client reads it). Unlike
// databend-meta, which dumps its raft log and last persisted snapshot,
// the dump is the applied state, with no log entries.
func (s *Service) export(stream grpc.ServerStreamingServer[databendpb.ExportedChunk], chunk uint64) error {
	ex, ok := s.srv.(Exporter)
	if !ok {
		return status.Error(codes.Unimplemented, "export is not available on this server")
	}
	ctx, cancel := s.withDeadline(stream.Context())
	sm, _, _, err := ex.ExportSource(ctx)
	cancel()
	if err != nil {
		return toStatus(err)
	}
	st := backup.DatabendStateOf(sm, s.srv.AdminStatus().ID, ex.TermOf)
	var (
		lines   []string
		sendErr error
	)
	flush := func() error {
		if len(lines) == 0 {
			return nil
		}
		sendErr = stream.Send(&databendpb.ExportedChunk{Data: lines})
		lines = nil // gRPC may use a sent message lazily: a new slice each time
		return sendErr
	}
	err = backup.DatabendLines(st, func(line []byte) error {
		lines = append(lines, string(line))
		if uint64(len(lines)) < chunk {
			return nil
		}
		return flush()
	})
	if err == nil {
		err = flush()
	}
	if sendErr != nil {
		return sendErr // the stream broke; its status says why
	}
	if err != nil {
		return toStatus(err)
	}
	return nil
}
