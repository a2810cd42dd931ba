// Package api holds the protocol buffer definitions of metasrv and the Go
// code generated from them: metapb is the public API, peerpb the internal
// API between nodes on the raft port, databendpb Databend's public API
// (package meta), served beside metapb on the same port. Run `go generate
// ./api` after editing a .proto file (needs protoc, protoc-gen-go and
// protoc-gen-go-grpc; see the Makefile target `proto`).
package api

//go:generate protoc -I metapb --go_out=paths=source_relative:metapb --go-grpc_out=paths=source_relative:metapb metapb/meta.proto
//go:generate protoc -I metapb -I peerpb --go_out=paths=source_relative:peerpb --go-grpc_out=paths=source_relative:peerpb --go_opt=Mmeta.proto=github.com/metasrv/metasrv/api/metapb --go-grpc_opt=Mmeta.proto=github.com/metasrv/metasrv/api/metapb peerpb/peer.proto
//go:generate protoc -I . --go_out=paths=source_relative:. --go-grpc_out=paths=source_relative:. databendpb/flight_auth.proto databendpb/log_entry.proto databendpb/meta.proto databendpb/raft.proto databendpb/request.proto
