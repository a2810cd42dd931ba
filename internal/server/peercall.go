package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

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

// peerError is a Peer call's error status, usually one that stands for
// one of this package's errors (sentinel, nil: none): it matches it
// (errors.Is), keeps the status (a node that forwarded the call answers
// with it unchanged), and reads as the status message, without gRPC's
// "rpc error: code = ..." around it.
type peerError struct {
	st       *status.Status
	sentinel error
}

func (e *peerError) Error() string              { return e.st.Message() }
func (e *peerError) Is(target error) bool       { return target == e.sentinel }
func (e *peerError) GRPCStatus() *status.Status { return e.st }

// fromPeerStatus is err from a Peer call, as a *peerError when its code
// stands for one of this package's errors (peerStatusErrors), else as it
// is.
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

// Retry describes a join or leave request to another node that failed
// and is tried again: the node may be down or starting, or know no leader
// yet.
type Retry struct {
	// Op is what was asked: "joining via" or "leave via".
	Op string
	// Via is the raft address asked; Attempt counts the attempts made
	// through it, this one included.
	Via     string
	Attempt int
	// Err is why this attempt failed.
	Err error
	// Until is when the retries stop (zero: when the caller cancels).
	Until time.Time
}

// String says what the request waits for, for a person: "joining via
// X: not reachable yet (attempt 3), retrying until 15:04:05: <Err>", or
// "not done yet" when the attempt timed out (a learner still catching up).
func (r Retry) String() string {
	state := "not reachable yet"
	if status.Code(r.Err) == codes.DeadlineExceeded || errors.Is(r.Err, ErrTimeout) || errors.Is(r.Err, context.DeadlineExceeded) {
		state = "not done yet"
	}
	until := ""
	if !r.Until.IsZero() {
		until = " until " + r.Until.Format(time.TimeOnly)
	}
	why := r.Err.Error()
	if st, ok := status.FromError(r.Err); ok {
		why = st.Message() // without "rpc error: code = ..."
	}
	return fmt.Sprintf("%s %s: %s (attempt %d), retrying%s: %s", r.Op, r.Via, state, r.Attempt, until, why)
}

// Noteworthy reports whether a person watching should hear of this
// retry: the first three attempts, then every fifth (about one line per
// 10 s once the backoff reaches its 2 s cap).
func (r Retry) Noteworthy() bool { return r.Attempt <= 3 || r.Attempt%5 == 0 }

// permanentPeerError returns, for an error of a Peer call to addr that
// retrying cannot fix, the error to report, saying what to do; nil for one
// that may pass (a node down or starting, no leader yet, a timeout).
// setting names what gave the address (--leave-via, raft_config.join),
// for the advice; the caller names the address.
//
//   - Unimplemented: addr serves gRPC without the Peer service, e.g. a
//     node's public gRPC port.
//   - A TLS handshake that failed on this side: the certificate of addr
//     is not signed by raft_tls_ca, or addr does not serve TLS. (A node
//     refusing this one's certificate closes the connection after the
//     handshake; that looks like a node going down, and is retried.)
//   - The server's refusals: another cluster_name, an invalid or
//     non-member node (ErrClusterName, ErrInvalidMember, ErrNotMember,
//     FailedPrecondition), InvalidArgument, and a raft_secret or
//     certificate refused (Unauthenticated, PermissionDenied).
func permanentPeerError(setting string, err error) error {
	switch code := status.Code(err); {
	case code == codes.Unimplemented:
		return fmt.Errorf("it answers gRPC but not the raft service (%s): %s takes a node's raft address, host:raft_api_port (raft_advertise_host:raft_api_port of its config)",
			status.Convert(err).Message(), setting)
	case code == codes.Unavailable && handshakeFailed(err):
		return fmt.Errorf("the TLS handshake failed (%s): raft_tls_cert, raft_tls_key and raft_tls_ca must be the cluster's (one CA signs every node), the node must serve TLS on its raft port, and %s must name that port",
			status.Convert(err).Message(), setting)
	case errors.Is(err, ErrClusterName), errors.Is(err, ErrInvalidMember), errors.Is(err, ErrNotMember),
		code == codes.FailedPrecondition, code == codes.InvalidArgument,
		code == codes.Unauthenticated, code == codes.PermissionDenied:
		if pe := (*peerError)(nil); errors.As(err, &pe) {
			return err
		}
		if st, ok := status.FromError(err); ok {
			return &peerError{st: st} // the server's message, without gRPC's wrapping
		}
		return err
	}
	return nil
}

// handshakeFailed reports whether a call failed because this side's TLS
// handshake did. grpc-go reports it only in the text of an Unavailable
// status (internal/transport: "authentication handshake failed"), with
// no error value to match.
func handshakeFailed(err error) bool {
	return strings.Contains(status.Convert(err).Message(), "authentication handshake failed")
}

// callPeers makes a join or leave request: call(ctx, addr) through each of
// addrs in turn until one succeeds, with a backoff between rounds, until
// ctx ends. An error retrying cannot fix (permanentPeerError) ends it at
// once; every other failure is reported to retrying (nil: not reported)
// and tried again. op and setting name the request and what gave addrs,
// for the messages. The error names the address it came from.
func callPeers(ctx context.Context, op, setting string, addrs []string, retrying func(Retry), call func(ctx context.Context, addr string) error) error {
	until, _ := ctx.Deadline()
	backoff := 100 * time.Millisecond
	var lastErr error
	for attempt := 1; ; attempt++ {
		for _, addr := range addrs {
			err := call(ctx, addr)
			if err == nil {
				return nil
			}
			if perr := permanentPeerError(setting, err); perr != nil {
				return fmt.Errorf("%s %s: %w", op, addr, perr)
			}
			lastErr = fmt.Errorf("%s %s: %w", op, addr, err)
			if retrying != nil {
				retrying(Retry{Op: op, Via: addr, Attempt: attempt, Err: err, Until: until})
			}
		}
		if err := sleepCtx(ctx, backoff); err != nil {
			if until.IsZero() {
				return fmt.Errorf("%w (stopped retrying: %v)", lastErr, err)
			}
			return fmt.Errorf("%w (retried until %s)", lastErr, until.Format(time.TimeOnly))
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}
