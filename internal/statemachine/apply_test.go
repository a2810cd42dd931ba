package statemachine

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/api/peerpb"
)

const t0 = 1_000_000 // entry time of the upsert tests, Unix ms

func TestUpsert(t *testing.T) {
	tests := []struct {
		name  string
		setup []*metapb.UpsertRequest // applied at t0 first
		req   *metapb.UpsertRequest   // applied at t0 + 10
		want  *metapb.UpsertReply
		// wantSeq is LastSeq after req.
		wantSeq uint64
	}{
		{
			name:    "create",
			req:     put("a", "1"),
			want:    &metapb.UpsertReply{Result: seqV(1, "1", 1, 1, 0), Applied: true},
			wantSeq: 1,
		},
		{
			name:    "update keeps create_seq, bumps version",
			setup:   []*metapb.UpsertRequest{put("a", "1"), put("b", "x"), put("a", "2")},
			req:     put("a", "3"),
			want:    &metapb.UpsertReply{Prev: seqV(3, "2", 1, 2, 0), Result: seqV(4, "3", 1, 3, 0), Applied: true},
			wantSeq: 4,
		},
		{
			name:    "explicit ANY",
			setup:   []*metapb.UpsertRequest{put("a", "1")},
			req:     &metapb.UpsertRequest{Key: "a", Value: []byte("2"), MatchSeq: &metapb.MatchSeq{Kind: metapb.MatchSeq_ANY, Seq: 99}},
			want:    &metapb.UpsertReply{Prev: seqV(1, "1", 1, 1, 0), Result: seqV(2, "2", 1, 2, 0), Applied: true},
			wantSeq: 2,
		},
		{
			name:    "empty value",
			req:     put("a", ""),
			want:    &metapb.UpsertReply{Result: seqV(1, "", 1, 1, 0), Applied: true},
			wantSeq: 1,
		},
		{
			name:    "exact 0 creates an absent key",
			req:     exact(put("a", "1"), 0),
			want:    &metapb.UpsertReply{Result: seqV(1, "1", 1, 1, 0), Applied: true},
			wantSeq: 1,
		},
		{
			name:    "exact 0 on a present key does nothing",
			setup:   []*metapb.UpsertRequest{put("a", "1")},
			req:     exact(put("a", "2"), 0),
			want:    &metapb.UpsertReply{Prev: seqV(1, "1", 1, 1, 0), Result: seqV(1, "1", 1, 1, 0)},
			wantSeq: 1,
		},
		{
			name:    "exact n matches",
			setup:   []*metapb.UpsertRequest{put("a", "1"), put("b", "1")},
			req:     exact(put("a", "2"), 1),
			want:    &metapb.UpsertReply{Prev: seqV(1, "1", 1, 1, 0), Result: seqV(3, "2", 1, 2, 0), Applied: true},
			wantSeq: 3,
		},
		{
			name:    "exact n mismatch",
			setup:   []*metapb.UpsertRequest{put("a", "1"), put("b", "1")},
			req:     exact(put("a", "2"), 2),
			want:    &metapb.UpsertReply{Prev: seqV(1, "1", 1, 1, 0), Result: seqV(1, "1", 1, 1, 0)},
			wantSeq: 2,
		},
		{
			name:    "exact n on an absent key",
			req:     exact(put("a", "1"), 1),
			want:    &metapb.UpsertReply{},
			wantSeq: 0,
		},
		{
			name:    "ge equal matches",
			setup:   []*metapb.UpsertRequest{put("b", "1"), put("a", "1")},
			req:     ge(put("a", "2"), 2),
			want:    &metapb.UpsertReply{Prev: seqV(2, "1", 2, 1, 0), Result: seqV(3, "2", 2, 2, 0), Applied: true},
			wantSeq: 3,
		},
		{
			name:    "ge greater matches",
			setup:   []*metapb.UpsertRequest{put("b", "1"), put("a", "1")},
			req:     ge(put("a", "2"), 1),
			want:    &metapb.UpsertReply{Prev: seqV(2, "1", 2, 1, 0), Result: seqV(3, "2", 2, 2, 0), Applied: true},
			wantSeq: 3,
		},
		{
			name:    "ge mismatch",
			setup:   []*metapb.UpsertRequest{put("a", "1")},
			req:     ge(put("a", "2"), 2),
			want:    &metapb.UpsertReply{Prev: seqV(1, "1", 1, 1, 0), Result: seqV(1, "1", 1, 1, 0)},
			wantSeq: 1,
		},
		{
			name:    "ge 0 on an absent key matches",
			req:     ge(put("a", "1"), 0),
			want:    &metapb.UpsertReply{Result: seqV(1, "1", 1, 1, 0), Applied: true},
			wantSeq: 1,
		},
		{
			name:    "delete present takes no seq",
			setup:   []*metapb.UpsertRequest{put("a", "1"), put("a", "2")},
			req:     del("a"),
			want:    &metapb.UpsertReply{Prev: seqV(2, "2", 1, 2, 0), Applied: true},
			wantSeq: 2,
		},
		{
			name:    "delete absent takes no seq",
			setup:   []*metapb.UpsertRequest{put("b", "1")},
			req:     del("a"),
			want:    &metapb.UpsertReply{Applied: true},
			wantSeq: 1,
		},
		{
			name:    "delete with exact match",
			setup:   []*metapb.UpsertRequest{put("a", "1")},
			req:     exact(del("a"), 1),
			want:    &metapb.UpsertReply{Prev: seqV(1, "1", 1, 1, 0), Applied: true},
			wantSeq: 1,
		},
		{
			name:    "delete with exact mismatch",
			setup:   []*metapb.UpsertRequest{put("a", "1")},
			req:     exact(del("a"), 5),
			want:    &metapb.UpsertReply{Prev: seqV(1, "1", 1, 1, 0), Result: seqV(1, "1", 1, 1, 0)},
			wantSeq: 1,
		},
		{
			name:    "delete absent with exact mismatch",
			req:     exact(del("a"), 5),
			want:    &metapb.UpsertReply{},
			wantSeq: 0,
		},
		{
			name:    "recreate after delete restarts create_seq and version",
			setup:   []*metapb.UpsertRequest{put("a", "1"), put("a", "2"), del("a")},
			req:     put("a", "3"),
			want:    &metapb.UpsertReply{Result: seqV(3, "3", 3, 1, 0), Applied: true},
			wantSeq: 3,
		},
		{
			name:    "as_is keeps the value, takes a seq, sets the expiry anew",
			setup:   []*metapb.UpsertRequest{ttl(put("a", "1"), 100)},
			req:     ttl(&metapb.UpsertRequest{Key: "a", Op: metapb.UpsertRequest_AS_IS, Value: []byte("ignored")}, 500),
			want:    &metapb.UpsertReply{Prev: seqV(1, "1", 1, 1, t0+100), Result: seqV(2, "1", 1, 2, t0+10+500), Applied: true},
			wantSeq: 2,
		},
		{
			name:    "as_is without an expiry clears it",
			setup:   []*metapb.UpsertRequest{ttl(put("a", "1"), 100)},
			req:     &metapb.UpsertRequest{Key: "a", Op: metapb.UpsertRequest_AS_IS},
			want:    &metapb.UpsertReply{Prev: seqV(1, "1", 1, 1, t0+100), Result: seqV(2, "1", 1, 2, 0), Applied: true},
			wantSeq: 2,
		},
		{
			name:    "as_is on an absent key does nothing",
			setup:   []*metapb.UpsertRequest{put("b", "1")},
			req:     &metapb.UpsertRequest{Key: "a", Op: metapb.UpsertRequest_AS_IS},
			want:    &metapb.UpsertReply{Applied: true},
			wantSeq: 1,
		},
		{
			name:    "ttl wins over expire_at_ms, as in databend-meta",
			req:     expireAt(ttl(put("a", "1"), 10), t0+5000),
			want:    &metapb.UpsertReply{Result: seqV(1, "1", 1, 1, t0+20), Applied: true},
			wantSeq: 1,
		},
		{
			name:    "expire_at in seconds",
			req:     &metapb.UpsertRequest{Key: "a", Value: []byte("1"), ExpireAt: proto.Uint64(2_000_000_000)},
			want:    &metapb.UpsertReply{Result: seqV(1, "1", 1, 1, 2_000_000_000_000), Applied: true},
			wantSeq: 1,
		},
		{
			name:    "expire_at in milliseconds",
			req:     &metapb.UpsertRequest{Key: "a", Value: []byte("1"), ExpireAt: proto.Uint64(2_000_000_000_000)},
			want:    &metapb.UpsertReply{Result: seqV(1, "1", 1, 1, 2_000_000_000_000), Applied: true},
			wantSeq: 1,
		},
		{
			name:    "ttl is relative to the entry time",
			req:     ttl(put("a", "1"), 500),
			want:    &metapb.UpsertReply{Result: seqV(1, "1", 1, 1, t0+10+500), Applied: true},
			wantSeq: 1,
		},
		{
			name:    "expire_at is absolute",
			req:     expireAt(put("a", "1"), t0+5000),
			want:    &metapb.UpsertReply{Result: seqV(1, "1", 1, 1, t0+5000), Applied: true},
			wantSeq: 1,
		},
		{
			name:    "re-put without ttl clears expiry",
			setup:   []*metapb.UpsertRequest{ttl(put("a", "1"), 500)},
			req:     put("a", "2"),
			want:    &metapb.UpsertReply{Prev: seqV(1, "1", 1, 1, t0+500), Result: seqV(2, "2", 1, 2, 0), Applied: true},
			wantSeq: 2,
		},
		{
			name:    "ttl saturates",
			req:     ttl(put("a", "1"), ^uint64(0)),
			want:    &metapb.UpsertReply{Result: seqV(1, "1", 1, 1, ^uint64(0)), Applied: true},
			wantSeq: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newApplier(t)
			for _, req := range tt.setup {
				a.upsert(t0, req)
			}
			got := a.upsert(t0+10, tt.req)
			if !equalSeqs(got, tt.want) {
				t.Fatalf("reply\n got %v\nwant %v", got, tt.want)
			}
			if seq := a.sm.LastSeq(); seq != tt.wantSeq {
				t.Fatalf("LastSeq = %d, want %d", seq, tt.wantSeq)
			}
			if g := a.sm.Get(tt.req.Key, t0+10); !equalSeqs(g, tt.want.Result) {
				t.Fatalf("Get = %v, want the result %v", g, tt.want.Result)
			}
			checkInvariants(t, a.sm)
		})
	}
}

