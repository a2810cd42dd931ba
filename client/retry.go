package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/api/metapb"
)

// Retry timing; the Client copies these into its retryTiming so that tests
// can shorten them.
const (
	initialBackoff = 50 * time.Millisecond
	maxBackoff     = time.Second
	// maxRoundsNoDeadline bounds the rounds over the endpoints of a call
	// whose context has no deadline: about 5s of backoff in all.
	maxRoundsNoDeadline = 10
)

type retryTiming struct {
	initialBackoff time.Duration
	maxBackoff     time.Duration
	maxRounds      int           // without a deadline
	watchIdleMin   time.Duration // see watchIdleTimeout
	leaderPause    time.Duration // see leaderHint.learn
	// now is the clock that renews tokens (tokenCreds); nil: time.Now.
	now func() time.Time
}

// clock returns the clock that renews tokens.
func (rt retryTiming) clock() func() time.Time {
	if rt.now != nil {
		return rt.now
	}
	return time.Now
}

var defaultRetryTiming = retryTiming{
	initialBackoff: initialBackoff,
	maxBackoff:     maxBackoff,
	maxRounds:      maxRoundsNoDeadline,
	watchIdleMin:   minWatchIdle,
	leaderPause:    defaultLeaderPause,
}

// callKind says what a call may do on a retry.
type callKind int

const (
	// kindRead has no effect: always retried on a down endpoint.
	kindRead callKind = iota
	// kindWriteIdempotent cannot apply twice (Upsert with Match Exact):
	// retried like a read, but a final error may mean it was applied.
	kindWriteIdempotent
	// kindWrite could apply twice: retried only when the request was not
	// sent.
	kindWrite
)

func (k callKind) isWrite() bool { return k != kindRead }

// route says where a call goes.
type route int

const (
	// toEndpoint: the current endpoint.
	toEndpoint route = iota
	// toLeader: the leader learnt from LeaderTrailer when the client knows
	// one, else the current endpoint (see leader.go). For the calls that
	// propose: Upsert and Txn.
	toLeader
)

// errNotConnected: the connection to an endpoint did not become ready in
// time. Nothing was sent.
var errNotConnected = errors.New("not connected")

// rpcFunc performs one attempt of a call on a connection. It must use ctx for
// the RPC so that sendObserver can see whether the request was sent.
type rpcFunc func(ctx context.Context, mc metapb.MetaClient) error

// invoke runs call on the current endpoint (r == toLeader: on the learnt
// leader, when there is one), moving on to the next endpoint and trying
// again as described at the top of this file. what names the call in
// errors, e.g. `get "k"`. It reports whether an attempt other than the
// successful one sent its request: for a write, the earlier attempt may
// have applied.
func (c *Client) invoke(ctx context.Context, what string, kind callKind, r route, call rpcFunc) (earlierSent bool, err error) {
	n := len(c.endpoints)
	_, hasDeadline := ctx.Deadline()
	start := time.Now()
	wait := c.timing.initialBackoff
	var (
		downErr error // the last endpoint-down error
		downEp  string
		tries   int
	)
	// attempt counts the attempts on the endpoints, which make the
	// rounds; one on the leader is not part of a round.
	for attempt := 0; ; {
		ep, i := c.leaderFor(r), -1
		if ep == "" {
			if attempt > 0 && attempt%n == 0 {
				if !hasDeadline && attempt/n >= c.timing.maxRounds {
					break
				}
				if err := sleep(ctx, jitter(wait)); err != nil {
					return earlierSent, ctxError(what, kind.isWrite() && earlierSent, err, "", nil, downEp, downErr)
				}
				wait = min(2*wait, c.timing.maxBackoff)
			}
			i = c.current()
			ep = c.endpoints[i]
			attempt++
		}
		tries++
		sent, err := c.attempt(ctx, ep, call)
		if err == nil {
			return earlierSent, nil
		}
		if errors.Is(err, ErrClosed) {
			return earlierSent, fmt.Errorf("%s: %w", what, ErrClosed)
		}
		maybe := kind.isWrite() && (earlierSent || (sent && !isRejection(err)))
		down := isEndpointDown(err)
		if down && i < 0 {
			c.leader.forget(ep) // the learnt leader is down
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return earlierSent, ctxError(what, maybe, ctxErr, ep, err, downEp, downErr)
		}
		if status.Code(err) == codes.DeadlineExceeded { // the server timed out
			return earlierSent, ctxError(what, maybe, context.DeadlineExceeded, ep, err, downEp, downErr)
		}
		if !down || (kind == kindWrite && sent) {
			return earlierSent, callError(what, maybe, ep, err)
		}
		earlierSent = earlierSent || sent
		if i >= 0 {
			c.advance(i)
		}
		downErr, downEp = err, ep
		if c.onRetry != nil {
			deadline, _ := ctx.Deadline()
			c.onRetry(RetryInfo{What: what, Endpoint: ep, Err: err, Attempts: tries, Elapsed: time.Since(start), Deadline: deadline})
		}
	}
	err = fmt.Errorf("%w: %s: %d attempts over %v in %v failed; last error from %s: %w; check that metasrv is running there and that these are its grpc_api_address",
		ErrUnavailable, what, tries, c.endpoints, time.Since(start).Round(time.Millisecond), downEp, downErr)
	if kind.isWrite() && earlierSent {
		err = fmt.Errorf("%w: %w; read the key to check", ErrMaybeApplied, err)
	}
	return earlierSent, err
}

