package statemachine

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/api/peerpb"
)

func grantCmd(id, ttl int64) *peerpb.Command {
	return &peerpb.Command{Body: &peerpb.Command_LeaseGrant{LeaseGrant: &peerpb.LeaseGrantRequest{Id: id, Ttl: ttl}}}
}

func revokeCmd(id int64) *peerpb.Command {
	return &peerpb.Command{Body: &peerpb.Command_LeaseRevoke{LeaseRevoke: &peerpb.LeaseRevokeRequest{Id: id}}}
}

func keepAliveCmd(id int64) *peerpb.Command {
	return &peerpb.Command{Body: &peerpb.Command_LeaseKeepAlive{LeaseKeepAlive: &peerpb.LeaseKeepAliveRequest{Id: id}}}
}

func extendCmd() *peerpb.Command {
	return &peerpb.Command{Body: &peerpb.Command_LeaseExtend{LeaseExtend: &peerpb.LeaseExtendRequest{Term: 2}}}
}

func expireCmd() *peerpb.Command {
	return &peerpb.Command{Body: &peerpb.Command_Expire{Expire: &peerpb.ExpireRequest{}}}
}

func leasePut(key, value string, lease int64) *metapb.TxnRequest {
	return &metapb.TxnRequest{IfThen: []*metapb.TxnOp{opPutReq(&metapb.TxnPut{Key: key, Value: []byte(value), Lease: lease})}}
}

// TestLeaseLifecycle: grant, attach keys, keep alive, revoke (every key in
// one revision, one event each), and the errors on the way.
func TestLeaseLifecycle(t *testing.T) {
	a := newApplier(t)
	const t0 = 1_000_000
	if r := a.apply(t0, grantCmd(7, 10)); r.Err != nil || r.Lease.ID != 7 || r.Lease.TTL != 10 {
		t.Fatalf("grant: %+v", r)
	}
	for _, c := range []struct {
		cmd  *peerpb.Command
		want error
	}{
		{grantCmd(7, 5), ErrLeaseExists},
		{grantCmd(8, MaxLeaseTTL+1), ErrLeaseTTLTooLarge},
		{grantCmd(0, 5), ErrInvalidLease},
		{revokeCmd(9), ErrLeaseNotFound},
		{keepAliveCmd(9), ErrLeaseNotFound},
		{txnCmd(leasePut("x", "1", 9)), ErrLeaseNotFound},
	} {
		if r := a.apply(t0, c.cmd); !errors.Is(r.Err, c.want) {
			t.Errorf("%v: err %v, want %v", c.cmd, r.Err, c.want)
		}
	}
	a.txn(t0, leasePut("a", "1", 7))
	a.txn(t0, leasePut("b", "2", 7))
	a.txn(t0, leasePut("c", "3", 0))
	if got := a.sm.Get("a", t0).GetLease(); got != 7 {
		t.Errorf("a's lease %d, want 7", got)
	}
	// ignore_lease keeps it; a plain put detaches.
	a.txn(t0, &metapb.TxnRequest{IfThen: []*metapb.TxnOp{opPutReq(&metapb.TxnPut{Key: "b", Value: []byte("2b"), IgnoreLease: true})}})
	a.txn(t0, leasePut("c", "3b", 0))
	if r := a.apply(t0, txnCmd(&metapb.TxnRequest{IfThen: []*metapb.TxnOp{opPutReq(&metapb.TxnPut{Key: "zz", IgnoreLease: true})}})); !errors.Is(r.Err, ErrKeyNotFound) {
		t.Errorf("ignore_lease on an absent key: %v, want ErrKeyNotFound", r.Err)
	}
	// LEASE compare.
	cond := &metapb.TxnCondition{Key: "a", Op: metapb.TxnCondition_EQ, Target: &metapb.TxnCondition_Lease{Lease: 7}}
	if r := a.txn(t0, &metapb.TxnRequest{Condition: []*metapb.TxnCondition{cond}}); !r.GetSuccess() {
		t.Errorf("lease compare on a: %+v", r)
	}
	info, ok := a.sm.Lease(7)
	if !ok || !slices.Equal(info.Keys, []string{"a", "b"}) || info.ExpireAtMs != t0+10_000 {
		t.Fatalf("lease 7: %+v %v", info, ok)
	}
	if r := a.apply(t0+4000, keepAliveCmd(7)); r.Err != nil || r.Lease.TTL != 10 {
		t.Fatalf("keep-alive: %+v", r)
	}
	if info, _ := a.sm.Lease(7); info.ExpireAtMs != t0+14_000 {
		t.Errorf("after keep-alive, expiry %d, want %d", info.ExpireAtMs, t0+14_000)
	}
	rev := a.sm.Revision()
	r := a.apply(t0+5000, revokeCmd(7))
	if r.Err != nil || r.Lease.Revision != rev+1 || len(r.Events) != 2 {
		t.Fatalf("revoke: %+v", r)
	}
	for _, e := range r.Events {
		if e.GetCurrent() != nil || e.GetRevision() != rev+1 {
			t.Errorf("revoke event %v", e)
		}
	}
	if a.sm.Get("a", t0) != nil || a.sm.Get("b", t0) != nil || a.sm.Get("c", t0) == nil {
		t.Errorf("after revoke: a %v, b %v, c %v", a.sm.Get("a", t0), a.sm.Get("b", t0), a.sm.Get("c", t0))
	}
	if _, ok := a.sm.Lease(7); ok || a.sm.LeaseCount() != 0 {
		t.Errorf("lease 7 still there")
	}
	checkInvariants(t, a.sm)
}