func TestApplyRejects(t *testing.T) {
	tests := []struct {
		name string
		cmd  *peerpb.Command
		want error
	}{
		{"nil command", nil, ErrEmptyCommand},
		{"no body", &peerpb.Command{Proposer: 1, RequestId: 2}, ErrEmptyCommand},
		{"nil upsert", &peerpb.Command{Body: &peerpb.Command_Upsert{}}, ErrEmptyCommand},
		{"empty key", upsertCmd(put("", "1")), ErrInvalidUpsert},
		{"expire_at_ms and expire_at", upsertCmd(&metapb.UpsertRequest{Key: "a", ExpireAtMs: t0 + 10, ExpireAt: proto.Uint64(5)}), ErrInvalidUpsert},
		{"unknown op", upsertCmd(&metapb.UpsertRequest{Key: "a", Op: 7}), ErrInvalidUpsert},
		{"unknown match kind", upsertCmd(&metapb.UpsertRequest{Key: "a", MatchSeq: &metapb.MatchSeq{Kind: 9}}), ErrInvalidUpsert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newApplier(t)
			a.upsert(t0, put("a", "0"))
			a.upsert(t0, ttl(put("x", "0"), 50))
			before := dump(a.sm)

			res := a.sm.Apply(3, t0+100, tt.cmd)
			if !errors.Is(res.Err, tt.want) || res.Upsert != nil {
				t.Fatalf("result %+v, want error %v", res, tt.want)
			}
			if got := a.sm.AppliedIndex(); got != 3 {
				t.Fatalf("AppliedIndex = %d, want 3", got)
			}
			// The sweep still ran (x expired at t0+50): x gone, a
			// unchanged, one revision, no seq.
			if got := a.sm.LastSeq(); got != 2 {
				t.Fatalf("LastSeq = %d, want 2 (two writes; an expiry takes none)", got)
			}
			if got := a.sm.Revision(); got != 4 {
				t.Fatalf("Revision = %d, want 4 (two writes, one expiry)", got)
			}
			if got := dump(a.sm); !equalKVs(got, before[:1]) {
				t.Fatalf("state changed: %v, want %v", got, before[:1])
			}
			if got := a.sm.NowMs(); got != t0+100 {
				t.Fatalf("NowMs = %d, want %d", got, t0+100)
			}
		})
	}
}

