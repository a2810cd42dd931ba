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
// whether it was applied before writing again. retry.go has the details.
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
package client