// TestLeaseExpireAndExtend: only an expire entry revokes leases, those
// at or past their expiry, in one revision; a new leader's extend gives
// every lease at least its TTL from its entry's time.
func TestLeaseExpireAndExtend(t *testing.T) {
	a := newApplier(t)
	const t0 = 1_000_000
	a.apply(t0, grantCmd(1, 1))
	a.apply(t0, grantCmd(2, 5))
	a.txn(t0, leasePut("k1", "v", 1))
	a.txn(t0, leasePut("k2", "v", 2))
	if a.sm.ExpiryDue(t0+999, true) || !a.sm.ExpiryDue(t0+1000, true) || a.sm.ExpiryDue(t0+1000, false) {
		t.Errorf("ExpiryDue wrong around lease 1's expiry")
	}
	if next, ok := a.sm.NextExpiry(true); !ok || next != t0+1000 {
		t.Errorf("NextExpiry %d %v", next, ok)
	}
	// Another entry past the expiry revokes nothing.
	a.txn(t0+3000, leasePut("other", "v", 0))
	if _, ok := a.sm.Lease(1); !ok {
		t.Fatal("an unrelated write revoked lease 1")
	}
	// A new leader's extend: each lease gets its TTL from t0+3000.
	a.apply(t0+3000, extendCmd())
	for id, want := range map[int64]uint64{1: t0 + 4000, 2: t0 + 8000} {
		if l, _ := a.sm.Lease(id); l.ExpireAtMs != want {
			t.Errorf("lease %d after extend expires %d, want %d", id, l.ExpireAtMs, want)
		}
	}
	rev := a.sm.Revision()
	r := a.apply(t0+4000, expireCmd())
	if r.Err != nil || len(r.Events) != 1 || r.Events[0].GetKey() != "k1" || r.Lease.Revision != rev+1 {
		t.Fatalf("expire at t0+4000: %+v", r)
	}
	if r := a.apply(t0+8000, expireCmd()); len(r.Events) != 1 || r.Events[0].GetKey() != "k2" {
		t.Fatalf("expire at t0+8000: %+v", r)
	}
	if a.sm.LeaseCount() != 0 || a.sm.Get("k1", 0) != nil || a.sm.Get("k2", 0) != nil {
		t.Errorf("after expire: %d leases, k1 %v, k2 %v", a.sm.LeaseCount(), a.sm.Get("k1", 0), a.sm.Get("k2", 0))
	}
	// An expire entry also sweeps native keys with nothing else to do.
	a.upsert(t0+8000, ttl(put("n", "v"), 100))
	r = a.apply(t0+8101, expireCmd())
	if len(r.Events) != 1 || r.Events[0].GetKey() != "n" || r.Events[0].GetCurrent() != nil {
		t.Errorf("expire of a native key: %v", r.Events)
	}
	checkInvariants(t, a.sm)
}

// TestLeaseSnapshotRoundTrip: leases, their keys and expiries survive a
// snapshot, and two nodes applying the same log with leases agree.
func TestLeaseSnapshotRoundTrip(t *testing.T) {
	a := newApplier(t)
	const t0 = 1_000_000
	a.apply(t0, grantCmd(-3, 30))
	a.apply(t0, grantCmd(5, 60))
	a.apply(t0, grantCmd(9, 2))
	a.txn(t0, leasePut("a", "1", 5))
	a.txn(t0, leasePut("b", "2", -3))
	a.txn(t0, leasePut("c", "3", 5))
	a.apply(t0+100, keepAliveCmd(9))
	b := New()
	if err := b.Restore(bytes.NewReader(encode(t, a.sm))); err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, b)
	assertSameState(t, a.sm, b)
	if !slices.EqualFunc(a.sm.Leases(), b.Leases(), func(x, y LeaseInfo) bool {
		return x.ID == y.ID && x.TTL == y.TTL && x.ExpireAtMs == y.ExpireAtMs
	}) || len(b.Leases()) != 3 {
		t.Errorf("leases %+v, restored %+v", a.sm.Leases(), b.Leases())
	}
	la, _ := a.sm.Lease(5)
	lb, _ := b.Lease(5)
	if !slices.Equal(la.Keys, lb.Keys) || !slices.Equal(lb.Keys, []string{"a", "c"}) {
		t.Errorf("lease 5 keys %v, restored %v", la.Keys, lb.Keys)
	}
	// Both go on the same way.
	rb := b.Apply(b.AppliedIndex()+1, t0+200, revokeCmd(5))
	ra := a.apply(t0+200, revokeCmd(5))
	if !equalEvents(ra.Events, rb.Events) {
		t.Errorf("revoke events %v, restored %v", ra.Events, rb.Events)
	}
	assertSameState(t, a.sm, b)

	// A key naming a lease the snapshot lacks is corrupt.
	c := newApplier(t)
	c.apply(t0, grantCmd(4, 30))
	c.txn(t0, leasePut("a", "1", 4))
	snap := c.sm.Snapshot()
	snap.leases = nil
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if err := New().Restore(&buf); !errors.Is(err, ErrCorruptSnapshot) {
		t.Errorf("restore of a key with a missing lease: %v, want ErrCorruptSnapshot", err)
	}
}

// TestLeaseDeterministic: the random log with lease commands gives the
// same state on two state machines, one of them restarted from a snapshot
// half way.
func TestLeaseDeterministic(t *testing.T) {
	log := randomLog(5, 2000)
	a, b := New(), New()
	for i, e := range log {
		applyEntry(t, a, e)
		if i == len(log)/2 {
			if err := b.Restore(bytes.NewReader(encode(t, a))); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if i > len(log)/2 {
			applyEntry(t, b, e)
		}
	}
	checkInvariants(t, a)
	checkInvariants(t, b)
	assertSameState(t, a, b)
	if len(a.Leases()) == 0 {
		t.Log("no lease left at the end of the log")
	}
}