func TestStaleIndex(t *testing.T) {
	a := newApplier(t)
	a.upsert(t0, put("a", "1"))
	a.sm.ApplyEmpty(5)
	h := a.sm.Hash()

	if res := a.sm.Apply(5, t0+100, upsertCmd(put("a", "2"))); !errors.Is(res.Err, ErrStaleIndex) {
		t.Fatalf("Apply at the applied index: %+v", res)
	}
	if res := a.sm.Apply(2, t0+100, upsertCmd(put("a", "2"))); !errors.Is(res.Err, ErrStaleIndex) {
		t.Fatalf("Apply below the applied index: %+v", res)
	}
	if err := a.sm.ApplyConfChange(4, 1, confChange(nil)); !errors.Is(err, ErrStaleIndex) {
		t.Fatalf("ApplyConfChange below the applied index: %v", err)
	}
	a.sm.ApplyEmpty(3)
	if got := a.sm.AppliedIndex(); got != 5 {
		t.Fatalf("AppliedIndex = %d, want 5", got)
	}
	if a.sm.Hash() != h || a.sm.NowMs() != t0 {
		t.Fatal("a stale entry changed the state")
	}
}

// TestChanges checks the change list that watchers will be fed from: a
// delete and an expiry take no seq; every change of an entry has its
// revision, and an entry that changes nothing takes none.
func TestChanges(t *testing.T) {
	a := newApplier(t)
	a.upsert(t0, ttl(put("b", "1"), 10)) // seq 1, revision 2
	a.upsert(t0, ttl(put("a", "1"), 10)) // seq 2, revision 3
	a.upsert(t0, put("c", "1"))          // seq 3, revision 4
	a.upsert(t0+20, put("c", "2"))       // sweeps b then a (same expiry, seq order); seq 4, revision 5

	got := a.sm.mu.changes
	want := []struct {
		key       string
		seq       uint64
		prev, cur uint64 // seqs; 0 = absent
	}{
		{"b", 1, 1, 0},
		{"a", 2, 2, 0},
		{"c", 4, 3, 4},
	}
	if len(got) != len(want) {
		t.Fatalf("changes = %+v, want %+v", got, want)
	}
	for i, w := range want {
		c := got[i]
		if c.key != w.key || c.seq() != w.seq || c.prev.meta().seq != w.prev || c.cur.meta().seq != w.cur || c.rev != 5 {
			t.Errorf("change %d = %+v (revision %d), want %+v at revision 5", i, c, c.rev, w)
		}
	}
	if a.sm.LastSeq() != 4 || a.sm.Revision() != 5 {
		t.Fatalf("last seq %d, revision %d; want 4, 5", a.sm.LastSeq(), a.sm.Revision())
	}

	a.upsert(t0+30, del("c"))
	if got := a.sm.mu.changes; len(got) != 1 || got[0].key != "c" || got[0].seq() != 4 || got[0].cur.present() || got[0].rev != 6 {
		t.Fatalf("delete changes = %+v", got)
	}
	a.upsert(t0+30, del("c")) // absent: no change
	if got := a.sm.mu.changes; len(got) != 0 {
		t.Fatalf("delete of an absent key made changes %+v", got)
	}
	if a.sm.LastSeq() != 4 || a.sm.Revision() != 6 {
		t.Fatalf("after the deletes: last seq %d, revision %d; want 4 (a delete takes no seq), 6 (nor does a no-op take a revision)",
			a.sm.LastSeq(), a.sm.Revision())
	}
}

