package statemachine

import "errors"

// Errors of the package. Each returned error wraps exactly one of these; test
// with errors.Is. The messages of the wrapping errors say what was wrong.
var (
	// ErrInvalidEntry: log entry data too short for the header, or the
	// command after the header is not a valid peerpb.Command. Every node
	// sees the same bytes, so skipping such an entry is deterministic.
	ErrInvalidEntry = errors.New("statemachine: invalid log entry")

	// ErrUnknownEntryVersion: the entry header has a format version this
	// binary does not know; it was written by a newer metasrv. The node must
	// stop (and be upgraded): skipping the entry would diverge from nodes
	// that understand it.
	ErrUnknownEntryVersion = errors.New("statemachine: unknown log entry version")

	// ErrEmptyCommand: the command has no body, or a body this binary does
	// not know (a newer command type decodes as no body). Deterministic
	// rejection; nothing changes.
	ErrEmptyCommand = errors.New("statemachine: command has no body")

	// ErrInvalidUpsert: the upsert request is malformed (empty key, unknown
	// op or match_seq kind, ttl_ms and expire_at_ms both set).
	// Deterministic rejection; nothing changes.
	ErrInvalidUpsert = errors.New("statemachine: invalid upsert request")

	// ErrInvalidTxn: the transaction is malformed (see ValidateTxn: an
	// empty key, an unknown op or combiner, a condition without a target,
	// both forms at once, over MaxTxnOps, MaxTxnConditions, MaxTxnDepth or
	// MaxTxnBytes), or an op of the branch that ran cannot be executed (a
	// fetch_increase_u64 or put_sequential counter that is not a decimal
	// u64, or that would overflow). Deterministic rejection: nothing in the
	// transaction applies.
	ErrInvalidTxn = errors.New("statemachine: invalid transaction")

	// ErrReplyTooLarge: the reply of an upsert or transaction would be
	// larger than the bound its command carries (the proposer's
	// grpc_api_max_message_size). Deterministic rejection: nothing in the
	// command applies.
	ErrReplyTooLarge = errors.New("statemachine: reply too large")

	// ErrCompacted: EventsBetween, a range at a revision or a compact
	// was asked for changes that the bounded event history no longer
	// holds (dropped by its size, its retention or a Compact). The caller
	// must re-read the current state (a View) and continue from its
	// revision + 1. The error is a *CompactedError, which carries the
	// oldest revision still held.
	ErrCompacted = errors.New("statemachine: event history compacted")

	// ErrLeaseNotFound: a lease command or a put names a lease that does
	// not exist (never granted, revoked or expired). Deterministic
	// rejection; nothing changes. etcd's "requested lease not found".
	ErrLeaseNotFound = errors.New("statemachine: requested lease not found")

	// ErrLeaseExists: a grant names a lease id that exists already.
	ErrLeaseExists = errors.New("statemachine: lease already exists")

	// ErrLeaseTTLTooLarge: a grant's TTL is over MaxLeaseTTL.
	ErrLeaseTTLTooLarge = errors.New("statemachine: too large lease TTL")

	// ErrInvalidLease: a grant of lease id 0 or of a TTL below 1 s (the
	// proposer applies its minimum TTL first).
	ErrInvalidLease = errors.New("statemachine: invalid lease request")

	// ErrStaleIndex: Apply, ApplyEmpty or ApplyConfChange was called with a
	// log index at or below the applied index. Nothing changes. This is a
	// bug in the caller (an entry handed over twice, or after a newer
	// snapshot was restored).
	ErrStaleIndex = errors.New("statemachine: log index already applied")

	// ErrInvalidConfChange: the conf change context is not a valid
	// peerpb.ConfChangeContext, or a change has an unknown type. The member
	// table still follows the changes that could be applied.
	ErrInvalidConfChange = errors.New("statemachine: invalid conf change")

	// ErrCorruptSnapshot: the snapshot stream is truncated, fails its
	// checksum, or is not a valid snapshot. Restore left the state unchanged.
	ErrCorruptSnapshot = errors.New("statemachine: corrupt snapshot")
)

// CompactedError wraps ErrCompacted with etcd's compact revision: the
// oldest revision that a Range at a revision or a watch may ask for.
type CompactedError struct {
	CompactRevision uint64
	detail          string
}

func (e *CompactedError) Error() string { return ErrCompacted.Error() + ": " + e.detail }

// Unwrap returns ErrCompacted.
func (e *CompactedError) Unwrap() error { return ErrCompacted }
