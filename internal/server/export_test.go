package server

import "context"

// ProposeRaw proposes data as a normal entry as it is, for tests of what
// the apply loop does with entries no server would propose.
func (s *Server) ProposeRaw(ctx context.Context, data []byte) error {
	return s.node.Load().Propose(ctx, data)
}