// RetryInfo tells Config.OnRetry which call goes on after an endpoint
// was found down, and why.
type RetryInfo struct {
	// What names the call, as its errors do: `get "k"`.
	What string
	// Endpoint is the endpoint found down, Err how: gRPC's connection
	// error (e.g. "connection refused"), a status with codes.Unavailable,
	// or an error saying the connection was not ready within DialTimeout.
	Endpoint string
	Err      error
	// Attempts counts the call's attempts so far, this one included.
	Attempts int
	// Elapsed is the time since the call started; Deadline is the call's
	// deadline, zero when its context has none.
	Elapsed  time.Duration
	Deadline time.Time
}

// leaderFor returns the address a call routed by r goes to instead of the
// current endpoint: the learnt leader, or "" for the current endpoint.
func (c *Client) leaderFor(r route) string {
	if r != toLeader || !c.leaderWrites {
		return ""
	}
	return c.leader.get()
}

// callError wraps err, returned by endpoint ep. maybe: a write may have been
// applied.
func callError(what string, maybe bool, ep string, err error) error {
	if maybe {
		return fmt.Errorf("%w: %s: endpoint %s failed after the request was sent: %w; read the key to check before writing again", ErrMaybeApplied, what, ep, err)
	}
	return fmt.Errorf("%s: endpoint %s: %w", what, ep, err)
}

// ctxError builds the error of a call whose context ended (ctxErr) while
// endpoint ep was serving it and failed with err (ep == "": the context ended
// between attempts). It wraps ctxErr, so that errors.Is(err,
// context.DeadlineExceeded) holds, and names the last endpoint-down error,
// which usually says why the time ran out. maybe: a write may have been
// applied.
func ctxError(what string, maybe bool, ctxErr error, ep string, err error, downEp string, downErr error) error {
	var b strings.Builder
	b.WriteString(what)
	if ep != "" {
		fmt.Fprintf(&b, ": endpoint %s", ep)
	}
	b.WriteString(": %w")
	args := []any{ctxErr}
	if err != nil && status.Convert(err).Message() != status.FromContextError(ctxErr).Message() {
		// Not just our own context's error: keep what the server said.
		b.WriteString(" (%v)")
		args = append(args, err)
	}
	if downErr != nil && downEp != ep {
		b.WriteString("; last failure at %s: %v")
		args = append(args, downEp, downErr)
	}
	if errors.Is(ctxErr, context.DeadlineExceeded) {
		b.WriteString("; if the cluster is electing a leader or the endpoints are down, retry later or with a longer deadline")
	}
	e := fmt.Errorf(b.String(), args...)
	if maybe {
		e = fmt.Errorf("%w: %w; the write was sent, read the key to check", ErrMaybeApplied, e)
	}
	return e
}

// isRejection reports whether err is a server's definite refusal of a
// request: with one of these codes the server did not apply the write. Any
// other code after the request was sent (Unavailable, DeadlineExceeded,
// Canceled, Aborted, Unknown, Internal, ...) leaves the outcome unknown.
func isRejection(err error) bool {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.NotFound, codes.AlreadyExists,
		codes.PermissionDenied, codes.Unauthenticated, codes.FailedPrecondition,
		codes.OutOfRange, codes.Unimplemented, codes.ResourceExhausted:
		return true
	}
	return false
}

