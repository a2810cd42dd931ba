package client

// How writes find the leader.
//
// Any node accepts a write, but a follower forwards it to the leader
// through raft and answers only once the commit came back and it applied
// the entry: two network hops more than the leader takes. So a follower
// that knows the leader names it in its answer to every Upsert and Txn,
// success or error, in the trailer LeaderTrailer (the leader's
// grpc_api_address as advertised); the leader names nothing.
//
// The client reads that trailer in trailerInterceptor and keeps the last
// address it learnt (leaderHint). Calls that propose (Upsert, and Txn, even
// one of gets only: the server runs every Txn through raft) go to that
// address while it is known; it need not be one of Config.Endpoints, it is
// a member of the cluster. Everything else (reads, watches, MemberList,
// Status, Export) goes to the endpoints as before.
//
// The rules of retry.go are unchanged: an attempt on the leader is one
// attempt like any other, and a write that may have been applied there is
// never sent again. When an attempt on the learnt leader fails in a way
// that retry.go counts as the endpoint being down, the client forgets the
// leader and goes on with the endpoints (the current one, then the next
// ones), learning the leader again from the next follower's answer. The
// address that failed is not learnt again for retryTiming.leaderPause, so
// that an address the client cannot reach
// (an advertised host that is wrong from where the client runs, or a
// leader that died while the followers still name it) costs one failed
// attempt per pause rather than one per write.
//
// Config.DisableLeaderWrites turns this off: every call then goes to the
// endpoints.

import (
	"sync"
	"sync/atomic"
	"time"
)

// LeaderTrailer is the gRPC trailer key a metasrv node that is not the
// leader sets on its answers to Upsert and Txn: the leader's public gRPC
// address, host:port. The client follows it by itself (see leader.go);
// it is exported for servers and tests.
const LeaderTrailer = "metasrv-leader"

// defaultLeaderPause is how long an address the client forgot after a
// failure is not learnt again.
const defaultLeaderPause = 5 * time.Second

// leaderHint is the leader address learnt from LeaderTrailer. Safe for
// concurrent use; get is one atomic load.
type leaderHint struct {
	addr atomic.Pointer[string] // nil: none known

	mu struct {
		sync.Mutex
		failed   string    // the address forgotten last after a failure
		failedAt time.Time // when
	}
}

// get returns the learnt leader address, "" when none is known.
func (h *leaderHint) get() string {
	if p := h.addr.Load(); p != nil {
		return *p
	}
	return ""
}

// learn remembers addr as the leader, unless it is not host:port or it
// failed less than pause ago.
func (h *leaderHint) learn(addr string, pause time.Duration) {
	if addr == "" || addr == h.get() || validateEndpoint(addr) != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if addr == h.mu.failed && time.Since(h.mu.failedAt) < pause {
		return
	}
	h.addr.Store(&addr)
}

// forget drops addr, which failed, if it is still the leader address.
func (h *leaderHint) forget(addr string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mu.failed, h.mu.failedAt = addr, time.Now()
	if p := h.addr.Load(); p != nil && *p == addr {
		h.addr.Store(nil)
	}
}
