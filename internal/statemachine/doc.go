// Package statemachine is metasrv's deterministic key-value state: the log
// entry codec, Apply (upsert, expiry), the member table kept from conf
// changes, lock-free-for-the-caller reads, and the snapshot encoding.
//
// # Usage
//
// The apply goroutine (internal/server) owns all writes:
//
//	sm := statemachine.New()          // or sm.Restore(snapshotReader)
//	for each committed entry e, in log order:
//	    switch {
//	    case e.Type == EntryConfChangeV2:
//	        err := sm.ApplyConfChange(e.Index, cc) // cc unmarshaled from e.Data
//	    case len(e.Data) == 0:
//	        sm.ApplyEmpty(e.Index)
//	    default:
//	        timeMs, cmd, err := statemachine.DecodeEntry(e.Data)
//	        res := sm.Apply(e.Index, timeMs, cmd) // res.Upsert or res.Err
//	    }
//
// Any goroutine may read at the same time: Get, MGet, List, AppliedIndex,
// LastSeq, KeyCount, Nodes, Hash, Snapshot. Reads pass the caller's wall
// clock (nowMs) so that keys past their expiry are hidden even before the
// next Apply removes them. List and Snapshot work on an O(1) copy-on-write
// copy of the tree, so no lock is held while a List callback runs or while
// a snapshot is written.
//
// # Determinism
//
// Apply reads no clock, no randomness and does no I/O: the same log gives
// the same state, the same results and the same seq numbers on every node.
//
//   - Time comes only from the entry header (the leader's clock). The state
//     machine's clock is max(previous clock, entry time): it never goes
//     back, even when the leader changes.
//   - At the start of every Apply, each key with 0 < expire_at_ms <= clock is
//     removed, in (expire_at_ms, key) order, each removal taking the next
//     seq. Empty entries carry no time and sweep nothing.
//   - One global sequence number: every update, every delete of a present
//     key and every expiry removal takes the next one. A delete of an absent
//     key, a match_seq mismatch and a rejected command take none.
//   - ttl_ms is relative to the state machine's clock at that entry (the
//     entry time unless the leader's clock went back); expire_at_ms is used
//     as given, even if already past (the key is then invisible to reads and
//     removed by the next Apply).
//   - Iteration is in key order; no map iteration reaches the state.
//
// # Log entry format
//
// A normal entry's data (EncodeEntry, DecodeEntry, Restamp):
//
//	byte 0      format version, 1
//	bytes 1..8  time_ms, uint64 big endian: leader's wall clock, Unix ms
//	bytes 9..   peerpb.Command, protobuf (deterministic marshaling)
//
// Empty entries (the leader's no-op after election) have no data.
// ConfChangeV2 entries carry a peerpb.ConfChangeContext in Context.
//
// # Snapshot format
//
// Snapshot.WriteTo writes, and Restore reads, this stream. Fixed-width
// integers are big endian; uvarint is encoding/binary's unsigned varint,
// minimally encoded (a non-minimal one is corrupt), so a given state has
// exactly one encoding; "string" is a uvarint length then the bytes.
//
//	magic          8 bytes  "MSRVSNAP"
//	version        uint32   1
//	applied_index  uint64
//	last_seq       uint64
//	now_ms         uint64   the state machine's clock
//	node_count     uint32
//	node_count times, ascending id:
//	    id             uint64
//	    voter          byte     0 or 1
//	    raft_address   string   valid UTF-8, as grpc_address
//	    grpc_address   string
//	per key, ascending key (strictly, no empty key, valid UTF-8):
//	    tag            byte     1
//	    key            string
//	    data           string
//	    seq            uvarint  1 <= seq <= last_seq
//	    create_seq     uvarint  1 <= create_seq <= seq
//	    version        uvarint  >= 1
//	    expire_at_ms   uvarint  0 = never
//	end tag        byte     0
//	record_count   uint64   the number of key records
//	crc32c         uint32   CRC-32C (Castagnoli) of every byte above
//
// Nothing may follow the checksum. Restore reads and verifies the whole
// stream (checksum, ordering, counts, seq bounds) before it changes
// anything. Its memory use grows with the bytes actually read, so a corrupt
// length cannot make it allocate more than the input holds (plus 1 MiB).
// Hash is the CRC-64 (ECMA) of this encoding with applied_index written as 0.
package statemachine
