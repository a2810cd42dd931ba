package backup

import (
	"fmt"
	"io"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/statemachine"
)

// ImportRevision is the revision of a state built from a dump: the dump
// holds no revisions, so its keys are taken to have been written by one
// entry, the first change after the empty store (statemachine.FirstRevision).
const ImportRevision = statemachine.FirstRevision + 1

// EncodeSnapshot reads the keys of the dump from r (whose header was read
// by NewReader) up to its footer, and writes to w the state machine
// snapshot encoding of that state at applied index index, with members as
// the member table, set at log id (index, ImportTerm)
// (statemachine.SnapshotWriter): every key with its seq,
// create_seq, version, value and expiry, create and mod revision
// ImportRevision, the dump's last seq and clock, and an empty event history
// (a watch cannot resume from before the restore). It returns the footer.
//
// The output is written as the dump is read: on error it is partial, so
// write to a buffer or a file that is discarded on error. members must be
// in ascending id order (ErrInvalidCluster otherwise).
func EncodeSnapshot(w io.Writer, r *Reader, index uint64, members []Node) (Footer, error) {
	h := r.Header()
	sh := stateHeader{index: index, lastSeq: h.LastSeq, clockMs: h.ClockMs, membership: statemachine.LogID{Index: index, Term: ImportTerm}}
	if _, err := encodeState(w, sh, members, r); err != nil {
		return Footer{}, err
	}
	return *r.Footer(), nil
}

// stateHeader is the state around the keys of a snapshot.
type stateHeader struct {
	index, lastSeq, clockMs uint64
	// membership is the log id of the members' last change (zero: none).
	membership statemachine.LogID
}

// keySource yields the keys of a state in strictly ascending key order;
// Next returns io.EOF after the last. *Reader is one.
type keySource interface {
	Next() (KV, error)
}

// encodeState writes to w the state machine snapshot (statemachine's
// SnapshotWriter) of the state h with members as the member table and the
// keys of src, each at ImportRevision, and returns the number of keys
// written. See EncodeSnapshot.
func encodeState(w io.Writer, h stateHeader, members []Node, src keySource) (uint64, error) {
	if msg := checkNodes(members); msg != "" {
		return 0, fmt.Errorf("%w: %s", ErrInvalidCluster, msg)
	}
	nodes := make([]*metapb.Node, len(members))
	for i, m := range members {
		nodes[i] = &metapb.Node{Id: m.ID, RaftAddress: m.RaftAddress, GrpcAddress: m.GrpcAddress, Voter: m.Voter}
	}
	sw := statemachine.NewSnapshotWriter(w, statemachine.SnapshotHeader{
		Index: h.index, LastSeq: h.lastSeq, Revision: ImportRevision, NowMs: h.clockMs, Members: nodes, Membership: h.membership,
	})
	var count uint64
	for {
		kv, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		meta := kv.Meta
		if !kv.MetaAsWritten {
			meta = &metapb.KVMeta{}
			if kv.ExpireAtMs != 0 {
				meta.ExpireAt = &kv.ExpireAtMs
			}
		}
		if err := sw.Add(statemachine.Record{
			Key: kv.Key, Data: kv.Data, Seq: kv.Seq, CreateSeq: kv.CreateSeq, Version: kv.Version,
			CreateRevision: ImportRevision, ModRevision: ImportRevision, Meta: meta,
		}); err != nil {
			return 0, fmt.Errorf("backup: write state machine snapshot: %w", err)
		}
		count++
	}
	if _, err := sw.Close(); err != nil {
		return 0, fmt.Errorf("backup: write state machine snapshot: %w", err)
	}
	return count, nil
}
