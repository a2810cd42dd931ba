package backup

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/metasrv/metasrv/internal/databendjson"
	"github.com/metasrv/metasrv/internal/statemachine"
)

// genericKVSequence is the name of Databend's only sequence: the last seq
// handed out to a key.
const genericKVSequence = "generic-kv"

// databendDump is what an import keeps of a databend-metactl export: its
// state_machine section, and of its raft section the node id and where
// the log stands.
type databendDump struct {
	version databendjson.DataVersion
	// nodeID is the id of the node the dump was taken from (0: unknown).
	nodeID uint64
	// lastApplied is the log id the state machine was taken at (nil:
	// none, an empty state).
	lastApplied *databendjson.LogID
	// membership is the last membership; nil when the dump has none.
	membership *databendjson.StoredMembership
	nodes      map[uint64]Node
	lastSeq    uint64
	haveSeq    bool
	kvs        []KV
	// expires are the expiry index lines by key.
	expires map[string]databendjson.ExpireKey
	// entries are the raft log entries: index, and for a command its
	// time_ms (0 for Blank and Membership entries, and for a command
	// without one).
	entries []logEntry
	smTree  string
}

type logEntry struct {
	index, timeMs uint64
	command       bool
}

// dumpLineError is a problem at one line of a Databend dump.
func dumpLineError(line int, format string, args ...any) error {
	return &LineError{Line: line, Msg: fmt.Sprintf(format, args...)}
}

// readDatabendDump reads a whole databend-metactl export (data version
// V002, V003 or V004) and checks that its state machine is consistent: the
// keys' seqs within the generic-kv sequence, the expiry index agreeing with
// the keys' expiries, no log entry left to apply (see
// databendDump.check).
func readDatabendDump(r io.Reader) (*databendDump, error) {
	d := &databendDump{nodes: map[uint64]Node{}, expires: map[string]databendjson.ExpireKey{}}
	rd := databendjson.NewReader(r)
	for {
		l, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidDump, err)
		}
		if err := d.add(rd.LineNumber(), l); err != nil {
			return nil, err
		}
	}
	if d.version == "" {
		return nil, &LineError{Msg: "empty input: no header line; is this a databend-metactl export?"}
	}
	if err := d.check(); err != nil {
		return nil, err
	}
	return d, nil
}

