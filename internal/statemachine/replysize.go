package statemachine

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
)

// A command carries the largest reply its proposer can send
// (peerpb.Command.max_reply_bytes, its grpc_api_max_message_size). An
// upsert or transaction whose reply would be larger is refused with
// ErrReplyTooLarge and changes nothing: the bound is in the entry, so
// every node decides the same, and a write is never applied and then lost
// in a reply that cannot be sent. 0 means no bound.

// seqVSize is proto.Size(v.seqV()) without copying the data.
func seqVSize(v kv) int {
	if !v.present() {
		return 0
	}
	m, d := v.parts()
	n := 0
	// Fields 1, 3, 4, 5 (seq, expire_at_ms, create_seq, version) and 2
	// (data) each take a one-byte tag; proto3 leaves out zero values.
	for _, x := range [...]uint64{m.seq, m.expireAt, m.createSeq, m.version} {
		if x != 0 {
			n += 1 + protowire.SizeVarint(x)
		}
	}
	if len(d) > 0 {
		n += 1 + protowire.SizeBytes(len(d))
	}
	return n
}

// upsertReplySize is proto.Size of the full UpsertReply of prev and result.
func upsertReplySize(prev, result kv, applied bool) int {
	n := 0
	for _, v := range [...]kv{prev, result} {
		if v.present() {
			n += 1 + protowire.SizeBytes(seqVSize(v))
		}
	}
	if applied {
		n += 2
	}
	return n
}

// checkUpsertReply refuses an upsert reply of size bytes over maxReply
// (0: no bound).
func checkUpsertReply(key string, size int, maxReply uint64) error {
	if maxReply == 0 || uint64(size) <= maxReply {
		return nil
	}
	return fmt.Errorf("%w: upsert of key %q: its reply (the previous and the new value) would be %d bytes, "+
		"over the %d-byte message limit of the node asked (grpc_api_max_message_size); nothing was applied: "+
		"the key holds a value stored under a larger limit: delete it first, or raise grpc_api_max_message_size",
		ErrReplyTooLarge, key, size, maxReply)
}

// checkTxnReply refuses a transaction reply over maxReply (0: no bound).
func checkTxnReply(reply *metapb.TxnReply, maxReply uint64) error {
	if maxReply == 0 {
		return nil
	}
	if n := proto.Size(reply); uint64(n) > maxReply {
		return fmt.Errorf("%w: the transaction's reply (the values its ops read, overwrite or delete) would be %d bytes, "+
			"over the %d-byte message limit of the node asked (grpc_api_max_message_size); nothing was applied: "+
			"read, overwrite or delete fewer large values in one transaction",
			ErrReplyTooLarge, n, maxReply)
	}
	return nil
}
