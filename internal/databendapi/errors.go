package databendapi

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"

	"github.com/metasrv/metasrv/internal/auth"
	"github.com/metasrv/metasrv/internal/grpcapi"
)

// ErrInvalidArgument marks a request that failed validation at the edge.
var ErrInvalidArgument = errors.New("invalid argument")

// errorCodes is the Databend face's one table from internal errors to
// gRPC codes; the first entry whose sentinel matches (errors.Is) wins.
// Databend's client retries Unauthenticated, Unavailable, Internal and
// Cancelled on another node; anything else reaches its caller.
var errorCodes = []grpcapi.ErrorCode{
	{Err: ErrInvalidArgument, Code: codes.InvalidArgument},
	{Err: auth.ErrNoCredentials, Code: codes.Unauthenticated},
	{Err: auth.ErrBadCredentials, Code: codes.Unauthenticated},
	{Err: auth.ErrInvalidToken, Code: codes.Unauthenticated},
	{Err: auth.ErrTokenExpired, Code: codes.Unauthenticated},
	{Err: context.DeadlineExceeded, Code: codes.DeadlineExceeded},
	{Err: context.Canceled, Code: codes.Canceled},
}

// toStatus maps err to a gRPC status error that keeps err's message.
func toStatus(err error) error { return grpcapi.StatusOf(err, errorCodes) }

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidArgument}, args...)...)
}
