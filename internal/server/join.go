package server

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/metasrv/metasrv/api/peerpb"
)

// JoinStatus is where a node that joins the cluster (raft_config.join,
// an empty raft_dir) stands: AdminStatus.Join, nil once it has joined or
// when it does not join.
type JoinStatus struct {
	// Via are the raft addresses it asks (raft_config.join); Until is
	// when it gives up (wait_leader_timeout after the start).
	Via   []string
	Until time.Time
	// Last is its last failed attempt, which it retries; nil while the
	// first is under way.
	Last *Retry
	// Failed is why it gave up (nil: it has not): the node stops.
	Failed error
}

// String says where the join stands, for a person.
func (j *JoinStatus) String() string {
	switch {
	case j.Failed != nil:
		return "could not join the cluster: " + j.Failed.Error()
	case j.Last != nil:
		return j.Last.String()
	}
	return fmt.Sprintf("joining via %s: first attempt under way, retrying until %s",
		strings.Join(j.Via, ", "), j.Until.Format(time.TimeOnly))
}

// joinStatus is where this node's join stands: nil once it joined, which
// it has as soon as it applied itself as a voter (the leader's answer to
// its Join may still be on its way), or when it does not join.
func (s *Server) joinStatus() *JoinStatus {
	j := s.join.Load()
	if j == nil || j.Failed != nil {
		return j
	}
	if m := s.member(s.cfg.ID); m != nil && m.GetVoter() {
		return nil
	}
	return j
}

// joinCluster asks the configured members to add this node, each in turn,
// retrying with backoff until deadline; an error retrying cannot fix ends
// it at once (permanentPeerError). Each retry is logged, handed to
// Config.JoinRetrying and shown in AdminStatus.Join.
func (s *Server) joinCluster(deadline time.Time) error {
	n := s.node.Load()
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	go func() {
		select {
		case <-n.Done():
			cancel()
		case <-ctx.Done():
		}
	}()

	req := &peerpb.JoinRequest{ClusterName: s.cfg.ClusterName, Node: s.self(true)}
	retrying := func(r Retry) {
		s.lg.Warn("join attempt failed; retrying", "via", r.Via, "attempt", r.Attempt, "err", r.Err)
		s.join.Store(&JoinStatus{Via: s.cfg.Join, Until: deadline, Last: &r})
		if s.cfg.JoinRetrying != nil {
			s.cfg.JoinRetrying(r)
		}
	}
	err := callPeers(ctx, "joining via", "raft_config.join", s.cfg.Join, retrying, func(ctx context.Context, addr string) error {
		// A learner catching up from a large snapshot can take a while;
		// the leader keeps the learner when this attempt times out, and
		// the next attempt resumes where it stopped.
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		reply, err := s.cfg.PeerClient.Join(cctx, addr, req)
		if err == nil {
			s.lg.Info("joined the cluster", "id", s.cfg.ID, "via", addr, "leader", reply.GetLeaderId(),
				"members", len(reply.GetNodes()))
		}
		return err
	})
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("could not join the cluster within wait_leader_timeout (%s): %w", s.cfg.WaitLeaderTimeout, err)
	}
	if err != nil {
		s.join.Store(&JoinStatus{Via: s.cfg.Join, Until: deadline, Failed: err})
		return err
	}
	s.join.Store(nil)
	return nil
}
