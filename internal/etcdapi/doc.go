// Package etcdapi serves etcd's v3 API (etcdserverpb, the generated types
// and service descriptors of go.etcd.io/etcd/api/v3) on the public gRPC
// port, beside the native metasrv.v1.Meta and Databend's
// meta.MetaService, over the same server and state (issue 13). Like the
// other faces it is thin: validate as etcd's v3rpc does, translate to the
// native requests (convert.go, txn.go), call Server, translate back, map
// errors in its one table (errors.go). The semantics (ranges, counts,
// sorting, revision filters, compares over ranges, delete ranges, nested
// transactions, ignore_value) live in internal/statemachine as native
// transaction features; internal/publicapi registers this face, with its
// authentication (ServerOptions, auth.go).
//
// # What is served (this step of issue 13)
//
//   - KV: Range (key, range_end with etcd's prefix and "\x00" rules,
//     limit, count, more, keys_only, count_only, serializable, sort,
//     min/max mod/create revision), Put (prev_kv, ignore_value, lease,
//     ignore_lease), DeleteRange (prev_kv), Txn (compares on VERSION,
//     CREATE, MOD, VALUE and LEASE with every result and range_end; Range, Put,
//     DeleteRange and nested Txn ops; etcd's --max-txn-ops 128 and
//     duplicate-key rule, checkIntervals), RangeStream (etcd 3.7's
//     streamed Range, rangestream.go: chunks of keys read at the first
//     chunk's revision, header, more and count on the last). Every
//     write, Put and DeleteRange included, is one native transaction
//     entry.
//   - Revisions: the store's (one per entry that changes keys; an empty
//     store is at 1) in every header. A Range at a past revision (and a
//     Txn's range op) is served from the state machine's history of
//     changes: below its compact revision it is etcd's ErrCompacted, a
//     later one than the store's ErrFutureRev. KV.Compact (physical
//     accepted: compaction is immediate) is a replicated command; the
//     history also drops changes by count and by time
//     (watch_history_size, watch_history_retention).
//   - Watch (watch.go): the bidirectional stream, many watchers on one
//     stream, each a native watcher of the server's machinery
//     (server.WatchGrouped: the same registration, history and hub as
//     the native Watch, its output grouped by revision). Create (start
//     revision, prev_kv, progress_notify, the NOPUT and NODELETE
//     filters, fragment, watch_id or one given from 0 up), cancel, and
//     the progress request (one response with watch id -1 once every
//     watcher of the stream delivered what the node applied, or after a
//     second, at the revision all reached). A Created response goes out
//     before the watcher's events; each response holds one revision's
//     events with etcd's create/mod revision and version (a delete: the
//     key and its revision). A start below the compact revision gets a
//     response with compact_revision and canceled; one beyond the
//     store's revision + 1, canceled with etcd's future-revision reason.
//     An interruption of the node's watches (a snapshot installed, a
//     watcher too slow, a stop) ends the stream with Unavailable: clientv3
//     resumes each watcher after what it received. With the metadata
//     hasleader (clientv3.WithRequireLeader) a stream is refused
//     (ErrGRPCNoLeader) when the node knows no leader, and ends so when
//     it knows none for three checks a second apart. A progress
//     notification comes after Config.ProgressNotifyInterval of silence
//     (watch_progress_notify_interval; 10 minutes by default, etcd's).
//     No message size check: a response over the gRPC limit fails the
//     stream (use fragment).
//   - Lease (lease.go): LeaseGrant (an id given, or the server's choice;
//     etcd's ErrGRPCLeaseExist and ErrGRPCLeaseTTLTooLarge; a TTL below
//     the server's minimum, 1.5 election timeouts, raised to it),
//     LeaseRevoke (every attached key deleted in one revision: one watch
//     response), LeaseKeepAlive (the stream, answered in order: the
//     granted TTL, 0 for an unknown lease), LeaseTimeToLive (the time
//     left truncated to seconds, the granted TTL, the keys when asked;
//     TTL -1 for an unknown lease), LeaseLeases. A Put with a lease (or
//     ignore_lease) and the LEASE compare are native transaction
//     features; KeyValue.lease is the key's. The leases are replicated
//     state machine objects, expired by the leader (internal/server's
//     lessor loop), which renews them in memory and logs a renewal before
//     the lease is due (internal/statemachine's doc says why).
//   - Cluster (cluster.go): MemberList (learners included; names
//     node-<id>, peer URLs the raft addresses, client URLs the public
//     gRPC addresses); MemberRemove is a leave (as --leave-id);
//     MemberPromote finishes the join of a learner (waits until it has
//     caught up, where etcd answers ErrLearnerNotReady). MemberAdd and
//     MemberUpdate answer Unimplemented saying what to do instead: a
//     node adds itself when started with join and its own
//     raft_config.id, and updates its own addresses when restarted with
//     new ones.
//   - Maintenance (maintenance.go): Status (version: the etcd API
//     module's, 3.7.3; db_size: the size of the state as a snapshot
//     holds it, computed again at most every second, or less often for a
//     state that takes longer to encode (server.DataSize); leader; raft
//     term, commit and applied index; is_learner);
//     Alarm (none: list and deactivate answer none, activate is
//     refused); Defragment (a no-op); Hash (the whole state's,
//     StateMachine.Hash); HashKV (the keys' at the current revision,
//     Snapshot.HashKV: equal on nodes at the same hash_revision; an older
//     revision is refused); MoveLeader (the leader's transfer; elsewhere
//     etcd's ErrNotLeader); Snapshot (the state machine snapshot of
//     internal/statemachine/doc.go, zero-padded to a multiple of 512
//     bytes, then the SHA-256 of all before it, as etcd's stream ends,
//     so that etcdctl snapshot save takes it).
//   - Auth (auth.go): Authenticate (metasrv's users, [auth]; a token
//     etcd's clients send in the metadata "token"; without [auth],
//     etcd's ErrAuthNotEnabled, which clientv3 takes as "no token") and
//     AuthStatus. With [auth], ServerOptions check every other call of
//     etcd's services: the metadata "token", else "authorization" as on
//     the native face; none is etcd's ErrUserEmpty, an invalid token
//     ErrInvalidAuthToken (clientv3 then authenticates again).
//
// Everything else answers codes.Unimplemented with a message (notserved.go):
// Maintenance's Downgrade does not apply; the rest of Auth
// (users, roles, enabling auth) says that users are configured in the
// config file.
//
// # Keys
//
// Keys are bytes on etcd's API and Go strings in metasrv, which hold any
// bytes: any non-empty key up to the key limit is stored, ranges and
// range_end compare bytes, and the raft log, snapshots and metasrv's dumps
// keep keys as they are. The native API sees every key (its string fields
// may hold bytes that are not UTF-8); Databend's API carries UTF-8 strings
// and leaves out the keys that are not UTF-8 (internal/databendapi).
//
// # Errors
//
// Errors that clientv3 maps by their text (rpctypes.Error) carry etcd's
// exact status: ErrGRPCKeyNotFound, ErrGRPCLeaseNotFound,
// ErrGRPCLeaseExist, ErrGRPCLeaseTTLTooLarge, ErrGRPCFutureRev, ErrGRPCCompacted,
// ErrGRPCNoLeader, ErrGRPCLeaderChanged, ErrGRPCStopped, ErrGRPCTimeout,
// and the validation errors etcd's v3rpc returns (ErrGRPCEmptyKey,
// ErrGRPCValueProvided, ErrGRPCLeaseProvided, ErrGRPCTooManyOps,
// ErrGRPCDuplicateKey, ErrGRPCInvalidSortOption, ErrGRPCRequestTooLarge),
// and those of the other services (ErrGRPCMemberNotFound,
// ErrGRPCMemberNotLearner, ErrGRPCNotLeader, ErrGRPCUserEmpty,
// ErrGRPCInvalidAuthToken, ErrGRPCAuthFailed, ErrGRPCAuthNotEnabled).
// The rest keep metasrv's message with a code (errorCodes).
package etcdapi
