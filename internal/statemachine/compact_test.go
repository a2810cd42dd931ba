package statemachine

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/api/peerpb"
)

func compactCmd(rev uint64) *peerpb.Command {
	return &peerpb.Command{Body: &peerpb.Command_Compact{Compact: &peerpb.CompactRequest{Revision: rev}}}
}

// compactRevisionOf returns the CompactRevision of err's CompactedError.
func compactRevisionOf(t *testing.T, err error) uint64 {
	t.Helper()
	var ce *CompactedError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCompacted) {
		t.Fatalf("error %v, want a CompactedError", err)
	}
	return ce.CompactRevision
}

// TestCompact follows etcd's TestKVCompactError and TestV3CompactCurrentRev:
// a compaction at a revision keeps it readable, refuses the ones below,
// and a second compaction at it, or one in the future, is refused.
func TestCompact(t *testing.T) {
	a := newApplier(t)
	for _, v := range []string{"1", "2", "3", "4", "5"} {
		a.upsert(t0, put("foo", v)) // revisions 2..6
	}
	if res := a.apply(t0, compactCmd(7)); !errors.Is(res.Err, ErrFutureRevision) {
		t.Fatalf("compact beyond the revision: %v, want ErrFutureRevision", res.Err)
	}
	res := a.apply(t0, compactCmd(4))
	if res.Err != nil || res.Compact.CompactRevision != 4 || res.Compact.Revision != 6 {
		t.Fatalf("compact at 4: %+v, %v", res.Compact, res.Err)
	}
	if got := a.sm.CompactRevision(); got != 4 {
		t.Fatalf("CompactRevision %d, want 4", got)
	}
	if res := a.apply(t0, compactCmd(4)); compactRevisionOf(t, res.Err) != 4 {
		t.Fatal("compact at 4 again: want compacted at 4")
	}
	if res := a.apply(t0, compactCmd(3)); compactRevisionOf(t, res.Err) != 4 {
		t.Fatal("compact at 3: want compacted at 4")
	}

	r, rev, err := a.sm.RangeKeys(&metapb.TxnRange{Key: "foo", Revision: 4}, t0)
	if err != nil || rev != 6 || len(r.GetKvs()) != 1 || string(r.GetKvs()[0].GetValue().GetData()) != "3" {
		t.Fatalf("range at 4: %v, %d, %v; want foo=3 at store revision 6", r, rev, err)
	}
	if _, _, err := a.sm.RangeKeys(&metapb.TxnRange{Key: "foo", Revision: 3}, t0); compactRevisionOf(t, err) != 4 {
		t.Fatal("range at 3: want compacted at 4")
	}
	if err := a.sm.EventsBetween(3, 6, func(*metapb.Event) bool { return true }); compactRevisionOf(t, err) != 4 {
		t.Fatal("events from 3: want compacted at 4")
	}
	got, err := eventsBetween(a.sm, 4, 6)
	if err != nil || len(got) != 3 || got[0].GetRevision() != 4 {
		t.Fatalf("events from 4: %v, %v; want revisions 4..6", got, err)
	}

	// The compaction is replicated state: a snapshot carries it.
	restored := New()
	if err := restored.Restore(bytes.NewReader(encode(t, a.sm))); err != nil {
		t.Fatal(err)
	}
	if got := restored.CompactRevision(); got != 4 {
		t.Fatalf("restored CompactRevision %d, want 4", got)
	}
	assertSameState(t, a.sm, restored)
}

// TestRangePastInTxn: a transaction's range at a past revision reads the
// history, not the ops before it.
func TestRangePastInTxn(t *testing.T) {
	a := newApplier(t)
	a.upsert(t0, put("k", "old")) // 2
	a.upsert(t0, put("k", "new")) // 3
	reply := a.txn(t0, &metapb.TxnRequest{IfThen: []*metapb.TxnOp{
		opPut("k", "newest"),
		{Request: &metapb.TxnOp_Range{Range: &metapb.TxnRange{Key: "k", Revision: 2}}},
		{Request: &metapb.TxnOp_Range{Range: &metapb.TxnRange{Key: "k"}}},
	}})
	past := reply.GetResponses()[1].GetRange().GetKvs()
	now := reply.GetResponses()[2].GetRange().GetKvs()
	if len(past) != 1 || string(past[0].GetValue().GetData()) != "old" || len(now) != 1 || string(now[0].GetValue().GetData()) != "newest" {
		t.Fatalf("range at 2: %v, current: %v; want old, newest", past, now)
	}
}

// TestHistoryRetention: changes older than the retention, by the entries'
// time, leave the history at the next entry.
func TestHistoryRetention(t *testing.T) {
	a := newApplier(t, WithHistoryRetention(time.Minute))
	a.upsert(t0, put("a", "1"))        // 2
	a.upsert(t0+30_000, put("a", "2")) // 3
	a.upsert(t0+60_000, put("a", "3")) // 4: 2 is exactly a minute old, kept
	if got := a.sm.CompactRevision(); got != 1 {
		t.Fatalf("CompactRevision %d, want 1", got)
	}
	a.upsert(t0+60_001, put("b", "1")) // 5: 2 is over a minute old
	if got := a.sm.CompactRevision(); got != 3 {
		t.Fatalf("CompactRevision %d, want 3", got)
	}
	a.upsert(t0+200_000, put("b", "2")) // 6: only itself is recent
	if got := a.sm.CompactRevision(); got != 6 {
		t.Fatalf("CompactRevision %d, want 6", got)
	}
	if _, _, err := a.sm.RangeKeys(&metapb.TxnRange{Key: "a", Revision: 5}, t0); compactRevisionOf(t, err) != 6 {
		t.Fatal("range at 5: want compacted at 6")
	}
}