// add takes in one line.
func (d *databendDump) add(n int, l databendjson.Line) error {
	if n == 1 {
		h, ok := l.Entry.(*databendjson.DumpDataHeader)
		if l.Tree != databendjson.TreeHeader || !ok {
			return dumpLineError(n, "a %s line in tree %q, want the header first: the dump is incomplete or not a databend-metactl export", l.Entry.Kind(), l.Tree)
		}
		switch v := h.Value.Version; v {
		case databendjson.V002, databendjson.V003, databendjson.V004:
			d.version = v
		default:
			return dumpLineError(n, "data version %s: only V002, V003 and V004 dumps are read; import it with a databend-metactl that reads %s into a databend-meta, and export it again from there", v, v)
		}
		return nil
	}
	if strings.HasPrefix(l.Tree, "state_machine/") {
		if d.smTree == "" {
			d.smTree = l.Tree
		} else if l.Tree != d.smTree {
			return dumpLineError(n, "a second state machine tree %q after %q: a dump holds one state machine", l.Tree, d.smTree)
		}
	}
	switch e := l.Entry.(type) {
	case *databendjson.DumpDataHeader:
		if l.Tree == databendjson.TreeHeader {
			return dumpLineError(n, "a second header: only the first line is a header (two dumps concatenated?)")
		}
		// A state machine's own header says nothing the dump's does not.
	case *databendjson.DumpNodeID:
		if e.NodeID != nil {
			d.nodeID = *e.NodeID
		}
	case *databendjson.DumpRaftStateKV:
		if e.Key == databendjson.RaftStateID {
			d.nodeID = e.Value.NodeID
		}
		// The vote, the committed log id and the obsolete state machine
		// id belong to the old cluster's raft.
	case *databendjson.DumpVote, *databendjson.DumpCommitted, *databendjson.DumpPurged, *databendjson.DumpLogMeta:
		// The old cluster's raft: a new cluster starts its own.
	case *databendjson.DumpLogs:
		d.addEntry(&e.Value)
	case *databendjson.DumpLogEntry:
		d.addEntry(&e.Entry)
	case *databendjson.DumpStateMachineMeta:
		switch e.Key {
		case databendjson.LastApplied:
			id := e.Value.LogID
			d.lastApplied = &id
		case databendjson.LastMembership:
			m := e.Value.Membership
			d.membership = &m
		}
		// Initialized is obsolete since V002.
	case *databendjson.DumpNodes:
		if _, dup := d.nodes[e.Key]; dup {
			return dumpLineError(n, "node %d is listed twice", e.Key)
		}
		d.nodes[e.Key] = nodeFromDatabend(e.Key, &e.Value)
	case *databendjson.DumpSequences:
		if e.Key != genericKVSequence {
			return dumpLineError(n, "sequence %q: Databend has only %q; this dump is from a newer Databend than metasrv knows", e.Key, genericKVSequence)
		}
		d.lastSeq, d.haveSeq = e.Value, true
	case *databendjson.DumpExpire:
		if _, dup := d.expires[e.Value.Key]; dup {
			return dumpLineError(n, "a second expiry index line for key %q", e.Value.Key)
		}
		d.expires[e.Value.Key] = e.Key
	case *databendjson.DumpGenericKV:
		if e.Value.Seq == 0 {
			return dumpLineError(n, "key %q has seq 0, which marks a deleted key: a dump holds only live keys", e.Key)
		}
		if e.Key == "" {
			return dumpLineError(n, "empty key")
		}
		d.kvs = append(d.kvs, kvFromDatabend(e.Key, &e.Value))
	default:
		return dumpLineError(n, "unexpected %s line in tree %q", l.Entry.Kind(), l.Tree)
	}
	return nil
}

func (d *databendDump) addEntry(e *databendjson.Entry) {
	le := logEntry{index: e.LogID.Index}
	if cmd, ok := e.Payload.(*databendjson.LogEntry); ok {
		le.command = true
		if cmd.TimeMs != nil {
			le.timeMs = *cmd.TimeMs
		}
	}
	d.entries = append(d.entries, le)
}

// appliedIndex is the index of the last applied log entry, 0 when none.
func (d *databendDump) appliedIndex() uint64 {
	if d.lastApplied == nil {
		return 0
	}
	return d.lastApplied.Index
}

// check verifies the state machine section as a whole.
//
// The raft log: the entries up to LastApplied are already in the state
// machine and are not needed. A command after it is not: it may be
// committed, and metasrv cannot apply Databend's commands, so such a dump
// is refused (export again once the node has applied them). Blank and
// Membership entries after it are dropped: the members come from the
// state machine or from the initial cluster.
func (d *databendDump) check() error {
	applied := d.appliedIndex()
	var pending []uint64
	for _, e := range d.entries {
		if e.command && e.index > applied {
			pending = append(pending, e.index)
		}
	}
	if len(pending) > 0 {
		return fmt.Errorf("%w: the raft log holds %d command entries after the state machine's last applied index %d (indexes %d..%d): they are not in its state, and metasrv does not apply Databend's log; export again once the node has applied them (stop the writers, wait until status shows last_applied = last_log_index)",
			ErrInvalidDump, len(pending), applied, pending[0], pending[len(pending)-1])
	}
	if m := d.membership; m != nil && m.LogID != nil && m.LogID.Index > applied {
		return fmt.Errorf("%w: the last membership is at log index %d, after the state machine's last applied index %d: a state machine cannot hold a change it has not applied",
			ErrInvalidDump, m.LogID.Index, applied)
	}
	if len(d.kvs) > 0 && !d.haveSeq {
		return fmt.Errorf("%w: the state machine holds %d keys but no Sequences %q line: the next seq is unknown", ErrInvalidDump, len(d.kvs), genericKVSequence)
	}
	slices.SortFunc(d.kvs, func(a, b KV) int { return strings.Compare(a.Key, b.Key) })
	for i, kv := range d.kvs {
		switch {
		case i > 0 && kv.Key == d.kvs[i-1].Key:
			return fmt.Errorf("%w: key %q is listed twice", ErrInvalidDump, kv.Key)
		case kv.Seq > d.lastSeq:
			return fmt.Errorf("%w: key %q has seq %d, above the Sequences %q %d", ErrInvalidDump, kv.Key, kv.Seq, genericKVSequence, d.lastSeq)
		}
	}
	for _, kv := range d.kvs {
		ek, indexed := d.expires[kv.Key]
		switch {
		case kv.ExpireAtMs == 0 && indexed:
			return fmt.Errorf("%w: the expiry index has key %q, which does not expire", ErrInvalidDump, kv.Key)
		case kv.ExpireAtMs != 0 && !indexed:
			return fmt.Errorf("%w: key %q expires at %d ms but is not in the expiry index", ErrInvalidDump, kv.Key, kv.ExpireAtMs)
		case indexed && (ek.TimeMs != kv.ExpireAtMs || ek.Seq != kv.Seq):
			return fmt.Errorf("%w: key %q (seq %d, expires at %d ms) is in the expiry index at time_ms %d, seq %d",
				ErrInvalidDump, kv.Key, kv.Seq, kv.ExpireAtMs, ek.TimeMs, ek.Seq)
		}
		delete(d.expires, kv.Key)
	}
	for k := range d.expires {
		return fmt.Errorf("%w: the expiry index has key %q, which the state machine does not hold", ErrInvalidDump, k)
	}
	return nil
}

