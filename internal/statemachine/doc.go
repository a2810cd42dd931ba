// Package statemachine is metasrv's deterministic key-value state: the log
// entry codec, Apply (upsert, transaction, expiry, etcd's leases), the events of every
// change and a bounded history of them for watches that resume, the member
// table kept from conf changes (with the log id of the last one), lock-free-for-the-caller reads, and the
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
//	        err := sm.ApplyConfChange(e.Index, e.Term, cc) // cc unmarshaled from e.Data
//	    case len(e.Data) == 0:
//	        sm.ApplyEmpty(e.Index)
//	    default:
//	        timeMs, cmd, err := statemachine.DecodeEntry(e.Data)
//	        res := sm.Apply(e.Index, timeMs, cmd) // res.Upsert, res.Txn or res.Err
//	        publish(res.Events)                   // to watchers, in revision order
//	    }
//
// Any goroutine may read at the same time: Get, MGet, List, Range,
// AppliedIndex, LastSeq, Revision, KeyCount, Nodes, Membership, Hash, View, Snapshot,
// EventsBetween. Reads pass the caller's wall clock (nowMs) so that keys
// past their expiry are hidden even before the next Apply removes them.
// List, Range, View and Snapshot work on an O(1) copy-on-write copy of the
// tree, and EventsBetween on a copy of the history, so no lock is held
// while a callback runs or while a snapshot is written.
//
// # Memory
//
// Each key is one immutable string holding the key, its seq, create_seq,
// version, create and mod revision (uvarints), its KVMeta (a flags byte,
// the expiry and proposed_at_ms) and its data (type kv), in a 24-byte
// slot of a copy-on-write B-tree: one allocation a key. The history, the
// expiry index, Views and Snapshots share these strings rather than copy
// them. 100k keys of 256 bytes take 325-340 bytes of Go heap a key
// (BenchmarkHeapPerKey): the string (288, its size class) and about two
// slots, as B-tree leaves are half to fully used.
//
// # Seqs, revisions and KVMeta (databend-meta's rules)
//
//   - seq: one global counter, LastSeq (databend-meta's Sequences
//     generic-kv: the last seq handed out). Only a put takes the next one:
//     an upsert with UPDATE, an upsert with AS_IS (the key's value with a
//     new meta; nothing for an absent key), a transaction put,
//     fetch_increase_u64 and put_sequential. A delete (upsert DELETE,
//     transaction delete, delete_by_prefix) and the removal of an expired
//     key take none (databend-meta: "just use the max seq for all
//     tombstone"). An absent key reads as seq 0.
//   - revision: one per applied entry that changes a key, shared by all
//     its changes (etcd's revision); an entry that changes none takes none.
//     An empty store is at FirstRevision (1), so the first change is 2.
//     Every value records create_revision (the entry that created the key
//     since its last delete) and mod_revision (its last put) beside
//     create_seq and version (puts since created).
//   - KVMeta: every put stores databend-meta's KVMeta: proposed_at_ms =
//     the entry's time (the leader's proposal time) and the expiry: the
//     entry's time + ttl_ms when ttl_ms is set (it wins, as in
//     databend-meta), else expire_at_ms, else expire_at in databend-meta's
//     form (seconds when <= 100_000_000_000, else milliseconds; kept in the
//     form written, so that it is exported as written). A value restored
//     from a snapshot may have no KVMeta at all (data imported from
//     databend-meta written without one: exported as "meta":null) or lack
//     either field. A time up to 100_000_000_000 ms (before 1973-03-03)
//     given in milliseconds stays milliseconds here, where databend-meta
//     would read it back as seconds.
//   - Expiry: a value expires once the time is past its expiry (not at
//     it). A put whose expiry is already past at its entry's time takes
//     its seq and is then deleted at once (databend-meta keeps this for
//     compatibility with its older state machine): no value, a delete
//     event if the key existed.
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
//     effects of the earlier ones. Each put takes the next seq, in op
//     order. A match_seq mismatch skips that op only (put: applied false,
//     prev = current = the existing value; delete: success false, which it
//     also is for an absent key; fetch_increase_u64: applied false, after =
//     before).
//   - etcd's operations, native here (the etcd face only translates):
//     a condition may compare version, create_revision or mod_revision
//     (0 for an absent key), and with range_end every key in [key,
//     range_end) ("\x00": every key >= key): it holds when it holds for
//     each key, and an empty range compares as an absent key (a value
//     condition never holds). A range op (TxnRange, also a read:
//     RangeKeys) counts the keys in range, drops those outside the
//     min/max mod/create revision filters, sorts as etcd (a target other
//     than KEY without an order ascends; ties stay in key order), then
//     keeps limit (more: it dropped some); it sees the ops before it. A
//     past revision is read from the history (the ops before it not
//     seen; no key hidden as expired), a later one is
//     ErrFutureRevision, one below the compact revision ErrCompacted. A delete_range deletes
//     every key in range in key order and returns the deleted values
//     when asked. A put with ignore_value keeps the key's data; an absent
//     key fails the transaction with ErrKeyNotFound. A nested txn
//     (condition form only, within MaxTxnDepth) is decided, with the
//     transactions nested in the ops it will run, before any op of the
//     outer transaction runs (etcd's compareToPath); its ops run in
//     place. An error of an op (ErrKeyNotFound, ErrFutureRevision,
//     ErrCompacted) fails the transaction, wrapped in ErrInvalidTxn, and
//     nothing applies. TxnReply.revision is the store's revision after
//     the entry.
//   - fetch_increase_u64 reads the value as databend-meta does: a JSON
//     number that is a u64 (JSON white space around it; anything else,
//     empty and absent read as 0), and writes max(value, max_value) +
//     delta (a signed delta, saturating at 0 and 2^64-1) as a JSON number,
//     with a meta of its own (the key's expiry is not kept).
//     put_sequential increases the counter at sequence_key by 1 and puts
//     the value at prefix + the counter's value before the increase, in
//     databend-meta's format (SequentialKey: 21 digits in groups of 3,
//     000_000_000_000_000_000_007).
//
// # Leases (etcd's)
//
// A lease is replicated state: its id (an int64, never 0, chosen by the
// proposer), the TTL it was granted (seconds, 1..MaxLeaseTTL; the
// proposer raises a smaller one to its minimum) and its expiry, in the
// entries' clock (the leader's), with the keys attached to it (an index
// rebuilt from the keys' meta). peerpb's lease commands:
//
//   - LeaseGrantRequest: the lease expires at the entry's time + TTL;
//     an existing id is ErrLeaseExists, a TTL over the bound
//     ErrLeaseTTLTooLarge.
//   - A transaction put with lease attaches the key (a lease that does
//     not exist fails the transaction: ErrLeaseNotFound); a put without
//     one detaches it, ignore_lease keeps the key's (the key must exist:
//     ErrKeyNotFound), an upsert AS_IS keeps it too. A condition may
//     compare a key's lease (0: none or absent).
//   - LeaseRevokeRequest: every attached key is deleted, in key order,
//     in the entry's one revision; the lease is gone.
//   - LeaseKeepAliveRequest: the lease expires at the entry's time + its
//     TTL. The leader answers keep-alives from memory, as etcd's does,
//     and proposes one of these when a lease it renewed comes within half
//     its TTL of its replicated expiry (internal/server, renewals); a
//     follower forwards its clients' keep-alives to the leader, and
//     proposes one of these only when the leader does not answer. So
//     every node holds the same expiry, the snapshot and Hash cover it,
//     and a new leader needs nothing but the log to know when each lease
//     is due, while a lease kept alive costs about two small entries a
//     TTL, not one a keep-alive (clientv3 sends one every TTL/3). The
//     replicated expiry may be up to half a TTL before the leader's
//     promise: a follower's linearizable TimeToLive asks the leader.
//   - LeaseExtendRequest: a new leader's first lease entry (etcd's
//     lessor Promote): every lease expires no earlier than the entry's
//     time + its TTL, so no lease is lost to the time without a leader.
//   - ExpireRequest: the leader proposes it when an expiry is due. Like
//     every entry it first sweeps the keys past their expiry; then it
//     revokes every lease whose expiry is at or before the entry's time,
//     in (expiry, id) order, all in the entry's one revision.
//
// Only ExpireRequest and LeaseRevokeRequest end a lease, never the sweep
// of an ordinary entry: a new leader whose clock is past a lease's old
// expiry extends it before it proposes an expire (internal/server), so
// the time without a leader does not count against a lease. Until then
// a lease past its expiry still holds its keys, and a keep-alive renews
// it.
//
// # Reply bound
//
// A command carries the largest reply its proposer can send
// (peerpb.Command.max_reply_bytes: that node's grpc_api_max_message_size;
// 0 in entries written before it existed: no bound). An upsert whose reply
// (the previous and the new value) or a transaction whose reply (the
// values of its gets, puts, deletes and put_sequentials) would be larger
// is refused with ErrReplyTooLarge and rolled back: the change list is
// the undo log, the seqs taken are given back, no event. The size is that
// of the full reply whatever ApplyOptions say, so every node decides the
// same.
//
// # Events and history
//
// Every change makes one event (key, revision, the key's seq after it,
// prev value or unset if absent, current value or unset on delete).
// Result.Events lists an entry's events in the order made, all with its
// revision: first the expiry removals, then the command's; a rejected
// command keeps its expiry events. Conf changes and empty entries make
// none.
//
// The most recent WithHistorySize (default DefaultHistorySize) events are
// kept in a ring, with the largest revision some of whose events were
// dropped (compacted; dropping one event of a revision drops the others
// with it). At the end of every entry, the events older than
// WithHistoryRetention (default DefaultHistoryRetention, 10 minutes) by
// the largest entry time are dropped too, and a compact command
// (peerpb.CompactRequest, etcd's KV.Compact: ErrFutureRevision beyond
// the revision, a CompactedError at or below the compact revision once
// anything was dropped) drops the events below its revision. etcd's
// compact revision (CompactRevision, CompactedError) is compacted + 1:
// the oldest revision a RangeKeys or a watch may ask for. RangeKeys at a
// past revision undoes the changes after it on an O(1) copy of the tree. It is part of the replicated state: in the snapshot and in
// Hash (give every node the same size). EventsBetween(from, to) replays
// the revisions from..to from it; from <= compacted is ErrCompacted. The
// history, Revision and the keys change together under one lock: after a
// View (or Revision) at revision r, EventsBetween(r + 1, ...) misses
// nothing, and a caller that also takes the live Result.Events drops those
// at a revision it has already sent.
//
// # Determinism
//
// Apply reads no clock, no randomness and does no I/O: the same log gives
// the same state, the same results, seqs and revisions on every node.
//
//   - Time comes only from the entry header (the leader's clock): a
//     command runs at its entry's time, as in databend-meta (ttl,
//     proposed_at_ms, the expiry of the sweep), even when an earlier entry
//     had a later one. NowMs is the largest entry time seen.
//   - At the start of every Apply, each key whose expiry is before the
//     entry's time is removed, in (expiry, seq) order (databend-meta's
//     expiry index order). Empty entries, and entries of time 0, sweep
//     nothing.
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
// Snapshot.WriteTo writes, and Restore reads, this stream (version 7; no
// other version is read: metasrv has no release that wrote another;
// version 6 added each history event's time, version 7 the leases).
// Fixed-width integers are big endian; uvarint is encoding/binary's
// unsigned varint, minimally encoded (a non-minimal one is corrupt), so a
// given state has exactly one encoding (a value written out where flag 4
// or 8 should refer to it is corrupt too); "string" is a uvarint length
// then the bytes. A "value" is:
//
//	seq            uvarint  1 <= seq <= last_seq
//	create_seq     uvarint  1 <= create_seq <= seq
//	version        uvarint  >= 1
//	create_rev     uvarint  1 <= create_rev <= mod_rev
//	mod_rev        uvarint  <= revision
//	meta_flags     byte     1: has a KVMeta; 2: KVMeta.expire_at (with 1);
//	                        4: expire_at written in seconds (with 2; the
//	                          expiry is then a multiple of 1000, at most
//	                          100_000_000_000_000); 8: KVMeta.proposed_at_ms
//	                          (with 1); 16: attached to a lease
//	expire_at_ms   uvarint  if flag 2: the expiry in Unix ms
//	proposed_at_ms uvarint  if flag 8
//	lease          uvarint  if flag 16: the lease id's int64 bits, not 0;
//	                        a key record's lease is in the lease table
//	data           string
//
// The stream:
//
//	magic          8 bytes  "MSRVSNAP"
//	version        uint32   7
//	applied_index  uint64
//	last_seq       uint64
//	revision       uint64   >= 1
//	now_ms         uint64   the largest entry time applied
//	membership     uint64   index, then uint64 term, of the conf change
//	               entry applied last (databend-meta's LastMembership):
//	               index <= applied_index; both 0 when none was
//	node_count     uint32
//	node_count times, ascending id:
//	    id             uint64
//	    voter          byte     0 or 1
//	    raft_address   string   valid UTF-8, as grpc_address
//	    grpc_address   string
//	lease_count    uint64
//	lease_count times, ascending id (as int64):
//	    id             uint64   the int64's bits, not 0
//	    ttl            uvarint  seconds, 1..MaxLeaseTTL
//	    expire_at_ms   uvarint
//	per key, ascending key (strictly, bytewise; no empty key):
//	    tag            byte     1
//	    key            string
//	    value
//	end tag        byte     0
//	record_count   uint64   the number of key records
//	compacted      uint64   <= revision: the history holds every event
//	                        above it and none at or below it
//	history_count  uint64
//	history_count times, in the order made (revisions ascending, each
//	above compacted, the last one = revision):
//	    key            string   non-empty, any bytes
//	    revision       uvarint
//	    time_ms        uvarint  its entry's time (<= now_ms; the same for
//	                            every event of a revision)
//	    flags          byte     1: prev present, 2: current present (at
//	                            least one), plus
//	                            4 (with 1): prev is the current value of
//	                              this key's latest earlier event, which
//	                              must have one: not written again;
//	                            8 (with 2): current is this key's record
//	                              above, whose mod_rev must be the event's
//	                              revision: not written again.
//	                            The encoder sets 4 and 8 whenever they hold,
//	                            so each value is stored once.
//	    if prev and not 4: value (mod_rev <= the event's revision)
//	    if current and not 8: value (mod_rev = the event's revision)
//	crc32c         uint32   CRC-32C (Castagnoli) of every byte above
//
// SnapshotWriter writes this stream from records given one by one (an
// import), with an empty history compacted at its revision.
// Nothing may follow the checksum. Restore reads and verifies the whole
// stream (checksum, ordering, counts, seq bounds) before it changes
// anything; a history longer than the state machine's history size loses
// its oldest events. Its memory use grows with the bytes actually read, so a corrupt
// length cannot make it allocate more than the input holds (plus 1 MiB).
// Hash is the CRC-64 (ECMA) of this encoding with applied_index written as 0.
package statemachine
