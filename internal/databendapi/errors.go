package databendapi

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"

	"github.com/metasrv/metasrv/internal/auth"
	"github.com/metasrv/metasrv/internal/backup"
	"github.com/metasrv/metasrv/internal/grpcapi"
	"github.com/metasrv/metasrv/internal/server"
	"github.com/metasrv/metasrv/internal/statemachine"
	"github.com/metasrv/metasrv/internal/watch"
)

// ErrInvalidArgument marks a request that failed validation at the edge.
var ErrInvalidArgument = errors.New("invalid argument")

// errorCodes is the Databend face's one table from internal errors to
// gRPC codes; the first entry whose sentinel matches (errors.Is) wins.
// Databend's client retries Unauthenticated, Unavailable, Internal and
// Cancelled on another node (and an Unavailable error names the leader,
// see fail); anything else reaches its caller. So what the caller must
// change is InvalidArgument, and what another node or a moment later may
// serve is Unavailable.
var errorCodes = []grpcapi.ErrorCode{
	{Err: ErrInvalidArgument, Code: codes.InvalidArgument},
	{Err: statemachine.ErrInvalidUpsert, Code: codes.InvalidArgument},
	{Err: statemachine.ErrInvalidTxn, Code: codes.InvalidArgument},
	{Err: statemachine.ErrReplyTooLarge, Code: codes.InvalidArgument},
	{Err: statemachine.ErrEmptyCommand, Code: codes.InvalidArgument},
	// An export of a key that is not UTF-8: Databend's dump cannot hold it.
	{Err: backup.ErrNoDatabendForm, Code: codes.FailedPrecondition},
	// A watch cut off: the client watches again (with initial_flush).
	{Err: watch.ErrEventTooLarge, Code: codes.FailedPrecondition},
	{Err: watch.ErrSlowWatcher, Code: codes.ResourceExhausted},
	{Err: watch.ErrTooManyWatchers, Code: codes.ResourceExhausted},
	{Err: watch.ErrInterrupted, Code: codes.Unavailable},
	{Err: watch.ErrClosed, Code: codes.Unavailable},
	{Err: server.ErrNoLeader, Code: codes.Unavailable},
	{Err: server.ErrStopped, Code: codes.Unavailable},
	{Err: server.ErrLeaderChanged, Code: codes.Unavailable},
	{Err: server.ErrNotStarted, Code: codes.Unavailable},
	// A write that timed out may have been applied: not retried blindly.
	{Err: server.ErrTimeout, Code: codes.DeadlineExceeded},
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
