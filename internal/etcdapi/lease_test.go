package etcdapi_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/metasrv/metasrv/internal/clustertest"
)

// TestLease follows etcd's tests/integration/v3_lease_test.go
// (TestV3LeaseGrantByID, TestV3LeaseRevoke, TestV3LeaseTimeToLive,
// TestV3LeaseLeases, TestV3LeaseKeepAlive) with their expected results:
// grant by id and its duplicate, TTL bounds, keys attached by put,
// time-to-live with keys, leases, keep-alive, and revoke deleting every
// attached key in one revision, which a watcher gets as one response.
func TestLease(t *testing.T) {
	c := newEtcdCluster(t)
	lc := pb.NewLeaseClient(c.cli.ActiveConnection())

	// TestV3LeaseGrantByID.
	if r, err := lc.LeaseGrant(ctx(t), &pb.LeaseGrantRequest{ID: 1, TTL: 30}); err != nil || r.ID != 1 || r.TTL != 30 {
		t.Fatalf("grant id 1: %v, %v", r, err)
	}
	if _, err := lc.LeaseGrant(ctx(t), &pb.LeaseGrantRequest{ID: 1, TTL: 30}); !eqErr(err, rpctypes.ErrGRPCLeaseExist) {
		t.Errorf("grant of id 1 again: %v, want %v", err, rpctypes.ErrGRPCLeaseExist)
	}
	// TestV3LeaseGrant's bounds: over MaxLeaseTTL is refused; a TTL below
	// the minimum is raised to it.
	if _, err := lc.LeaseGrant(ctx(t), &pb.LeaseGrantRequest{TTL: 9_000_000_001}); !eqErr(err, rpctypes.ErrGRPCLeaseTTLTooLarge) {
		t.Errorf("grant over the largest TTL: %v, want %v", err, rpctypes.ErrGRPCLeaseTTLTooLarge)
	}
	if r, err := lc.LeaseGrant(ctx(t), &pb.LeaseGrantRequest{TTL: 0}); err != nil || r.TTL < 1 || r.ID == 0 {
		t.Errorf("grant of TTL 0: %v, %v; want an id chosen and the minimum TTL", r, err)
	}

	g, err := c.cli.Grant(ctx(t), 60)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"lease/foo", "lease/bar"} {
		if _, err := c.cli.Put(ctx(t), k, "v", clientv3.WithLease(g.ID)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.cli.Put(ctx(t), "lease/zoo", "v"); err != nil {
		t.Fatal(err)
	}
	gr, err := c.cli.Get(ctx(t), "lease/foo")
	if err != nil || len(gr.Kvs) != 1 || gr.Kvs[0].Lease != int64(g.ID) {
		t.Fatalf("get of a key with a lease: %v, %v", gr, err)
	}
	// ignore_lease keeps it; a LEASE compare sees it.
	if _, err := c.cli.Put(ctx(t), "lease/foo", "v2", clientv3.WithIgnoreLease()); err != nil {
		t.Fatal(err)
	}
	tr, err := c.cli.Txn(ctx(t)).If(clientv3.Compare(clientv3.LeaseValue("lease/foo"), "=", g.ID)).Commit()
	if err != nil || !tr.Succeeded {
		t.Errorf("LEASE compare on lease/foo: %v, %v", tr, err)
	}

	// TestV3LeaseTimeToLive.
	ttl, err := c.cli.TimeToLive(ctx(t), g.ID, clientv3.WithAttachedKeys())
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{}
	for _, k := range ttl.Keys {
		keys = append(keys, string(k))
	}
	if ttl.GrantedTTL != 60 || ttl.TTL <= 0 || ttl.TTL > 60 || !slices.Equal(keys, []string{"lease/bar", "lease/foo"}) {
		t.Errorf("time to live: granted %d, ttl %d, keys %v", ttl.GrantedTTL, ttl.TTL, keys)
	}
	// TestV3LeaseLeases.
	ls, err := c.cli.Leases(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var ids []clientv3.LeaseID
	for _, l := range ls.Leases {
		ids = append(ids, l.ID)
	}
	if !slices.Contains(ids, 1) || !slices.Contains(ids, g.ID) || len(ids) != 3 {
		t.Errorf("leases %v, want 1, %d and the chosen one", ids, g.ID)
	}
	// Keep-alive once: the TTL back; an unknown lease is not found.
	if ka, err := c.cli.KeepAliveOnce(ctx(t), g.ID); err != nil || ka.TTL != 60 {
		t.Errorf("keep-alive once: %v, %v", ka, err)
	}
	if _, err := c.cli.KeepAliveOnce(ctx(t), 424242); err != rpctypes.ErrLeaseNotFound {
		t.Errorf("keep-alive of an unknown lease: %v, want %v", err, rpctypes.ErrLeaseNotFound)
	}

	// TestV3LeaseRevoke: both keys go in one revision, one watch response.
	wctx, cancel := context.WithCancel(ctx(t))
	defer cancel()
	wch := c.cli.Watch(wctx, "lease/", clientv3.WithPrefix(), clientv3.WithRev(gr.Header.Revision+2))
	rr, err := c.cli.Revoke(ctx(t), g.ID)
	if err != nil {
		t.Fatal(err)
	}
	wr := next(t, wch)
	if len(wr.Events) != 2 || wr.Events[0].Type != mvccpb.DELETE || wr.Events[1].Type != mvccpb.DELETE ||
		wr.Events[0].Kv.ModRevision != rr.Header.Revision || wr.Events[1].Kv.ModRevision != rr.Header.Revision {
		t.Errorf("watch after revoke at %d: %v", rr.Header.Revision, wr.Events)
	}
	if got, err := c.cli.Get(ctx(t), "lease/", clientv3.WithPrefix()); err != nil || !slices.Equal(keysOf(got.Kvs), []string{"lease/zoo"}) {
		t.Errorf("keys after revoke: %v, %v", got, err)
	}
	if ttl, err := c.cli.TimeToLive(ctx(t), g.ID); err != nil || ttl.TTL != -1 {
		t.Errorf("time to live of a revoked lease: %v, %v; want TTL -1", ttl, err)
	}
	if _, err := c.cli.Revoke(ctx(t), g.ID); err != rpctypes.ErrLeaseNotFound {
		t.Errorf("revoke again: %v, want %v", err, rpctypes.ErrLeaseNotFound)
	}
}

// TestLeaseExpiresWithoutWrites: a lease of 1 s, not kept alive, expires
// with nothing else written: the watcher gets the delete of its key.
// TestLeaseKeepAliveStream before it: kept alive through the stream, it
// outlives several TTLs. A test of time itself, on real ticks: clientv3
// renews on the wall clock, and the lease is due by it.
func TestLeaseExpiresWithoutWrites(t *testing.T) {
	c := newEtcdCluster(t, clustertest.Options{})
	g, err := c.cli.Grant(ctx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	if g.TTL != 1 {
		t.Fatalf("granted TTL %d, want 1 (the minimum on this test cluster)", g.TTL)
	}
	pr, err := c.cli.Put(ctx(t), "exp/key", "v", clientv3.WithLease(g.ID))
	if err != nil {
		t.Fatal(err)
	}
	wch := c.cli.Watch(ctx(t), "exp/key", clientv3.WithRev(pr.Header.Revision+1))

	// Kept alive: clientv3 renews every TTL/3; after 5 renewals (over a
	// TTL and a half) the key is still there.
	kctx, stop := context.WithCancel(ctx(t))
	kch, err := c.cli.KeepAlive(kctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		select {
		case ka, ok := <-kch:
			if !ok || ka.TTL != 1 {
				t.Fatalf("keep-alive response %v, %v", ka, ok)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no keep-alive response in 5s")
		}
	}
	if got, err := c.cli.Get(ctx(t), "exp/key"); err != nil || len(got.Kvs) != 1 {
		t.Fatalf("kept-alive key: %v, %v", got, err)
	}
	stop()

	// Left alone, it expires: the leader revokes it with nothing written.
	start := time.Now()
	wr := next(t, wch)
	if len(wr.Events) != 1 || wr.Events[0].Type != mvccpb.DELETE || string(wr.Events[0].Kv.Key) != "exp/key" {
		t.Fatalf("watch: %v", wr.Events)
	}
	if ttl, err := c.cli.TimeToLive(ctx(t), g.ID); err != nil || ttl.TTL != -1 {
		t.Errorf("time to live of the expired lease: %v, %v", ttl, err)
	}
	t.Logf("expired %v after the last keep-alive stopped", time.Since(start))
}

// TestLeaseLeaderChange: a new leader extends every lease to at least its
// TTL from when it took over (etcd's lessor Promote), on every node.
func TestLeaseLeaderChange(t *testing.T) {
	c := newEtcdCluster(t)
	g, err := c.cli.Grant(ctx(t), 30)
	if err != nil {
		t.Fatal(err)
	}
	lead := c.cl.WaitLeader()
	before, ok := c.cl.Node(lead).Server.StateMachine().Lease(int64(g.ID))
	if !ok {
		t.Fatal("the lease is not on the leader")
	}
	took := time.Now()
	newLead, err := c.cl.Node(lead).Server.TransferLeader(ctx(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	c.cl.Tick(1) // the new leader's lessor extends the leases at its first tick
	c.cl.Settled(func() bool {
		for _, nd := range c.cl.Nodes() {
			l, ok := nd.Server.StateMachine().Lease(int64(g.ID))
			if !ok || l.ExpireAtMs <= before.ExpireAtMs {
				return false
			}
		}
		return true
	}, "the lease extended on every node")
	l, _ := c.cl.Node(newLead).Server.StateMachine().Lease(int64(g.ID))
	if min := uint64(took.UnixMilli()) + 30_000; l.ExpireAtMs < min {
		t.Errorf("after the leader change the lease expires at %d, want at least %d (30 s after the change began)", l.ExpireAtMs, min)
	}
}

// twoSessions opens two concurrency sessions (leases of 5 s) that the
// test's end closes.
func (c *etcdCluster) twoSessions(t *testing.T) (*concurrency.Session, *concurrency.Session) {
	t.Helper()
	var ss [2]*concurrency.Session
	for i := range ss {
		s, err := concurrency.NewSession(c.cli, concurrency.WithTTL(5))
		if err != nil {
			t.Fatal(err)
		}
		// A session the test closed already has no lease to revoke.
		t.Cleanup(func() { _ = s.Close() })
		ss[i] = s
	}
	return ss[0], ss[1]
}

// TestConcurrency: clientv3's concurrency package (sessions on leases,
// Mutex, Election) works against metasrv.
func TestConcurrency(t *testing.T) {
	c := newEtcdCluster(t)
	s1, s2 := c.twoSessions(t)

	// Mutex: the second locker waits until the first unlocks. It takes
	// the lock only after the test has marked the unlock, once its own
	// key is in (it is waiting then).
	m1, m2 := concurrency.NewMutex(s1, "/mutex/"), concurrency.NewMutex(s2, "/mutex/")
	if err := m1.Lock(ctx(t)); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithCancel(ctx(t))
	defer wcancel()
	puts := c.cli.Watch(wctx, "/mutex/", clientv3.WithPrefix(), clientv3.WithRev(m1.Header().Revision+1))
	var unlocked atomic.Bool
	locked := make(chan error, 1)
	go func() {
		err := m2.Lock(context.Background())
		if err == nil && !unlocked.Load() {
			err = errors.New("the second lock went through while the first held it")
		}
		locked <- err
	}()
	next(t, puts) // m2's key: it waits for m1's to go
	unlocked.Store(true)
	if err := m1.Unlock(ctx(t)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-locked:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second lock not taken after the first unlocked")
	}
	if err := m2.Unlock(ctx(t)); err != nil {
		t.Fatal(err)
	}

	// Election: the first campaigner leads; when it resigns, the second.
	e1, e2 := concurrency.NewElection(s1, "/election/"), concurrency.NewElection(s2, "/election/")
	if err := e1.Campaign(ctx(t), "one"); err != nil {
		t.Fatal(err)
	}
	won := make(chan error, 1)
	go func() { won <- e2.Campaign(context.Background(), "two") }()
	if r, err := e1.Leader(ctx(t)); err != nil || string(r.Kvs[0].Value) != "one" {
		t.Fatalf("leader: %v, %v", r, err)
	}
	if err := e1.Resign(ctx(t)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-won:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second campaigner did not win after the first resigned")
	}
	if r, err := e2.Leader(ctx(t)); err != nil || string(r.Kvs[0].Value) != "two" {
		t.Fatalf("leader after resign: %v, %v", r, err)
	}

	// Closing a session revokes its lease: its keys go.
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if r, err := c.cli.Get(ctx(t), "/election/", clientv3.WithPrefix()); err != nil || len(r.Kvs) != 0 {
		t.Errorf("election keys after the session closed: %v, %v", r, err)
	}
}

// TestMutexLockSessionExpired is etcd's: a Mutex waiter whose session is
// revoked while the holder has the lock gets ErrSessionExpired when the
// holder unlocks (the revoke deleted its key; the unlock's delete ends
// its wait), and no key is left.
func TestMutexLockSessionExpired(t *testing.T) {
	c := newEtcdCluster(t)
	s1, s2 := c.twoSessions(t)
	m1, m2 := concurrency.NewMutex(s1, "/my-lock/"), concurrency.NewMutex(s2, "/my-lock/")
	if err := m1.Lock(ctx(t)); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithCancel(ctx(t))
	defer wcancel()
	puts := c.cli.Watch(wctx, "/my-lock/", clientv3.WithPrefix(), clientv3.WithRev(m1.Header().Revision+1))
	locked := make(chan error, 1)
	go func() { locked <- m2.Lock(context.Background()) }()
	next(t, puts) // m2's key: it waits for m1's to go
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m1.Unlock(ctx(t)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-locked:
		if !errors.Is(err, concurrency.ErrSessionExpired) {
			t.Fatalf("m2's Lock: %v, want %v", err, concurrency.ErrSessionExpired)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("m2's Lock still waiting after its session closed and m1 unlocked")
	}
	if r, err := c.cli.Get(ctx(t), "/my-lock/", clientv3.WithPrefix()); err != nil || len(r.Kvs) != 0 {
		t.Errorf("lock keys left: %v, %v", r, err)
	}
}