// attempt runs call once on endpoint ep and reports whether the request was
// sent (see sendObserver); a failed call whose server set
// NotProposedTrailer counts as not sent. A LeaderTrailer in the answer
// teaches the client the leader (leader.go).
func (c *Client) attempt(ctx context.Context, ep string, call rpcFunc) (sent bool, err error) {
	cc, err := c.conn(ep)
	if err != nil {
		return false, err
	}
	if err := c.waitConnected(ctx, cc); err != nil {
		return false, err
	}
	for try := 0; ; try++ {
		flag := new(sendFlag)
		err = call(context.WithValue(ctx, sendFlagKey{}, flag), metapb.NewMetaClient(cc))
		if try == 0 && c.renewAfter(ep, flag, err) {
			continue // refused before any handler ran: see auth.go
		}
		if c.leaderWrites && flag.leader != "" {
			c.leader.learn(flag.leader, c.timing.leaderPause)
		}
		if err != nil && flag.notProposed.Load() {
			return false, err // the server never proposed it: as good as unsent
		}
		return flag.sent.Load(), err
	}
}

// waitConnected returns nil once cc is READY, or at once if it is in
// TRANSIENT_FAILURE (the RPC then fails fast with gRPC's connection error).
// It connects an IDLE channel and waits at most c.dialTimeout for CONNECTING
// to end, then returns errNotConnected.
func (c *Client) waitConnected(ctx context.Context, cc *grpc.ClientConn) error {
	st := cc.GetState()
	if st == connectivity.Ready || st == connectivity.TransientFailure {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, c.dialTimeout)
	defer cancel()
	for {
		switch st {
		case connectivity.Ready, connectivity.TransientFailure:
			return nil
		case connectivity.Idle:
			cc.Connect()
		case connectivity.Shutdown:
			return ErrClosed
		}
		if !cc.WaitForStateChange(wctx, st) {
			if err := ctx.Err(); err != nil {
				return err
			}
			return fmt.Errorf("%w: connection still %s after the dial timeout %v", errNotConnected, st, c.dialTimeout)
		}
		st = cc.GetState()
	}
}

// isEndpointDown reports whether err means the endpoint cannot serve now, so
// that another endpoint should be tried.
func isEndpointDown(err error) bool {
	return errors.Is(err, errNotConnected) || status.Code(err) == codes.Unavailable
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// jitter returns d scaled by a random factor in [0.8, 1.2).
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// sendFlag records whether the request of one attempt (one gRPC call, which
// may include a transparent retry) was handed to the transport, and whether
// the server said it never proposed the write. It travels in the call's
// context under sendFlagKey.
type sendFlag struct {
	sent        atomic.Bool
	notProposed atomic.Bool
	// token is the cached token the call carried ("": the node needed
	// none), set by tokenCreds; nil when it carried no cached token.
	token atomic.Pointer[string]
	// leader is the call's LeaderTrailer, set by trailerInterceptor on
	// the goroutine that makes the call, before the call returns.
	leader string
}

// NotProposedTrailer is the gRPC trailer key a metasrv server sets, with the
// value "1", on a failed Upsert or Txn that it knows never entered the raft
// log: such a write is safe to retry on another endpoint. The client
// honours it by itself (see retry.go); it is exported for servers and tests.
const NotProposedTrailer = "metasrv-not-proposed"

// trailerInterceptor is the unary client interceptor of every connection.
// For a call made by invoke (its context holds a sendFlag) it asks gRPC for
// the call's trailer and records in the flag NotProposedTrailer set to "1"
// on a failed call, and the LeaderTrailer of any answer.
func trailerInterceptor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	f, ok := ctx.Value(sendFlagKey{}).(*sendFlag)
	if !ok {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	var trailer metadata.MD
	err := invoker(ctx, method, req, reply, cc, append(opts, grpc.Trailer(&trailer))...)
	if err != nil && slices.Contains(trailer.Get(NotProposedTrailer), "1") {
		f.notProposed.Store(true)
	}
	if l := trailer.Get(LeaderTrailer); len(l) > 0 {
		f.leader = l[len(l)-1]
	}
	return err
}

type sendFlagKey struct{}

// sendObserver is the stats.Handler of every connection. It sets the call's
// sendFlag when gRPC reports *stats.OutPayload (the request message was handed
// to the transport) and clears it when a transparent retry attempt begins
// (the earlier attempt provably did not reach a handler); see the top of this
// file. gRPC calls HandleRPC with a context derived from the RPC's, so the
// flag is found there. The events of one RPC come one after another.
type sendObserver struct{}

func (sendObserver) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (sendObserver) HandleRPC(ctx context.Context, s stats.RPCStats) {
	f, ok := ctx.Value(sendFlagKey{}).(*sendFlag)
	if !ok {
		return
	}
	switch s := s.(type) {
	case *stats.Begin:
		if s.IsTransparentRetryAttempt {
			f.sent.Store(false)
		}
	case *stats.OutPayload:
		f.sent.Store(true)
	}
}

func (sendObserver) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (sendObserver) HandleConn(context.Context, stats.ConnStats) {}
