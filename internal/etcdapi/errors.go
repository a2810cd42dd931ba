package etcdapi

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/internal/grpcapi"
	"github.com/metasrv/metasrv/internal/server"
	"github.com/metasrv/metasrv/internal/statemachine"
)

// etcdErrors is the face's one table from internal errors to etcd's own
// status errors, whose messages clientv3 maps back to its errors by text
// (rpctypes.Error): the first entry that matches (errors.Is) wins, so the
// specific ones come before those they wrap (ErrKeyNotFound and the
// revision errors are wrapped in ErrInvalidTxn inside a transaction).
var etcdErrors = []struct {
	err    error
	status error
}{
	{statemachine.ErrKeyNotFound, rpctypes.ErrGRPCKeyNotFound},
	{statemachine.ErrLeaseNotFound, rpctypes.ErrGRPCLeaseNotFound},
	{statemachine.ErrLeaseExists, rpctypes.ErrGRPCLeaseExist},
	{statemachine.ErrLeaseTTLTooLarge, rpctypes.ErrGRPCLeaseTTLTooLarge},
	{statemachine.ErrFutureRevision, rpctypes.ErrGRPCFutureRev},
	{statemachine.ErrCompacted, rpctypes.ErrGRPCCompacted},
	{server.ErrNoLeader, rpctypes.ErrGRPCNoLeader},
	{server.ErrLeaderChanged, rpctypes.ErrGRPCLeaderChanged},
	{server.ErrStopped, rpctypes.ErrGRPCStopped},
	{server.ErrTimeout, rpctypes.ErrGRPCTimeout},
	{context.DeadlineExceeded, rpctypes.ErrGRPCTimeout},
	{server.ErrNotLeader, rpctypes.ErrGRPCNotLeader},
	{server.ErrNotMember, rpctypes.ErrGRPCMemberNotFound},
}

// errorCodes maps what etcd has no message of its own for, keeping
// metasrv's message (it says what to do).
var errorCodes = []grpcapi.ErrorCode{
	{Err: errInvalid, Code: codes.InvalidArgument},
	{Err: statemachine.ErrInvalidTxn, Code: codes.InvalidArgument},
	{Err: statemachine.ErrReplyTooLarge, Code: codes.InvalidArgument},
	{Err: statemachine.ErrEmptyCommand, Code: codes.InvalidArgument},
	{Err: statemachine.ErrInvalidLease, Code: codes.InvalidArgument},
	{Err: server.ErrNotStarted, Code: codes.Unavailable},
	{Err: context.Canceled, Code: codes.Canceled},
	{Err: server.ErrInvalidMember, Code: codes.FailedPrecondition},
	{Err: server.ErrInvalidTransfer, Code: codes.FailedPrecondition},
}

// errInvalid marks a request this face refuses that etcd would take
// (a key over metasrv's key limit): codes.InvalidArgument.
var errInvalid = errors.New("invalid argument")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errInvalid}, args...)...)
}

// toStatus maps err to the status error the client gets: etcd's own where
// it has one (a status error that stands for one of the errors of the
// table too: the peer API's, server.ErrNotMember), else a status error as
// it is, else a code from errorCodes with metasrv's message.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	for _, e := range etcdErrors {
		if errors.Is(err, e.err) {
			return e.status
		}
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return grpcapi.StatusOf(err, errorCodes)
}
