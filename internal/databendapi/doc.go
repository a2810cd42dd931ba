// Package databendapi serves Databend's gRPC protocol, the service
// meta.MetaService (api/databendpb), beside the native metasrv.v1.Meta on
// the public gRPC port, so that databend-query, Databend's meta client and
// databend-metactl can use a metasrv cluster as they use databend-meta.
// Like internal/grpcapi, it is a face of thin handlers: decode, validate,
// call the Server interface, encode, map errors in its one table
// (errors.go). Semantics live in internal/server and internal/statemachine.
//
// # Handshake and tokens
//
// A Databend client opens each connection with Handshake: its version
// (protocol_version, major*1_000_000 + minor*1_000 + patch) and an
// encoded arrow.flight.protocol.BasicAuth{username, password}. A client
// older than MinClientVersion is refused with InvalidArgument naming both
// versions; the answer carries ServerVersion (see version.go for why that
// one) and a token, which the client sends with every later call as the
// binary metadata auth-token-bin (TokenKey).
//
// The tokens are internal/auth's HMAC tokens. With [auth] enabled, the
// node's Authenticator checks the user and password and every call but
// Handshake needs a token (TokenEveryCall). Without it, as databend-meta
// does, root gets a token whatever the password, other users are refused
// (NewOpenAuthenticator), and only the calls databend-meta checks need the
// token (TokenAsDatabend). ServerOptions are the interceptors that check
// it; they are built on grpcapi.CheckServerOptions, and the native face's
// grpcapi.AuthServerOptions leaves meta.MetaService to them.
//
// # What is served
//
// Every RPC of meta.MetaService. Each handler translates to the native
// server (Server) and back:
//
//   - KvApi and KvReadV1 read Databend's JSON (internal/databendjson);
//     a KvApi failure is a gRPC status, as in databend-meta. UpsertKV's
//     AsIs is the native upsert AS_IS.
//   - Transaction and KvTransaction become native branches, as
//     databend-meta reads them (txn.go). A ttl and an expire_at (in
//     Databend's seconds-or-milliseconds form; put_sequential's
//     expires_at_ms too) go on as written: the core applies them as
//     databend-meta does.
//   - Every value goes out with its stored KVMeta (expire_at as written,
//     proposed_at_ms), and without one when it has none (convert.go).
//   - Watch is the native watch (server.Watch), its markers dropped; its
//     response headers go out once the watcher is registered.
//   - Export and ExportV1 stream Databend's dump lines (data version
//     V004, internal/backup's DatabendLines) of a copy of the state taken
//     after a read barrier, 32 lines or chunk_size per chunk, as
//     databend-meta does; the dump is the applied state, without log
//     entries.
//   - SnapshotKeysLayout counts the keys of the same copy by directory
//     prefix, as databend-meta's count_prefix (keyslayout.go).
//   - Keys are UTF-8 strings on this API; a stored key that is not (etcd's
//     API takes any bytes) is left out of lists, watches and
//     SnapshotKeysLayout, and refused by an export (databendKey).
//   - A follower serves every call and names the leader (LeaderKey).
//
// CmdToNative (raftcmd.go) translates the commands of Databend's raft log
// (its JSON Cmd) through the same translations, so that a Databend log
// replays on the native state machine.
//
// Errors map through the one table of errors.go, with the codes
// Databend's client retries (Unavailable, Unauthenticated) for what
// another node or a later try may serve. internal/publicapi registers
// this face beside the native one.
package databendapi