// ApplyWith's options leave out only copies: two state machines given the
// same log, one with everything and one without replies or events, reach
// the same state and history, and the reply still says whether it applied.
func TestApplyOptions(t *testing.T) {
	cmds := []*peerpb.Command{
		upsertCmd(put("a", "1")),
		upsertCmd(ttl(put("b", "2"), 10)),
		upsertCmd(&metapb.UpsertRequest{Key: "a", Value: []byte("x"), MatchSeq: &metapb.MatchSeq{Kind: metapb.MatchSeq_EXACT, Seq: 9}}), // not applied
		upsertCmd(del("a")),
		upsertCmd(put("c", "3")), // sweeps b
		txnCmd(&metapb.TxnRequest{IfThen: []*metapb.TxnOp{{Request: &metapb.TxnOp_Put{Put: &metapb.TxnPut{Key: "d", Value: []byte("4")}}}}}),
	}
	full, quiet := New(), New()
	for i, cmd := range cmds {
		index, at := uint64(i+1), uint64(t0+10*i)
		want := full.Apply(index, at, cmd)
		got := quiet.ApplyWith(index, at, cmd, ApplyOptions{NoReply: true, NoEvents: true})
		if got.Events != nil {
			t.Errorf("command %d: events %v with NoEvents", i, got.Events)
		}
		if (got.Err == nil) != (want.Err == nil) || (got.Txn == nil) != (want.Txn == nil) {
			t.Fatalf("command %d: %+v, want %+v but the copies", i, got, want)
		}
		if want.Upsert != nil {
			if got.Upsert.GetApplied() != want.Upsert.GetApplied() || got.Upsert.GetPrev() != nil || got.Upsert.GetResult() != nil {
				t.Errorf("command %d: reply %v with NoReply, want only applied=%v", i, got.Upsert, want.Upsert.GetApplied())
			}
		}
		if want.Txn != nil && !equalSeqs(got.Txn, want.Txn) {
			t.Errorf("command %d: txn reply %v, want %v (built whatever NoReply says)", i, got.Txn, want.Txn)
		}
	}
	if full.Hash() != quiet.Hash() || full.LastSeq() != quiet.LastSeq() {
		t.Fatalf("states differ: hash %x/%x, last seq %d/%d", full.Hash(), quiet.Hash(), full.LastSeq(), quiet.LastSeq())
	}
	var a, b []*metapb.Event
	if err := full.EventsBetween(1, full.Revision(), func(e *metapb.Event) bool { a = append(a, e); return true }); err != nil {
		t.Fatal(err)
	}
	if err := quiet.EventsBetween(1, quiet.Revision(), func(e *metapb.Event) bool { b = append(b, e); return true }); err != nil {
		t.Fatal(err)
	}
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("histories of %d and %d events", len(a), len(b))
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
			t.Errorf("history event %d: %v, want %v", i, b[i], a[i])
		}
	}
}
