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
// # Current state
//
// Served: Handshake, GetClientInfo (client_addr, server_time in ms) and
// MemberList (the public gRPC address of every member, in id order). Every
// other RPC (KvApi, KvReadV1, KvList, KvGetMany, Transaction,
// KvTransaction, Watch, Export, ExportV1, SnapshotKeysLayout,
// GetClusterStatus) answers codes.Unimplemented, from the generated
// UnimplementedMetaServiceServer, until its handler is written.
package databendapi
