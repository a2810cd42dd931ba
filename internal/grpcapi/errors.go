package grpcapi

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/internal/auth"
	"github.com/metasrv/metasrv/internal/backup"
	"github.com/metasrv/metasrv/internal/server"
	"github.com/metasrv/metasrv/internal/statemachine"
	"github.com/metasrv/metasrv/internal/watch"
)

// ErrInvalidArgument marks a request that failed validation at the edge.
var ErrInvalidArgument = errors.New("invalid argument")

// ErrReplyTooLarge marks a read whose reply would not fit in a message.
var ErrReplyTooLarge = errors.New("reply too large")

// ErrTooManyStreams marks a request refused by a per-connection limit.
var ErrTooManyStreams = errors.New("too many streams")

// ErrorCode is an entry of a face's table from internal errors to gRPC
// codes: errors that match Err (errors.Is) get Code.
type ErrorCode struct {
	Err  error
	Code codes.Code
}

// errorCodes is the one table from internal errors to gRPC codes; the
// first entry whose sentinel matches (errors.Is) wins.
var errorCodes = []ErrorCode{
	{ErrInvalidArgument, codes.InvalidArgument},
	// An export in Databend's format of a key that is not UTF-8.
	{backup.ErrNoDatabendForm, codes.FailedPrecondition},
	{ErrTooManyStreams, codes.ResourceExhausted},
	{statemachine.ErrInvalidUpsert, codes.InvalidArgument},
	{statemachine.ErrInvalidTxn, codes.InvalidArgument},
	// A reply that would not fit in a message: the write was refused
	// (nothing applied), or the read asked for too much at once.
	{statemachine.ErrReplyTooLarge, codes.InvalidArgument},
	{ErrReplyTooLarge, codes.InvalidArgument},
	{statemachine.ErrEmptyCommand, codes.InvalidArgument},
	// The history no longer reaches start_revision: the client must re-list
	// (initial_flush) rather than resume.
	{statemachine.ErrCompacted, codes.OutOfRange},
	// A watch start_revision the cluster has not reached (etcd refuses a future
	// revision alike).
	{server.ErrFutureRevision, codes.OutOfRange},
	// A watch response over the message limit (a value stored under a
	// larger limit): resuming at the same seq would fail again.
	{watch.ErrEventTooLarge, codes.FailedPrecondition},
	// A watch cut off or refused; the client resumes or retries, on this
	// node or another, from the start_revision the message names.
	{watch.ErrSlowWatcher, codes.ResourceExhausted},
	{watch.ErrTooManyWatchers, codes.ResourceExhausted},
	{watch.ErrInterrupted, codes.Unavailable},
	{watch.ErrClosed, codes.Unavailable},
	{server.ErrNoLeader, codes.Unavailable},
	{server.ErrStopped, codes.Unavailable},
	{server.ErrLeaderChanged, codes.Unavailable},
	{server.ErrNotStarted, codes.Unavailable},
	{server.ErrTimeout, codes.DeadlineExceeded},
	{server.ErrClusterName, codes.FailedPrecondition},
	{server.ErrInvalidMember, codes.FailedPrecondition},
	// server.GRPCPeerClient maps NotFound back to ErrNotMember.
	{server.ErrNotMember, codes.NotFound},
	{server.ErrNotLeader, codes.FailedPrecondition},
	{auth.ErrNoCredentials, codes.Unauthenticated},
	{auth.ErrBadCredentials, codes.Unauthenticated},
	{auth.ErrInvalidToken, codes.Unauthenticated},
	{auth.ErrTokenExpired, codes.Unauthenticated},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
	{context.Canceled, codes.Canceled},
}

// toStatus maps err to a gRPC status error that keeps err's message.
func toStatus(err error) error { return StatusOf(err, errorCodes) }

// StatusOf maps err through a face's table to a gRPC status error that
// keeps err's message: the first entry that matches gives the code, a
// status error stays as it is, anything else is codes.Internal; nil stays
// nil.
func StatusOf(err error, table []ErrorCode) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	for _, e := range table {
		if errors.Is(err, e.Err) {
			return status.Error(e.Code, err.Error())
		}
	}
	return status.Error(codes.Internal, err.Error())
}

// NotProposedTrailer is the gRPC trailer key set to "1" on an Upsert or
// Txn error when the write certainly never entered the raft log (it wraps
// server.ErrNotProposed): the client may retry it, on any node, without
// risking applying it twice. Without it, a failed write may or may not
// have been applied.
const NotProposedTrailer = "metasrv-not-proposed"

// writeStatus maps the error of a write like toStatus and, when the write
// was not proposed, sets NotProposedTrailer on the call ctx belongs to.
func writeStatus(ctx context.Context, err error) error {
	if errors.Is(err, server.ErrNotProposed) {
		// Fails only outside a gRPC call (a direct call in a test).
		_ = grpc.SetTrailer(ctx, metadata.Pairs(NotProposedTrailer, "1"))
	}
	return toStatus(err)
}

// LeaderTrailer is the gRPC trailer key a node that is not the leader sets
// on its answer to a write (Upsert, Txn; a success or an error) to the
// leader's public gRPC address (grpc_api_address as advertised, host:port).
// A follower forwards a write to the leader and answers once it applied
// the entry itself: a client that sends its writes to the leader saves
// those two hops. The leader sets nothing, nor does a node that knows no
// leader or not its address.
const LeaderTrailer = "metasrv-leader"

// setLeaderTrailer sets LeaderTrailer on the call ctx belongs to when kv
// is not the leader and knows the leader's address.
func setLeaderTrailer(ctx context.Context, kv KV) {
	if addr := kv.LeaderGrpcAddress(); addr != "" {
		// Fails only outside a gRPC call (a direct call in a test).
		_ = grpc.SetTrailer(ctx, metadata.Pairs(LeaderTrailer, addr))
	}
}

func tooManyf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrTooManyStreams}, args...)...)
}

func tooLargef(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrReplyTooLarge}, args...)...)
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidArgument}, args...)...)
}
