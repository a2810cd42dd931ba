package transport

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// statusCodes maps this package's errors to gRPC codes: the one table the
// Raft and Snapshot handlers answer through.
var statusCodes = []struct {
	err  error
	code codes.Code
}{
	{ErrClusterMismatch, codes.FailedPrecondition},
	{ErrWrongNode, codes.FailedPrecondition},
	{ErrBadMessage, codes.InvalidArgument},
	{ErrBadSnapshot, codes.InvalidArgument},
	{ErrStopped, codes.Unavailable},
	{ErrRejected, codes.Unavailable},
	{context.Canceled, codes.Canceled},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
}

// toStatus turns err into a gRPC status error; status errors pass through.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	for _, e := range statusCodes {
		if errors.Is(err, e.err) {
			return status.Error(e.code, err.Error())
		}
	}
	return status.Error(codes.Internal, err.Error())
}
