package statemachine

import (
	"testing"

	"github.com/metasrv/metasrv/api/metapb"
)

func TestExpiredKeysInvisibleToReads(t *testing.T) {
	a := newApplier(t)
	a.upsert(t0, ttl(put("a", "1"), 100)) // expires at t0+100
	a.upsert(t0, put("b", "1"))

	tests := []struct {
		nowMs   uint64
		visible bool
	}{
		{t0, true},
		{t0 + 100, true}, // not past it yet (databend-meta's rule)
		{t0 + 101, false},
		{t0 + 1_000_000, false},
		{0, true}, // a caller's clock far behind: still visible
	}
	for _, tt := range tests {
		got := a.sm.Get("a", tt.nowMs) != nil
		if got != tt.visible {
			t.Errorf("Get at %d: visible = %v, want %v", tt.nowMs, got, tt.visible)
		}
		mg := a.sm.MGet([]string{"a", "b"}, tt.nowMs)
		if (mg[0].Value != nil) != tt.visible || mg[1].Value == nil {
			t.Errorf("MGet at %d = %v", tt.nowMs, mg)
		}
		var keys []string
		a.sm.List("", 0, tt.nowMs, func(kv *metapb.KV) bool { keys = append(keys, kv.Key); return true })
		if want := map[bool]int{true: 2, false: 1}[tt.visible]; len(keys) != want {
			t.Errorf("List at %d = %v", tt.nowMs, keys)
		}
	}
	// Reads never remove: the key is still stored until the next Apply.
	if n := a.sm.KeyCount(); n != 2 {
		t.Fatalf("KeyCount = %d, want 2", n)
	}
}

func TestExpirySweep(t *testing.T) {
	a := newApplier(t)
	a.upsert(t0, expireAt(put("c", "1"), t0+100)) // seq 1
	a.upsert(t0, expireAt(put("b", "1"), t0+50))  // seq 2
	a.upsert(t0, expireAt(put("a", "1"), t0+100)) // seq 3
	a.upsert(t0, put("d", "1"))                   // seq 4
	a.upsert(t0, ttl(put("e", "1"), 2000))        // seq 5, expires t0+2000
	rev := a.sm.Revision()

	// Up to the expiry time itself nothing is removed.
	a.upsert(t0+50, del("zz"))
	if a.sm.KeyCount() != 5 || a.sm.LastSeq() != 5 || a.sm.Revision() != rev {
		t.Fatalf("early sweep: %d keys, last seq %d, revision %d", a.sm.KeyCount(), a.sm.LastSeq(), a.sm.Revision())
	}

	// Past t0+100: b (at t0+50), then c and a (at t0+100, seq order),
	// taking no seq, all in one revision; then the command (a delete of an
	// absent key).
	a.upsert(t0+101, del("zz"))
	if got := a.sm.LastSeq(); got != 5 {
		t.Fatalf("LastSeq = %d, want 5: removals take no seq", got)
	}
	if got := a.sm.Revision(); got != rev+1 {
		t.Fatalf("Revision = %d, want %d", got, rev+1)
	}
	var order []string
	for _, c := range a.sm.mu.changes {
		order = append(order, c.key)
		if c.rev != rev+1 {
			t.Errorf("change of %s at revision %d, want %d", c.key, c.rev, rev+1)
		}
	}
	if want := []string{"b", "c", "a"}; !equalStrings(order, want) {
		t.Fatalf("sweep removed %v, want %v", order, want)
	}
	if got := keysOf(dump(a.sm)); !equalStrings(got, []string{"d", "e"}) {
		t.Fatalf("keys after sweep = %v", got)
	}
	checkInvariants(t, a.sm)

	// A command runs at its entry's time, as in databend-meta, even when
	// an earlier entry had a later time: ttl counts from it, and nothing
	// swept comes back.
	a.upsert(t0+3000, put("f", "1")) // sweeps e
	r := a.upsert(t0+1000, ttl(put("g", "1"), 100))
	if r.Result.ExpireAtMs != t0+1100 || r.Result.GetMeta().GetProposedAtMs() != t0+1000 {
		t.Fatalf("ttl after the clock went back: %v, want expire_at_ms %d and proposed_at_ms %d", r.Result, t0+1100, t0+1000)
	}
	if got := a.sm.NowMs(); got != t0+3000 {
		t.Fatalf("NowMs = %d, want %d", got, t0+3000)
	}
	if a.sm.Get("e", 0) != nil {
		t.Fatal("e was not swept")
	}
	checkInvariants(t, a.sm)
}

