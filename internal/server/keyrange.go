package server

import (
	"context"
	"io"

	"github.com/metasrv/metasrv/api/metapb"
)

// Range reads the keys req selects (etcd's Range: statemachine.RangeKeys)
// after the read barrier of c, and returns them with the revision they
// were read at. A revision other than 0 and the current one is refused
// (statemachine.ErrFutureRevision, statemachine.ErrCompacted).
func (s *Server) Range(ctx context.Context, req *metapb.TxnRange, c metapb.ReadConsistency) (*metapb.TxnRangeResponse, uint64, error) {
	if err := s.barrier(ctx, c); err != nil {
		return nil, 0, err
	}
	return s.sm.RangeKeys(req, s.nowMs())
}

// DataSize returns the size in bytes of this node's state as a snapshot
// holds it (keys, values, members, history): what etcd calls the
// database size. It encodes the state, O(state size), on a copy: no lock
// is held meanwhile.
func (s *Server) DataSize() int64 {
	var c byteCounter
	// Writing to a byteCounter never fails.
	_, _ = s.sm.Snapshot().WriteTo(&c)
	return int64(c)
}

// byteCounter is an io.Writer that counts what it is given.
type byteCounter int64

func (c *byteCounter) Write(p []byte) (int, error) {
	*c += byteCounter(len(p))
	return len(p), nil
}

var _ io.Writer = (*byteCounter)(nil)

// RaftTerm returns this node's current raft term (0 before it started).
// One atomic load: cheap enough for every response header.
func (s *Server) RaftTerm() uint64 {
	if n := s.node.Load(); n != nil {
		return n.Term()
	}
	return 0
}
