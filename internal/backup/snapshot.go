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
// the member table (statemachine.SnapshotWriter): every key with its seq,
// create_seq, version, value and expiry, create and mod revision
// ImportRevision, the dump's last seq and clock, and an empty event history
// (a watch cannot resume from before the restore). It returns the footer.
//
// The output is written as the dump is read: on error it is partial, so
// write to a buffer or a file that is discarded on error. members must be
// in ascending id order (ErrInvalidCluster otherwise).
func EncodeSnapshot(w io.Writer, r *Reader, index uint64, members []Node) (Footer, error) {
	if msg := checkNodes(members); msg != "" {
		return Footer{}, fmt.Errorf("%w: %s", ErrInvalidCluster, msg)
	}
	h := r.Header()
	nodes := make([]*metapb.Node, len(members))
	for i, m := range members {
		nodes[i] = &metapb.Node{Id: m.ID, RaftAddress: m.RaftAddress, GrpcAddress: m.GrpcAddress, Voter: m.Voter}
	}
	sw := statemachine.NewSnapshotWriter(w, statemachine.SnapshotHeader{
		Index: index, LastSeq: h.LastSeq, Revision: ImportRevision, NowMs: h.ClockMs, Members: nodes,
	})
	for {
		kv, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Footer{}, err
		}
		meta := &metapb.KVMeta{}
		if kv.ExpireAtMs != 0 {
			meta.ExpireAt = &kv.ExpireAtMs
		}
		if err := sw.Add(statemachine.Record{
			Key: kv.Key, Data: kv.Data, Seq: kv.Seq, CreateSeq: kv.CreateSeq, Version: kv.Version,
			CreateRevision: ImportRevision, ModRevision: ImportRevision, Meta: meta,
		}); err != nil {
			return Footer{}, fmt.Errorf("backup: write state machine snapshot: %w", err)
		}
	}
	if _, err := sw.Close(); err != nil {
		return Footer{}, fmt.Errorf("backup: write state machine snapshot: %w", err)
	}
	return *r.Footer(), nil
}
