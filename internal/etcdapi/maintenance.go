package etcdapi

import (
	"context"
	"crypto/sha256"
	"hash"
	"io"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/api/v3/version"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// maintenance serves etcdserverpb.Maintenance: Status, Alarm (none),
// Defragment (a no-op), Hash, HashKV, MoveLeader and Snapshot.
type maintenance struct {
	pb.UnimplementedMaintenanceServer
	s *Service
}

// Version is the etcd version Status reports: the version of the etcd API
// module metasrv serves (go.etcd.io/etcd/api/v3), which Kubernetes'
// feature checks read.
var Version = version.Version

// Status describes this node as etcd's Status does: db_size is the size
// of the state as a snapshot holds it (DataSize: possibly a few seconds
// old), raft_index the commit index.
func (m *maintenance) Status(context.Context, *pb.StatusRequest) (*pb.StatusResponse, error) {
	st := m.s.srv.Status()
	size := m.s.srv.DataSize()
	out := &pb.StatusResponse{
		Header:           m.s.header(st.GetRevision()),
		Version:          Version,
		DbSize:           size,
		DbSizeInUse:      size,
		Leader:           st.GetLeaderId(),
		RaftIndex:        st.GetCommitIndex(),
		RaftAppliedIndex: st.GetAppliedIndex(),
		RaftTerm:         st.GetTerm(),
		IsLearner:        st.GetState() == "learner",
		StorageVersion:   storageVersion(Version),
	}
	out.Header.RaftTerm = st.GetTerm()
	if st.GetLeaderId() == 0 {
		out.Errors = append(out.Errors, "etcdserver: no leader")
	}
	return out, nil
}

// storageVersion is etcd's storage version of a release: major.minor.0.
func storageVersion(v string) string {
	if i := strings.LastIndexByte(v, '.'); i > 0 {
		return v[:i] + ".0"
	}
	return v
}

// Alarm lists no alarms: metasrv raises none (a failed WAL write or
// fsync, a full disk included, stops the node instead of raising
// NOSPACE; it has no CORRUPT check). Deactivating one is answered as
// done, as there is none; activating one is refused.
func (m *maintenance) Alarm(_ context.Context, req *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	if req.GetAction() == pb.AlarmRequest_ACTIVATE {
		return nil, status.Errorf(codes.Unimplemented,
			"metasrv raises no alarms, so %s cannot be activated: a failed WAL write or fsync (a full disk included) stops the node instead of raising NOSPACE, and it has no CORRUPT check",
			req.GetAlarm())
	}
	return &pb.AlarmResponse{Header: m.s.header(m.s.srv.Status().GetRevision())}, nil
}

// Defragment does nothing: the state is in memory, and snapshots are
// written whole, so there is no free space to give back.
func (m *maintenance) Defragment(context.Context, *pb.DefragmentRequest) (*pb.DefragmentResponse, error) {
	return &pb.DefragmentResponse{Header: m.s.header(m.s.srv.Status().GetRevision())}, nil
}

// Hash hashes this node's whole state (statemachine.StateMachine.Hash:
// keys, members, clock, history), folded to 32 bits. Two nodes that
// applied the same log up to the same index hash alike; compare HashKV
// instead across nodes that may be at different indexes.
func (m *maintenance) Hash(context.Context, *pb.HashRequest) (*pb.HashResponse, error) {
	rev := m.s.srv.Status().GetRevision()
	return &pb.HashResponse{Header: m.s.header(rev), Hash: fold(m.s.srv.StateMachine().Hash())}, nil
}

// HashKV hashes the keys at this node's current revision
// (statemachine.Snapshot.HashKV, folded to 32 bits): nodes at the same
// hash_revision have the same hash. A revision of 0 or the current one
// is served; a later one is etcd's ErrFutureRev, an earlier one is
// refused (no past state is hashed).
func (m *maintenance) HashKV(_ context.Context, req *pb.HashKVRequest) (*pb.HashKVResponse, error) {
	snap := m.s.srv.StateMachine().Snapshot()
	rev := int64(snap.Revision())
	switch r := req.GetRevision(); {
	case r > rev:
		return nil, rpctypes.ErrGRPCFutureRev
	case r != 0 && r < rev:
		return nil, status.Errorf(codes.FailedPrecondition,
			"metasrv hashes the keys at its current revision only (%d on this node), not at revision %d: ask with revision 0 and compare the hashes of nodes that answer the same hash_revision", rev, r)
	}
	return &pb.HashKVResponse{Header: m.s.header(uint64(rev)), Hash: fold(snap.HashKV()), HashRevision: rev}, nil
}

// fold folds a 64-bit hash to etcd's 32.
func fold(h uint64) uint32 { return uint32(h) ^ uint32(h>>32) }

// MoveLeader hands leadership to req.TargetID, as the admin API's
// trigger_transfer_leader: asked of a node that is not the leader, it
// answers etcd's ErrNotLeader (etcdctl move-leader asks the leader).
func (m *maintenance) MoveLeader(ctx context.Context, req *pb.MoveLeaderRequest) (*pb.MoveLeaderResponse, error) {
	ctx, cancel := m.s.withDeadline(ctx)
	defer cancel()
	if _, err := m.s.srv.TransferLeader(ctx, req.GetTargetID()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.MoveLeaderResponse{Header: m.s.header(m.s.srv.Status().GetRevision())}, nil
}

// Snapshot streams this node's state as metasrv's state machine snapshot
// (statemachine.Snapshot.WriteTo, the format of internal/statemachine/
// doc.go), then zero bytes up to a multiple of 512 and the SHA-256 of
// everything before it, the trailer etcd's snapshot stream ends with,
// which `etcdctl snapshot save` checks for. It is this node's state at
// its applied index, as etcd's is (no read barrier).
func (m *maintenance) Snapshot(_ *pb.SnapshotRequest, stream pb.Maintenance_SnapshotServer) error {
	snap := m.s.srv.StateMachine().Snapshot()
	var count byteCounter
	// Writing to a byteCounter never fails; the encoding is
	// deterministic, so the second pass writes as many bytes.
	n, _ := snap.WriteTo(&count)
	padded := (n + snapshotAlign - 1) / snapshotAlign * snapshotAlign
	w := &snapshotSender{
		stream:    stream,
		sum:       sha256.New(),
		remaining: padded + sha256.Size,
		header:    m.s.header(snap.Revision()),
		buf:       make([]byte, 0, snapshotChunk),
	}
	if _, err := snap.WriteTo(w); err != nil {
		return toStatus(err)
	}
	if _, err := w.Write(make([]byte, padded-n)); err != nil {
		return toStatus(err)
	}
	if err := w.send(); err != nil {
		return toStatus(err)
	}
	w.buf = w.sum.Sum(w.buf)
	w.remaining -= sha256.Size
	return toStatus(w.sendBuf())
}

const (
	// snapshotAlign: the stream before its SHA-256 is a multiple of it,
	// as etcd's (a page-aligned bolt file) is.
	snapshotAlign = 512
	// snapshotChunk is the most bytes one SnapshotResponse carries, as
	// etcd's.
	snapshotChunk = 32 * 1024
)

// snapshotSender is an io.Writer that sends what it is given in chunks
// of snapshotChunk, hashing them; the first carries the header and the
// version.
type snapshotSender struct {
	stream    pb.Maintenance_SnapshotServer
	sum       hash.Hash
	remaining int64 // bytes not yet sent, the SHA-256 included
	header    *pb.ResponseHeader
	buf       []byte
}

func (w *snapshotSender) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		k := min(len(p), cap(w.buf)-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p, written = p[k:], written+k
		if len(w.buf) == cap(w.buf) {
			if err := w.send(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// send hashes and sends the buffered bytes.
func (w *snapshotSender) send() error {
	if len(w.buf) == 0 {
		return nil
	}
	w.sum.Write(w.buf)
	w.remaining -= int64(len(w.buf))
	return w.sendBuf()
}

// sendBuf sends the buffered bytes as one response, with remaining.
func (w *snapshotSender) sendBuf() error {
	resp := &pb.SnapshotResponse{RemainingBytes: uint64(w.remaining), Blob: w.buf}
	if w.header != nil {
		resp.Header, resp.Version = w.header, Version
		w.header = nil
	}
	if err := w.stream.Send(resp); err != nil {
		return err
	}
	w.buf = w.buf[:0]
	return nil
}

// byteCounter is an io.Writer that counts what it is given.
type byteCounter int64

func (c *byteCounter) Write(p []byte) (int, error) {
	*c += byteCounter(len(p))
	return len(p), nil
}

var _ io.Writer = (*snapshotSender)(nil)
