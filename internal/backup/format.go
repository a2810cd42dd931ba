package backup

import (
	"errors"
	"fmt"

	"github.com/metasrv/metasrv/api/metapb"
)

// FormatVersion is the dump format version written in the header, and the
// only one Reader accepts.
const FormatVersion = 1

// Line types: the "type" field of every line.
const (
	typeHeader = "header"
	typeKV     = "kv"
	typeFooter = "footer"
)

// maxLineBytes bounds one line of a dump, so that a file without newlines
// cannot make the reader buffer it whole. The largest value the server
// accepts is under 32 MiB by default; as JSON it takes at most 6 bytes per
// byte (a control character is written \u00XX).
const maxLineBytes = 256 << 20

// Errors of the package; returned errors wrap one of them (errors.Is).
var (
	// ErrInvalidDump: the dump is malformed, truncated or inconsistent
	// (Reader; the *LineError says which line and why), or a Writer was
	// given what would make it so (keys out of order, a seq outside
	// [1, last_seq], ...).
	ErrInvalidDump = errors.New("backup: invalid dump")

	// ErrDirNotEmpty: Import was given a raft_dir that already holds
	// files. Import only builds new node directories.
	ErrDirNotEmpty = errors.New("backup: raft_dir is not empty")

	// ErrInvalidCluster: the initial cluster given to Import is unusable
	// (no members, a zero or repeated id, an empty or repeated raft
	// address, or it does not include the node's own id).
	ErrInvalidCluster = errors.New("backup: invalid initial cluster")

	// ErrNoDatabendForm: an export in Databend's format met a key that is
	// not UTF-8 (written through etcd's API, which takes any bytes);
	// Databend's dump holds keys as JSON strings, UTF-8 text. metasrv's
	// own format keeps every key.
	ErrNoDatabendForm = errors.New("backup: key has no Databend form")
)

// LineError is a problem at one line of a dump read by Reader. It wraps
// ErrInvalidDump.
type LineError struct {
	// Line is the 1-based line number; 0 when the problem is the input as
	// a whole (empty input).
	Line int
	Msg  string
}

func (e *LineError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%v: %s", ErrInvalidDump, e.Msg)
	}
	return fmt.Sprintf("%v: line %d: %s", ErrInvalidDump, e.Line, e.Msg)
}

// Unwrap makes errors.Is(err, ErrInvalidDump) hold.
func (e *LineError) Unwrap() error { return ErrInvalidDump }

// Header is the first line of a dump: where and when it was taken.
type Header struct {
	// ClusterName is the cluster_name of the exported cluster.
	ClusterName string
	// ExportedAtMs is the exporter's wall clock when the dump was taken
	// (Unix ms); informational.
	ExportedAtMs uint64
	// LastSeq is the state's last seq: every key's seq is at most
	// LastSeq, and a cluster restored from the dump continues at
	// LastSeq + 1.
	LastSeq uint64
	// AppliedIndex is the raft index the state was taken at;
	// informational (a restored cluster starts a new log).
	AppliedIndex uint64
	// ClockMs is the state machine's clock (the largest log entry time it
	// had applied, Unix ms), 0 when unknown. A restored cluster's clock
	// starts there, so that it never goes back.
	ClockMs uint64
	// Nodes are the members of the exported cluster, ascending id;
	// informational (Import takes the new cluster's members as given).
	Nodes []Node
}

// Node is a cluster member in a Header.
type Node struct {
	ID          uint64
	RaftAddress string
	GrpcAddress string
	Voter       bool
}

// KV is one key of a dump with its value and metadata, exactly as the
// state machine holds it.
type KV struct {
	// Key is any non-empty bytes (etcd's API writes keys that are not
	// UTF-8; the dump holds those under "key_base64").
	Key string
	// Seq is the seq of the key's last change, CreateSeq the seq that
	// created it (1 <= CreateSeq <= Seq <= Header.LastSeq), Version the
	// number of updates since it was created (>= 1).
	Seq, CreateSeq, Version uint64
	// ExpireAtMs is when the key expires, Unix ms; 0 = never.
	ExpireAtMs uint64
	// Data is the value; any bytes.
	Data []byte
	// MetaAsWritten: Meta is the value's meta as it was written
	// (Databend's dumps: expire_at in seconds or ms, proposed_at_ms; nil
	// for "meta":null). Otherwise the value's meta holds ExpireAtMs.
	MetaAsWritten bool
	Meta          *metapb.KVMeta
}

// Footer is the last line of a dump.
type Footer struct {
	// Keys is the number of kv lines, LastSeq the header's last seq again.
	Keys, LastSeq uint64
}

// JSON shapes of the lines, in the order their fields are written.

type headerJSON struct {
	Type          string     `json:"type"`
	FormatVersion int        `json:"format_version"`
	ClusterName   string     `json:"cluster_name"`
	ExportedAtMs  uint64     `json:"exported_at_ms"`
	LastSeq       uint64     `json:"last_seq"`
	AppliedIndex  uint64     `json:"applied_index"`
	ClockMs       uint64     `json:"clock_ms,omitempty"`
	Nodes         []nodeJSON `json:"nodes"`
}

type nodeJSON struct {
	ID          uint64 `json:"id"`
	RaftAddress string `json:"raft_address"`
	GrpcAddress string `json:"grpc_address"`
	Voter       bool   `json:"voter"`
}

type kvJSON struct {
	Type        string  `json:"type"`
	Key         *string `json:"key,omitempty"`
	KeyBase64   *string `json:"key_base64,omitempty"`
	Seq         uint64  `json:"seq"`
	CreateSeq   uint64  `json:"create_seq"`
	Version     uint64  `json:"version"`
	ExpireAtMs  uint64  `json:"expire_at_ms,omitempty"`
	Value       *string `json:"value,omitempty"`
	ValueBase64 *string `json:"value_base64,omitempty"`
}

type footerJSON struct {
	Type    string `json:"type"`
	Keys    uint64 `json:"keys"`
	LastSeq uint64 `json:"last_seq"`
}
