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
//     min/max mod/create revision), Put (prev_kv, ignore_value,
//     ignore_lease), DeleteRange (prev_kv), Txn (compares on VERSION,
//     CREATE, MOD and VALUE with every result and range_end; Range, Put,
//     DeleteRange and nested Txn ops; etcd's --max-txn-ops 128 and
//     duplicate-key rule, checkIntervals). Every write, Put and
//     DeleteRange included, is one native transaction entry.
//   - Revisions: the store's (one per entry that changes keys; an empty
//     store is at 1) in every header. A Range at a revision is served
//     only at the current one: a later one is etcd's ErrFutureRev, an
//     earlier one ErrCompacted, until the history of past revisions of
//     issue 13 lands.
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
//     holds it; leader; raft term, commit and applied index; is_learner);
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
// KV's Compact and RangeStream and Watch and Lease name the part of issue
// 13 that will serve them (a Put with a lease and a LEASE compare are
// refused alike, Unimplemented); Maintenance's Downgrade does not apply;
// the rest of Auth (users, roles, enabling auth) says that users are
// configured in the config file.
//
// # Keys
//
// Keys are bytes on etcd's API and UTF-8 strings in metasrv (the native
// and Databend APIs carry them as protobuf strings, and snapshots and
// dumps hold UTF-8). A key, range start or compare key that is not valid
// UTF-8 is refused (InvalidArgument); a range_end may be any bytes. So
// every stored key is seen by every API.
//
// # Errors
//
// Errors that clientv3 maps by their text (rpctypes.Error) carry etcd's
// exact status: ErrGRPCKeyNotFound, ErrGRPCFutureRev, ErrGRPCCompacted,
// ErrGRPCNoLeader, ErrGRPCLeaderChanged, ErrGRPCStopped, ErrGRPCTimeout,
// and the validation errors etcd's v3rpc returns (ErrGRPCEmptyKey,
// ErrGRPCValueProvided, ErrGRPCLeaseProvided, ErrGRPCTooManyOps,
// ErrGRPCDuplicateKey, ErrGRPCInvalidSortOption, ErrGRPCRequestTooLarge),
// and those of the other services (ErrGRPCMemberNotFound,
// ErrGRPCMemberNotLearner, ErrGRPCNotLeader, ErrGRPCUserEmpty,
// ErrGRPCInvalidAuthToken, ErrGRPCAuthFailed, ErrGRPCAuthNotEnabled).
// The rest keep metasrv's message with a code (errorCodes).
package etcdapi
