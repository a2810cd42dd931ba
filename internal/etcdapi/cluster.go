package etcdapi

import (
	"context"
	"fmt"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/version"
)

// cluster serves etcdserverpb.Cluster's MemberList.
type cluster struct {
	pb.UnimplementedClusterServer
	s *Service
}

// MemberList lists the members this node applied, learners included.
// Names are node-<id>; the URLs are the raft and the public gRPC
// addresses (https with TLS).
func (c *cluster) MemberList(context.Context, *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	scheme := "http://"
	if c.s.cfg.TLS {
		scheme = "https://"
	}
	nodes := c.s.srv.Members()
	out := &pb.MemberListResponse{Header: c.s.header(c.s.srv.Status().GetRevision())}
	for _, n := range nodes {
		m := &pb.Member{
			ID:        n.GetId(),
			Name:      fmt.Sprintf("node-%d", n.GetId()),
			IsLearner: !n.GetVoter(),
		}
		if a := n.GetRaftAddress(); a != "" {
			m.PeerURLs = []string{"http://" + a}
		}
		if a := n.GetGrpcAddress(); a != "" {
			m.ClientURLs = []string{scheme + a}
		}
		out.Members = append(out.Members, m)
	}
	return out, nil
}

// maintenance serves etcdserverpb.Maintenance's Status.
type maintenance struct {
	pb.UnimplementedMaintenanceServer
	s *Service
}

// Version is the etcd version Status reports: the version of the etcd API
// module metasrv serves (go.etcd.io/etcd/api/v3), which Kubernetes'
// feature checks read.
var Version = version.Version

// Status describes this node as etcd's Status does: db_size is the size
// of the state as a snapshot holds it (DataSize), raft_index the commit
// index.
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
