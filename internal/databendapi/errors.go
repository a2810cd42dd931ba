package databendapi

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/internal/auth"
)

// ErrInvalidArgument marks a request that failed validation at the edge.
var ErrInvalidArgument = errors.New("invalid argument")

// errorCodes is the Databend face's one table from internal errors to
// gRPC codes; the first entry whose sentinel matches (errors.Is) wins.
// Databend's client retries Unauthenticated, Unavailable, Internal and
// Cancelled on another node; anything else reaches its caller.
var errorCodes = []struct {
	err  error
	code codes.Code
}{
	{ErrInvalidArgument, codes.InvalidArgument},
	{auth.ErrNoCredentials, codes.Unauthenticated},
	{auth.ErrBadCredentials, codes.Unauthenticated},
	{auth.ErrInvalidToken, codes.Unauthenticated},
	{auth.ErrTokenExpired, codes.Unauthenticated},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
	{context.Canceled, codes.Canceled},
}

// toStatus maps err to a gRPC status error that keeps err's message.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	for _, e := range errorCodes {
		if errors.Is(err, e.err) {
			return status.Error(e.code, err.Error())
		}
	}
	return status.Error(codes.Internal, err.Error())
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidArgument}, args...)...)
}
