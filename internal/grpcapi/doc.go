// Package grpcapi holds the thin gRPC handlers of metasrv: the public Meta
// service on grpc_api_address and the internal Peer service on the raft
// port. Each handler validates its request, calls a small interface (KV,
// Membership, RaftStreams; implemented by internal/server and
// internal/transport) and maps the error through the one table in errors.go.
//
// RegisterMeta, on a server made with DecodeErrorsOption, answers a request
// that does not decode with InvalidArgument rather than gRPC's Internal
// (malformed.go).
//
// Authentication of the public API (auth.go) is a pair of server
// interceptors, AuthServerOptions, in front of every handler but Handshake
// and the health service; Meta.Handshake issues the tokens. The raft port's
// raft_secret check is transport.SecretServerOptions.
//
// The public port also serves other faces (Databend's meta.MetaService,
// internal/databendapi): AuthServerOptions leaves their services to their
// own interceptors, built on the same CheckServerOptions, and their error
// tables are mapped by the same StatusOf.
package grpcapi
