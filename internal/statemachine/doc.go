// Package statemachine is metasrv's deterministic key-value state: the log
// entry codec, Apply (upsert, transaction, expiry), the events of every
// change and a bounded history of them for watches that resume, the member
// table kept from conf changes, lock-free-for-the-caller reads, and the
// snapshot encoding.
//
// # Usage
//
// The apply goroutine (internal/server) owns all writes:
//
//	sm := statemachine.New(statemachine.WithHistorySize(n)) // or sm.Restore(snapshotReader)
//	for each committed entry e, in log order:
//	    switch {
//	    case e.Type == EntryConfChangeV2:
//	        err := sm.ApplyConfChange(e.Index, cc) // cc unmarshaled from e.Data
//	    case len(e.Data) == 0:
//	        sm.ApplyEmpty(e.Index)
//	    default:
//	        timeMs, cmd, err := statemachine.DecodeEntry(e.Data)
//	        res := sm.Apply(e.Index, timeMs, cmd) // res.Upsert, res.Txn or res.Err
//	        publish(res.Events)                   // to watchers, in seq order
//	    }
//
// Any goroutine may read at the same time: Get, MGet, List, Range,
// AppliedIndex, LastSeq, KeyCount, Nodes, Hash, View, Snapshot,
// EventsBetween. Reads pass the caller's wall clock (nowMs) so that keys
// past their expiry are hidden even before the next Apply removes them.
// List, Range, View and Snapshot work on an O(1) copy-on-write copy of the
// tree, and EventsBetween on a copy of the history, so no lock is held
// while a callback runs or while a snapshot is written.
//
// # Memory
//
// Each key is one immutable string holding the key, its seq, create_seq,
// version and expire_at_ms (uvarints) and its data (type kv), in a 24-byte
// slot of a copy-on-write B-tree: one allocation a key. The history, the
// expiry index, Views and Snapshots share these strings rather than copy
// them. 100k keys of 256 bytes take 325-340 bytes of Go heap a key
// (BenchmarkHeapPerKey): the string (288, its size class) and about two
// slots, as B-tree leaves are half to fully used.
//
// # Transactions
//
// A transaction (peerpb.Command body txn, metapb.TxnRequest) is one entry
// and applies atomically. ValidateTxn checks it first (limits MaxTxnOps,
// MaxTxnConditions, MaxTxnDepth, MaxTxnBytes (the gRPC edge checks a
// smaller byte limit with ValidateTxnBytes); empty keys; unknown enums);
// a failure rejects it with ErrInvalidTxn.
//
//   - Conditions compare a key's seq (0 when absent), its value bytewise
//     (false for every op when the key is absent) or the number of keys
//     with the key as prefix with the target, by EQ NE GT GE LT LE. They
//     are evaluated after the expiry sweep, so every stored key is live.
//   - condition form: all conditions hold (none: they hold) -> if_then,
//     path "then", success true; else else_then, path "else", success
//     false. branches form (at least one branch: an empty list is no
//     list on the wire): the first branch whose predicate holds runs,
//     path "branch:N", success true; none -> path "none", success false,
//     no ops. An unset predicate holds, an empty AND holds, an empty OR
//     does not.
//   - The ops of the branch that runs execute in order, each seeing the
//     effects of the earlier ones (a key put with an expiry already past
//     stays visible to later ops of the same transaction). Each changed key
//     takes the next seq, in op order. A match_seq mismatch skips that op
//     only (put: applied false, prev = current = the existing value;
//     delete: success false, which it also is for an absent key;
//     fetch_increase_u64: applied false, after = before).
//   - fetch_increase_u64 reads the value as a decimal u64 (empty or absent =
//     0; digits only, no sign or spaces) and writes max(value, max_value) +
//     delta, keeping the key's expiry. put_sequential increases the counter
//     at sequence_key by 1 (so it writes the counter first) and puts the
//     value at prefix + the new counter value zero-padded to 20 digits. A
//     counter that is not a decimal u64, or an overflow, rejects the whole
//     transaction with ErrInvalidTxn: the changes of its earlier ops are
//     undone (the change list is the undo log) and their seqs given back.
//
// # Reply bound
//
// A command carries the largest reply its proposer can send
// (peerpb.Command.max_reply_bytes: that node's grpc_api_max_message_size;
// 0 in entries written before it existed: no bound). An upsert whose reply
// (the previous and the new value) or a transaction whose reply (the
// values of its gets, puts, deletes and put_sequentials) would be larger
// is refused with ErrReplyTooLarge and rolled back like a failed
// transaction: no seq, no event. The size is that of the full reply
// whatever ApplyOptions say, so every node decides the same.
//
// # Events and history
//
// Every change takes one seq and makes one event (key, seq, prev value or
// unset if absent, current value or unset on delete). Result.Events lists
// an entry's events in seq order: first the expiry removals, then the
// command's; a rejected command keeps its expiry events. Conf changes and
// empty entries make none. The seqs of all events are therefore 1, 2, 3, ...
// without gaps.
//
// The most recent WithHistorySize (default DefaultHistorySize) events are
// kept in a ring. It is part of the replicated state: in the snapshot and
// in Hash (give every node the same size). EventsBetween(from, to) replays
// from it; when events with seq >= from were dropped (from < the floor =
// LastSeq - kept + 1) it returns ErrCompacted. The history, LastSeq and
// the keys change together under one lock: after a View (or LastSeq) at
// seq s, EventsBetween(s + 1, ...) misses nothing, and a caller that also
// takes the live Result.Events drops those with a seq it has already sent.
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
// Snapshot.WriteTo writes, and Restore reads, this stream (version 3).
// Version 2 is still read: it writes every present value of an event in
// full (flags 1 to 3 only). Version 1 is version 2 without the history
// section and is still read, with an empty history: EventsBetween is
// ErrCompacted up to its last seq. Fixed-width
// integers are big endian; uvarint is encoding/binary's unsigned varint,
// minimally encoded (a non-minimal one is corrupt), so a given state has
// exactly one encoding (a value written out where flag 4 or 8 should
// refer to it is corrupt too); "string" is a uvarint length then the
// bytes.
//
//	magic          8 bytes  "MSRVSNAP"
//	version        uint32   3
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
//	history_count  uint64   events in the history, <= last_seq
//	history_count times, ascending seq:
//	    key            string   non-empty, valid UTF-8
//	    seq            uvarint  last_seq - history_count + 1 for the first,
//	                            then +1 each (so the last is last_seq)
//	    flags          byte     1: prev present, 2: current present (at
//	                            least one), plus
//	                            4 (with 1): prev is the current value of
//	                              this key's latest earlier event, which
//	                              must have one: not written again;
//	                            8 (with 2): current is this key's record
//	                              above, whose seq must be the event seq:
//	                              not written again.
//	                            The encoder sets 4 and 8 whenever they hold
//	                            (as they do for every event but a key's
//	                            first prev and its earlier curs), so each
//	                            value is stored once.
//	    if prev and not 4: data string, seq uvarint (1 <= seq < event seq),
//	              create_seq uvarint (1 <= create_seq <= seq),
//	              version uvarint (>= 1), expire_at_ms uvarint
//	    if current and not 8 (its seq is the event seq): data string,
//	              create_seq uvarint (1 <= create_seq <= event seq),
//	              version uvarint (>= 1), expire_at_ms uvarint
//	crc32c         uint32   CRC-32C (Castagnoli) of every byte above
//
// Nothing may follow the checksum. Restore reads and verifies the whole
// stream (checksum, ordering, counts, seq bounds) before it changes
// anything; a history longer than the state machine's history size loses
// its oldest events. Its memory use grows with the bytes actually read, so a corrupt
// length cannot make it allocate more than the input holds (plus 1 MiB).
// Hash is the CRC-64 (ECMA) of this encoding with applied_index written as 0.
package statemachine
