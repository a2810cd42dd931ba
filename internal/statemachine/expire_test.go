package statemachine

import (
	"testing"

	"google.golang.org/protobuf/proto"

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
		{t0 + 99, true},
		{t0 + 100, false},
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
	a.upsert(t0, expireAt(put("a", "1"), t0+100)) // seq 1
	a.upsert(t0, expireAt(put("b", "1"), t0+50))  // seq 2
	a.upsert(t0, expireAt(put("c", "1"), t0+100)) // seq 3
	a.upsert(t0, put("d", "1"))                   // seq 4
	a.upsert(t0, ttl(put("e", "1"), 2000))        // seq 5, expires t0+2000

	// Before the expiry nothing is removed.
	a.upsert(t0+49, del("zz"))
	if a.sm.KeyCount() != 5 || a.sm.LastSeq() != 5 {
		t.Fatalf("early sweep: %d keys, last seq %d", a.sm.KeyCount(), a.sm.LastSeq())
	}

	// At t0+100: b (at t0+50), then a and c (at t0+100, key order), each
	// with its own seq; then the command (a delete of an absent key, no seq).
	a.upsert(t0+100, del("zz"))
	if got := a.sm.LastSeq(); got != 8 {
		t.Fatalf("LastSeq = %d, want 8", got)
	}
	var order []string
	var seqs []uint64
	for _, c := range a.sm.mu.changes {
		order = append(order, c.key)
		seqs = append(seqs, c.seq)
	}
	if want := []string{"b", "a", "c"}; !equalStrings(order, want) || seqs[0] != 6 || seqs[1] != 7 || seqs[2] != 8 {
		t.Fatalf("sweep removed %v with seqs %v, want %v with 6, 7, 8", order, seqs, want)
	}
	if got := keysOf(dump(a.sm)); !equalStrings(got, []string{"d", "e"}) {
		t.Fatalf("keys after sweep = %v", got)
	}
	checkInvariants(t, a.sm)

	// The clock never goes back: an entry stamped earlier neither revives
	// anything nor computes ttl from the earlier time.
	a.upsert(t0+3000, put("f", "1")) // sweeps e
	r := a.upsert(t0+1000, ttl(put("g", "1"), 100))
	if r.Result.ExpireAtMs != t0+3100 {
		t.Fatalf("ttl after the clock went back: expire_at %d, want %d", r.Result.ExpireAtMs, t0+3100)
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
	if a.sm.KeyCount() != 1 || a.sm.LastSeq() != 1 {
		t.Fatal("an empty entry swept")
	}
	a.upsert(t0+10, del("zz"))
	if a.sm.KeyCount() != 0 || a.sm.LastSeq() != 2 {
		t.Fatalf("%d keys, last seq %d; want 0, 2", a.sm.KeyCount(), a.sm.LastSeq())
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
	a.upsert(t0+1000, del("zz"))
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
	r := a.upsert(t0+100, exact(put("lock", "owner2"), 0))
	want := &metapb.UpsertReply{Result: seqV(3, "owner2", 3, 1, 0), Applied: true}
	if !proto.Equal(r, want) {
		t.Fatalf("reply %v, want %v (seq 2 is the expiry)", r, want)
	}
}

func TestExpireAtInThePast(t *testing.T) {
	a := newApplier(t)
	r := a.upsert(t0, expireAt(put("a", "1"), t0-1))
	if !r.Applied || r.Result.ExpireAtMs != t0-1 {
		t.Fatalf("reply %v", r)
	}
	if a.sm.Get("a", t0) != nil {
		t.Fatal("a key already expired is visible")
	}
	a.upsert(t0, del("zz"))
	if a.sm.KeyCount() != 0 || a.sm.LastSeq() != 2 {
		t.Fatalf("%d keys, last seq %d; want 0, 2", a.sm.KeyCount(), a.sm.LastSeq())
	}
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