func TestExpiryEmptyEntryDoesNotSweep(t *testing.T) {
	a := newApplier(t)
	a.upsert(t0, ttl(put("a", "1"), 10))
	a.sm.ApplyEmpty(a.next())
	if a.sm.KeyCount() != 1 {
		t.Fatal("an empty entry swept")
	}
	a.upsert(0, del("zz")) // an entry without a time sweeps nothing either
	if a.sm.KeyCount() != 1 {
		t.Fatal("an entry without a time swept")
	}
	a.upsert(t0+11, del("zz"))
	if a.sm.KeyCount() != 0 || a.sm.LastSeq() != 1 {
		t.Fatalf("%d keys, last seq %d; want 0, 1", a.sm.KeyCount(), a.sm.LastSeq())
	}
}

func TestExpiryRescheduled(t *testing.T) {
	a := newApplier(t)
	a.upsert(t0, ttl(put("a", "1"), 10))
	a.upsert(t0, ttl(put("a", "2"), 1000)) // moves the expiry to t0+1000
	a.upsert(t0, ttl(put("b", "1"), 10))
	a.upsert(t0, put("b", "2")) // clears b's expiry

	a.upsert(t0+500, del("zz"))
	if a.sm.KeyCount() != 2 || a.sm.LastSeq() != 4 {
		t.Fatalf("swept at the old expiry: %v", dump(a.sm))
	}
	a.upsert(t0+1001, del("zz"))
	if got := keysOf(dump(a.sm)); !equalStrings(got, []string{"b"}) {
		t.Fatalf("keys = %v, want [b]", got)
	}
	checkInvariants(t, a.sm)
}

// A key whose expiry passed is swept before the command runs, so the
// command sees it absent.
func TestExpiredKeyIsAbsentForTheCommand(t *testing.T) {
	a := newApplier(t)
	a.upsert(t0, ttl(put("lock", "owner1"), 100)) // seq 1
	r := a.upsert(t0+101, exact(put("lock", "owner2"), 0))
	want := &metapb.UpsertReply{Result: seqV(2, "owner2", 2, 1, 0), Applied: true}
	if !equalSeqs(r, want) {
		t.Fatalf("reply %v, want %v (the expiry takes no seq)", r, want)
	}
}

// A put whose expiry is already past at its entry's time takes its seq
// and is deleted at once, as databend-meta does ("it must update first
// then delete", for compatibility with its older state machine).
func TestExpireAtInThePast(t *testing.T) {
	a := newApplier(t)
	a.upsert(t0, put("b", "old"))
	for _, tt := range []struct {
		name    string
		key     string
		prev    *metapb.SeqV
		lastSeq uint64
	}{
		{"absent key", "a", nil, 2},
		{"present key", "b", seqV(1, "old", 1, 1, 0), 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rev := a.sm.Revision()
			res := a.apply(t0, upsertCmd(expireAt(put(tt.key, "1"), t0-1)))
			r := res.Upsert
			if !r.Applied || r.Result != nil || !equalSeqs(r.Prev, tt.prev) {
				t.Fatalf("reply %v, want applied, no result, prev %v", r, tt.prev)
			}
			if a.sm.LastSeq() != tt.lastSeq || a.sm.Get(tt.key, 0) != nil {
				t.Fatalf("last seq %d, want %d; key %v, want absent", a.sm.LastSeq(), tt.lastSeq, a.sm.Get(tt.key, 0))
			}
			// An absent key stays absent: no change, no event, no revision.
			wantEvents, wantRev := 0, rev
			if tt.prev != nil {
				wantEvents, wantRev = 1, rev+1
			}
			if len(res.Events) != wantEvents || a.sm.Revision() != wantRev {
				t.Fatalf("events %v, revision %d; want %d events, revision %d", res.Events, a.sm.Revision(), wantEvents, wantRev)
			}
		})
	}
	// At the entry's time itself the value is not expired: it stays.
	r := a.upsert(t0, expireAt(put("c", "1"), t0))
	if r.Result == nil || a.sm.Get("c", t0) == nil {
		t.Fatalf("a value expiring at the entry's time: %v, want stored", r)
	}
	checkInvariants(t, a.sm)
}

func keysOf(kvs []*metapb.KV) []string {
	out := make([]string, len(kvs))
	for i, kv := range kvs {
		out[i] = kv.Key
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