// membershipLogID is the log id of the dump's last membership: zero when
// it has none, or none past openraft's initial one at index 0. check has
// made sure it is not after LastApplied.
func (d *databendDump) membershipLogID() statemachine.LogID {
	if d.membership == nil || d.membership.LogID == nil || d.membership.LogID.Index == 0 {
		return statemachine.LogID{}
	}
	id := d.membership.LogID
	return statemachine.LogID{Index: id.Index, Term: max(id.LeaderID.Term, 1)}
}

// clockMs is the largest time_ms of the commands the state machine has
// applied: its clock, as far as the log that is left tells.
func (d *databendDump) clockMs() uint64 {
	var clock uint64
	for _, e := range d.entries {
		if e.index <= d.appliedIndex() {
			clock = max(clock, e.timeMs)
		}
	}
	return clock
}

// members returns the dump's node table with the voters of its last
// membership (the last config of a joint one); every other node is a
// learner. Without a membership every node is a voter.
func (d *databendDump) members() ([]Node, error) {
	out := make([]Node, 0, len(d.nodes))
	for _, n := range d.nodes {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b Node) int { return cmp.Compare(a.ID, b.ID) })
	if d.membership == nil || len(d.membership.Membership.Configs) == 0 {
		for i := range out {
			out[i].Voter = true
		}
		return out, nil
	}
	cfgs := d.membership.Membership.Configs
	for _, id := range cfgs[len(cfgs)-1] {
		if _, ok := d.nodes[id]; !ok {
			return nil, fmt.Errorf("%w: voter %d of the last membership is not in the Nodes table: its address is unknown; give --initial-cluster", ErrInvalidCluster, id)
		}
		i, _ := slices.BinarySearchFunc(out, id, func(m Node, id uint64) int { return cmp.Compare(m.ID, id) })
		out[i].Voter = true
	}
	return out, nil
}

// keys returns the keys in ascending order.
func (d *databendDump) keys() keySource { return &kvSlice{kvs: d.kvs} }

// kvSlice is a keySource over keys held in memory.
type kvSlice struct {
	kvs []KV
	i   int
}

func (s *kvSlice) Next() (KV, error) {
	if s.i == len(s.kvs) {
		return KV{}, io.EOF
	}
	s.i++
	return s.kvs[s.i-1], nil
}

// VerifyDatabend reads a whole Databend dump and checks it as Import does
// (without members); it returns the number of keys and the last seq.
func VerifyDatabend(r io.Reader) (keys int, lastSeq uint64, err error) {
	d, err := readDatabendDump(r)
	if err != nil {
		return 0, 0, err
	}
	return len(d.kvs), d.lastSeq, nil
}
