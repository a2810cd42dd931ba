package server

import "context"

// ProposeRaw proposes data as a normal entry as it is, for tests of what
// the apply loop does with entries no server would propose.
func (s *Server) ProposeRaw(ctx context.Context, data []byte) error {
	return s.node.Load().Propose(ctx, data)
}

// ReadAttempts is the number of ReadIndex rounds this node started.
func (s *Server) ReadAttempts() uint64 { return s.readSeq.Load() }

// LeadTransferee is the node this leader is transferring leadership to
// (0: none), as raft says.
func (s *Server) LeadTransferee() uint64 { return s.node.Load().Status().LeadTransferee }
