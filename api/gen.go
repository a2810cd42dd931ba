// Package api holds the protocol buffer definitions of metasrv and the Go
// code generated from them: metapb is the public API, peerpb the internal
// API between nodes on the raft port, databendpb Databend's public API
// (package meta), served beside metapb on the same port. Run `go generate
// ./api` (or `make proto`) after editing a .proto file.
//
// metapb and peerpb are protobuf edition 2023 (string fields hold any
// bytes: keys are bytes on etcd's API), which protoc 3.21 cannot compile:
// buf compiles them (buf.yaml, buf.gen.yaml beside this file) and runs the
// Go plugins. databendpb is proto3, compiled by protoc. The committed code
// was made by buf v1.75.0, protoc 3.21.12 (Debian's protobuf-compiler),
// protoc-gen-go v1.36.12 (the google.golang.org/protobuf of go.mod) and
// protoc-gen-go-grpc v1.6.2 (for grpc v1.85.0), installed with
//
//	go install github.com/bufbuild/buf/cmd/buf@v1.75.0
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//	go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
//	apt-get install protobuf-compiler
//
// and found on PATH (buf runs the plugins from PATH too).
package api

//go:generate buf generate
//go:generate protoc -I . --go_out=paths=source_relative:. --go-grpc_out=paths=source_relative:. databendpb/flight_auth.proto databendpb/log_entry.proto databendpb/meta.proto databendpb/raft.proto databendpb/request.proto
