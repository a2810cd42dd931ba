package server

import (
	"context"
	"io"

	"github.com/metasrv/metasrv/internal/backup"
)

// Export writes a dump of the whole state (internal/backup's format) to w.
// It first waits for a linearizable read barrier bounded by ctx, so the
// dump holds every write acknowledged before the call; it then takes an
// O(1) copy of the state and writes it without holding any lock while
// applying goes on. An error from w ends the export; the dump is then
// incomplete (it lacks its footer).
func (s *Server) Export(ctx context.Context, w io.Writer) error {
	if err := s.linearizableRead(ctx); err != nil {
		return err
	}
	return backup.ExportStateMachine(w, s.sm, s.cfg.ClusterName, s.nowMs())
}
