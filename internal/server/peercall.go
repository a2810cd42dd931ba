package server

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// peerStatusErrors are the errors of this package that the Peer API
// answers with a gRPC code of their own (grpcapi's error table maps them
// to it); GRPCPeerClient turns an answer with that code back into an
// error that matches them with errors.Is, so that a node that forwards a
// request, and --leave-via, see the leader's decision as it was made.
var peerStatusErrors = map[codes.Code]error{
	codes.NotFound: ErrNotMember,
}

// peerError is a Peer call's error status that stands for one of this
// package's errors: it matches it (errors.Is), keeps the status (a node
// that forwarded the call answers with it unchanged), and reads as the
// status message, without gRPC's "rpc error: code = ..." around it.
type peerError struct {
	st       *status.Status
	sentinel error
}

func (e *peerError) Error() string              { return e.st.Message() }
func (e *peerError) Is(target error) bool       { return target == e.sentinel }
func (e *peerError) GRPCStatus() *status.Status { return e.st }
func fromPeerStatus(err error) error {
	st, ok := status.FromError(err)
	if !ok || err == nil {
		return err
	}
	if sentinel := peerStatusErrors[st.Code()]; sentinel != nil {
		return &peerError{st: st, sentinel: sentinel}
	}
	return err
}
