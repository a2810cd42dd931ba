// Package client is the Go client of metasrv, the Databend meta service: a
// Raft-replicated key-value store in which every put stamps the key with
// the next value of one global sequence number (seq; a delete takes none,
// as in databend-meta), and every write that changes keys takes the next
// revision.
//
// # Usage
//
//	cli, err := client.New(client.Config{
//		Endpoints: []string{"10.0.0.1:9191", "10.0.0.2:9191", "10.0.0.3:9191"},
//	})
//	if err != nil {
//		return err
//	}
//	defer cli.Close()
//
//	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
//	defer cancel()
//
//	// Create the key only if it is absent.
//	res, err := cli.Upsert(ctx, client.Upsert{Key: "tenant/a", Value: []byte("v1"), Match: client.Exact(0)})
//	if err != nil {
//		return err
//	}
//	if !res.Applied {
//		// someone else created it first; res.Result holds their value
//	}
//
//	kv, err := cli.Get(ctx, "tenant/a") // kv.Seq == 0: absent
//	kvs, err := cli.List(ctx, "tenant/", 0)
//
//	// Compare-and-swap on the seq read before.
//	res, err = cli.Upsert(ctx, client.Upsert{Key: "tenant/a", Value: []byte("v2"), Match: client.Exact(kv.Seq)})
//
//	// A lease: the key disappears 30s after the write.
//	_, err = cli.Upsert(ctx, client.Upsert{Key: "lock/x", Value: []byte("me"), TTL: 30 * time.Second})
//
// # Transactions
//
// Txn runs conditions and ops as one atomic raft entry. TxnBuilder makes the
// request:
//
//	req, err := client.NewTxn().
//		If(client.Seq("k").Eq(kv.Seq)).
//		Then(client.OpPut("k", v), client.OpDelete("k.tmp")).
//		Else(client.OpGet("k")).
//		Build()
//	reply, err := cli.Txn(ctx, req) // reply.ExecutionPath: "then" or "else"
//
// Conditions compare a key's seq (Seq), its value (Value) or the number of
// keys with a prefix (KeysWithPrefix) with Eq, Ne, Gt, Ge, Lt or Le. Ops are
// OpGet, OpPut, OpDelete, OpDeleteByPrefix, OpFetchIncreaseU64 and
// OpPutSequential. Instead of If/Then/Else, Branch adds ordered branches
// whose predicates (And/Or trees of conditions) select the first to run.
//
// # Watches
//
// Watch delivers the changes of a key, a range or a prefix, in revision order,
// optionally after the current values (InitialFlush); it resumes by itself
// across disconnects, node failures and slow-reader cut-offs, with no event
// lost or repeated:
//
//	w, err := cli.Watch(ctx, client.WatchOptions{Prefix: "cfg/", InitialFlush: true})
//	defer w.Close()
//	for {
//		ev, err := w.Next()
//		if err != nil {
//			return err // ctx ended, ErrCompacted (re-list), ...
//		}
//		// ev.Initialization, ev.FlushDone, ev.Key, ev.Prev, ev.Current
//	}
//
// # Endpoints, failover and retries
//
// Requests go to one endpoint at a time. When it is down (the connection
// cannot be made within Config.DialTimeout, or a call fails with
// codes.Unavailable), the client moves to the next endpoint and retries,
// cycling the list with a short backoff until the context's deadline. Give
// every call a deadline: without one a call gives up after ten rounds over
// the endpoints. Config.OnRetry hears of each endpoint found down, so that
// a program waiting for a cluster can say what it waits for.
//
// Reads (Get, MGet, List, MemberList, a Txn of gets only) are always
// retried. Writes (Upsert, Txn) are retried only when that cannot apply them
// twice: when the request provably never left this process, when the server
// said it never proposed it (the NotProposedTrailer trailer), or when the
// Upsert uses Match Exact (a duplicate fails its seq check; see
// UpsertResult.Retried). Any other write that fails after it was sent
// returns an error wrapping ErrMaybeApplied: read the key to find out
// whether it was applied before writing again. "Retry rules" below has
// the details.
// Watches have their own rules: see Client.Watch and watch.go.
//
// Writes go to the leader. Any node accepts a write, but a follower
// forwards it to the leader and answers once the commit came back: two
// network hops more. A follower names the leader's grpc_api_address in its
// answer to a write (the gRPC trailer LeaderTrailer, "metasrv-leader"), and
// the client sends its next writes (Upsert, Txn) there, even when that
// address is not one of Config.Endpoints, with the same TLS and
// credentials. When the leader fails the way an endpoint does (see above),
// the client forgets it and goes on with the endpoints until a follower
// names the next one; the retry rules for writes are the same wherever a
// write is sent. Reads, watches, MemberList, Status and Export go to the
// endpoints. Config.DisableLeaderWrites turns this off, e.g. when the
// nodes' advertised addresses cannot be reached from the client. leader.go
// has the details.
//
// Status asks one given endpoint and never fails over; use it to inspect a
// particular node.
//
// # TLS and authentication
//
// Config.TLS connects over TLS (LoadTLS reads the CA and an optional client
// certificate from PEM files). For nodes with auth enabled, give
// Config.User and Config.Password: the client calls Handshake on each
// endpoint for a token, sends it with every call and renews it by itself,
// before it expires and whenever a node refuses it (auth.go). A token from
// elsewhere goes in Config.Token. Without valid credentials calls fail with
// codes.Unauthenticated, at once: they are not retried on other endpoints.
//
//	cfg, err := client.LoadTLS("ca.pem", "", "")
//	cli, err := client.New(client.Config{Endpoints: eps, TLS: cfg, User: "root", Password: pw})
//
// # Errors
//
// Errors name the operation and the endpoint and wrap the cause: test them
// with errors.Is against the sentinels in this package (ErrUnavailable,
// ErrMaybeApplied, ...) and context.DeadlineExceeded; status.Code(err) gives
// the gRPC code a server returned.
//
// # Retry rules
//
// A request goes to the current endpoint. When that endpoint turns out to be
// down, the client moves the current endpoint to the next one in the list and
// tries again, cycling the list, until the call succeeds, fails for another
// reason, or the caller's context ends. After each full round over the list
// it sleeps a short, growing backoff (50ms doubling to 1s, with jitter). A
// call whose context has no deadline gives up after 10 (maxRoundsNoDeadline)
// rounds with ErrUnavailable.
//
// "Down" means one of:
//   - the connection did not become ready within Config.DialTimeout
//     (a silent host, a slow handshake);
//   - the RPC failed with codes.Unavailable. gRPC uses it for a refused or
//     broken connection, and a server uses it when it cannot serve now
//     (no leader, shutting down).
//
// Config.OnRetry is told of each attempt that found its endpoint down, so
// that a caller can say what it waits for.
//
// Every other error (InvalidArgument, FailedPrecondition, ...) is returned as
// is: another endpoint would answer the same. So is codes.DeadlineExceeded
// from a server: the server gives up at the caller's deadline (gRPC
// propagates it), a moment before the caller's context ends, or at its own
// default timeout for a call without one; either way the time is spent. The
// error then wraps context.DeadlineExceeded and keeps the server's message.
//
// Reads are always retried: a read has no effect (a Txn whose every op is a
// get is a read). Writes (Upsert, Txn) are retried only when a second attempt
// cannot apply the write twice:
//
//  1. Upsert with Match Exact(n): if an earlier attempt applied, the key's seq
//     is no longer n and the retry fails its seq check (Applied=false,
//     UpsertResult.Retried=true). An Exact(0) delete of an absent key does
//     nothing either way. A Txn gets no such exception: its conditions may
//     send a second attempt down another branch.
//
//  2. A write the server says it never proposed. A server that fails an
//     Upsert or a Txn knowing that the write never entered the raft log (no
//     leader, the node is shutting down, the proposal was refused before it
//     was appended) sets the trailer NotProposedTrailer ("metasrv-not-
//     proposed: 1"). The write then counts as not sent: it is retried on the
//     next endpoint exactly when a read would be (the error is
//     codes.Unavailable), and its error never wraps ErrMaybeApplied. The
//     trailer is read by trailerInterceptor, a unary client interceptor
//     that asks gRPC for the trailer of the call (grpc.Trailer, which holds
//     the trailer of the attempt whose result the call returns) and records
//     it in the call's sendFlag. A trailer is only believed on an error: a
//     reply is a reply.
//
//  3. Any write whose request message never left this process. gRPC's
//     codes.Unavailable alone does not tell us that: it is returned both when
//     the channel had no ready connection (nothing sent) and when the
//     connection broke after the request was sent (the server may have
//     applied it), and by a server that received the request. Checking the
//     channel state before the call would race with the connection breaking.
//     So the client watches the request itself: sendObserver, a gRPC
//     stats.Handler, sees *stats.OutPayload, which gRPC emits right after the
//     request message was handed to the HTTP/2 transport
//     (csAttempt.sendMsg: transportStream.Write succeeded). A failed pick (no
//     ready connection), a failed stream creation, or a failed Write emit
//     none. A gRPC server reads the whole request message before it runs a
//     unary handler, so without OutPayload the server cannot have applied
//     the write. With OutPayload the outcome is unknown and the client
//     returns the error wrapped in ErrMaybeApplied.
//
//     gRPC's own retries are disabled (grpc.WithDisableRetry), so one RPC
//     makes a second attempt only as a transparent retry, which gRPC does
//     only when the first attempt created no stream or the server reported
//     the stream as not processed (REFUSED_STREAM, or above the GOAWAY
//     last-stream-id, as when a node shuts down gracefully): the first attempt
//     cannot have applied. sendObserver therefore clears the flag when a
//     transparent retry attempt begins (stats.Begin.IsTransparentRetryAttempt)
//     and only the last attempt counts.
//
// A call that proposes (Upsert, Txn) goes to the leader the client learnt
// from a follower's answer instead of the current endpoint, when it knows
// one (leader.go); a failure there that would move a call to the next
// endpoint forgets the leader and goes on with the current endpoint.
//
// Waiting for the connection is bounded by DialTimeout: gRPC by itself would
// keep a fail-fast RPC waiting while the channel is CONNECTING, which for a
// host that drops packets lasts until the caller's deadline. A channel in
// TRANSIENT_FAILURE is not waited on; the RPC fails fast with gRPC's
// connection error (e.g. "connection refused"), which names the cause. gRPC
// keeps reconnecting such a channel in the background (backoff up to 2s), so
// a node that comes back is used again on a later round.
package client
