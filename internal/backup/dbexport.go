package backup

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/databendjson"
	"github.com/metasrv/metasrv/internal/statemachine"
)

// DatabendState is the state a Databend export is written from, with what
// Databend's dump says of the node besides the keys.
type DatabendState struct {
	// Keys is a consistent copy of the keys (a statemachine View).
	Keys Source
	// Members is the member table, ascending ids; Membership the log id
	// of its last change (zero: none, written null).
	Members    []Node
	Membership statemachine.LogID
	// NodeID is the exporting node's id.
	NodeID uint64
	// AppliedTerm is the raft term of the entry at Keys.AppliedIndex()
	// (0 when unknown).
	AppliedTerm uint64
}

// DatabendLines calls emit with each line of the Databend export (data
// version V004) of st, in databend-meta's order, without its newline; the
// line is only valid during the call. An error of emit ends the export
// and is returned.
//
// The lines: the header; the raft state of a node whose log is wholly in
// its state machine (NodeId, Vote, Committed and Purged at the last
// applied log id, and no log entries: metasrv's entries are not Databend's
// commands); then the state machine: Sequences generic-kv = the last seq,
// LastApplied, LastMembership (the members at the log id of their last
// change), the Nodes, the expiry
// index by (time, seq), and every key in byte order, expired ones not yet
// removed included (see databend.go for how values are translated). A key
// that is not UTF-8 has no Databend form: the export fails with
// ErrNoDatabendForm, naming it, before the first line.
func DatabendLines(st DatabendState, emit func([]byte) error) error {
	src := st.Keys
	applied := src.AppliedIndex()
	var appliedID *databendjson.LogID
	if applied > 0 {
		id := logID(applied, st.AppliedTerm)
		appliedID = &id
	}
	nodeID := st.NodeID
	lines := []databendjson.Line{
		{Tree: databendjson.TreeHeader, Entry: &databendjson.DumpDataHeader{
			Key: "header", Value: databendjson.Header{Version: databendjson.V004}}},
		{Tree: databendjson.TreeRaftLog, Entry: &databendjson.DumpNodeID{NodeID: &nodeID}},
		{Tree: databendjson.TreeRaftLog, Entry: &databendjson.DumpVote{Vote: &databendjson.Vote{
			LeaderID: databendjson.LeaderID{Term: st.AppliedTerm, NodeID: nodeID}}}},
		{Tree: databendjson.TreeRaftLog, Entry: &databendjson.DumpCommitted{LogID: appliedID}},
		{Tree: databendjson.TreeRaftLog, Entry: &databendjson.DumpPurged{LogID: appliedID}},
		{Tree: databendjson.TreeStateMachine, Entry: &databendjson.DumpSequences{Key: genericKVSequence, Value: src.LastSeq()}},
	}
	if appliedID != nil {
		lines = append(lines, databendjson.Line{Tree: databendjson.TreeStateMachine, Entry: &databendjson.DumpStateMachineMeta{
			Key: databendjson.LastApplied, Value: databendjson.StateMachineMetaValue{Kind: databendjson.SMValueLogID, LogID: *appliedID}}})
	}
	var membershipID *databendjson.LogID
	if st.Membership.Index > 0 {
		id := logID(st.Membership.Index, st.Membership.Term)
		membershipID = &id
	}
	lines = append(lines, databendjson.Line{Tree: databendjson.TreeStateMachine, Entry: &databendjson.DumpStateMachineMeta{
		Key: databendjson.LastMembership, Value: databendjson.StateMachineMetaValue{Kind: databendjson.SMValueMembership,
			Membership: databendjson.StoredMembership{LogID: membershipID, Membership: membership(st.Members)}}}})
	for _, m := range st.Members {
		n, err := nodeToDatabend(m)
		if err != nil {
			return err
		}
		lines = append(lines, databendjson.Line{Tree: databendjson.TreeStateMachine, Entry: &databendjson.DumpNodes{Key: m.ID, Value: n}})
	}

	// The expiry index: the keys that expire, by (time, seq). nowMs 0:
	// nothing counts as expired.
	// It also finds a key that is not UTF-8 before any line goes out.
	var expires []databendjson.DumpExpire
	var badKey *string
	src.Range("", allKeysEnd, 0, func(kv *metapb.KV) bool {
		if !utf8.ValidString(kv.GetKey()) {
			badKey = &kv.Key
			return false
		}
		if kv.GetValue().GetExpireAtMs() != 0 {
			expires = append(expires, databendjson.DumpExpire{Key: expireKey(kv.GetValue()),
				Value: databendjson.ExpireValue{Seq: expireSeq, Key: kv.GetKey()}})
		}
		return true
	})
	if badKey != nil {
		return fmt.Errorf("%w: key %q is not valid UTF-8 (written through etcd's API), and Databend's format holds UTF-8 keys only: export in metasrv's format, which keeps every key, or delete the key",
			ErrNoDatabendForm, *badKey)
	}
	slices.SortFunc(expires, func(a, b databendjson.DumpExpire) int {
		return cmp.Or(cmp.Compare(a.Key.TimeMs, b.Key.TimeMs), cmp.Compare(a.Key.Seq, b.Key.Seq), strings.Compare(a.Value.Key, b.Value.Key))
	})
	for i := range expires {
		lines = append(lines, databendjson.Line{Tree: databendjson.TreeStateMachine, Entry: &expires[i]})
	}

	var buf []byte
	put := func(l databendjson.Line) error {
		b, err := databendjson.AppendLine(buf[:0], l)
		if err != nil {
			return fmt.Errorf("backup: databend export: %w", err)
		}
		buf = b
		return emit(b)
	}
	for _, l := range lines {
		if err := put(l); err != nil {
			return err
		}
	}
	var err error
	src.Range("", allKeysEnd, 0, func(kv *metapb.KV) bool {
		err = put(databendjson.Line{Tree: databendjson.TreeStateMachine, Entry: &databendjson.DumpGenericKV{
			Key: kv.GetKey(), Value: seqVToDatabend(kv.GetValue())}})
		return err == nil
	})
	return err
}

// ExportDatabend writes the Databend export of sm's current state to w,
// one line each ended by a newline: an O(1) copy taken at once, written
// without holding any lock while sm goes on applying. nodeID is the
// exporting node's; termOf returns the raft term of the entry at an
// index (0 when unknown).
func ExportDatabend(w io.Writer, sm *statemachine.StateMachine, nodeID uint64, termOf func(index uint64) uint64) error {
	st := DatabendStateOf(sm, nodeID, termOf)
	bw := bufio.NewWriterSize(w, 256<<10)
	err := DatabendLines(st, func(line []byte) error {
		bw.Write(line)
		return bw.WriteByte('\n') // a bufio.Writer's error sticks
	})
	if err == nil {
		err = bw.Flush()
	}
	return err
}

// DatabendStateOf takes a consistent copy of sm for DatabendLines. The
// members and their log id are read just after the copy (a membership
// change in between may show).
func DatabendStateOf(sm *statemachine.StateMachine, nodeID uint64, termOf func(index uint64) uint64) DatabendState {
	view := sm.View()
	nodes, lm := sm.Membership()
	return DatabendState{
		Keys:        view,
		Members:     NodesFromProto(nodes),
		Membership:  lm,
		NodeID:      nodeID,
		AppliedTerm: termOf(view.AppliedIndex()),
	}
}
