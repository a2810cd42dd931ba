package statemachine

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/api/peerpb"
)

func FuzzDecodeEntry(f *testing.F) {
	for _, cmd := range []*peerpb.Command{
		upsertCmd(put("a", "1")),
		upsertCmd(expireAt(ttl(ge(del("key/with/slashes"), 7), 10), 20)),
		{Proposer: 3, RequestId: 1 << 40},
		upsertCmd(&metapb.UpsertRequest{Key: "k", Op: 9, MatchSeq: &metapb.MatchSeq{Kind: 5}}),
		txnCmd(&metapb.TxnRequest{
			Condition: []*metapb.TxnCondition{condSeq("a", EQ, 0), condValue("b", GT, "x"), condPrefix("p/", LE, 3)},
			IfThen: []*metapb.TxnOp{
				opPut("a", "1"), opGet("a"), opDel("b", matchExact(2)), opDelPrefix("p/"),
				opIncr("n", 3, 10, nil), opSeq("q/", "n", "v", 100),
				opPutReq(&metapb.TxnPut{Key: "t", Value: []byte("v"), ExpireAtMs: 5}),
			},
			ElseThen: []*metapb.TxnOp{opGet("a")},
		}),
		txnCmd(&metapb.TxnRequest{Branches: []*metapb.ConditionalOps{
			{Predicate: &metapb.BoolExpression{Combiner: metapb.BoolExpression_OR, Children: []*metapb.BoolExpression{
				{Conditions: []*metapb.TxnCondition{condSeq("a", NE, 0)}},
			}}, Ops: []*metapb.TxnOp{opPut("x", "1")}},
			{Ops: []*metapb.TxnOp{opIncr("n", math.MaxInt64, math.MaxUint64, nil), opIncr("n", math.MinInt64, 0, nil)}},
		}}),
		txnCmd(&metapb.TxnRequest{IfThen: []*metapb.TxnOp{{}}, Branches: []*metapb.ConditionalOps{{}}}),
	} {
		data, err := EncodeEntry(1_700_000_000_000, cmd)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, 0, 0x52, 0x00})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff})

	f.Fuzz(func(t *testing.T, data []byte) {
		orig := bytes.Clone(data)
		timeMs, cmd, err := DecodeEntry(data)
		if !bytes.Equal(data, orig) {
			t.Fatal("DecodeEntry modified its input")
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidEntry) && !errors.Is(err, ErrUnknownEntryVersion) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			validHeader := len(data) >= EntryHeaderSize && data[0] == EntryVersion
			if Restamp(bytes.Clone(data), 1) != validHeader {
				t.Fatalf("Restamp = %v for a header that is valid: %v", !validHeader, validHeader)
			}
			return
		}
		// Re-encoding gives an entry that decodes to the same thing.
		again, err := EncodeEntry(timeMs, cmd)
		if err != nil {
			t.Fatal(err)
		}
		timeMs2, cmd2, err := DecodeEntry(again)
		if err != nil || timeMs2 != timeMs || !proto.Equal(cmd, cmd2) {
			t.Fatalf("re-encoded entry decodes to (%d, %v, %v)", timeMs2, cmd2, err)
		}
		if !Restamp(data, timeMs+1) {
			t.Fatal("Restamp rejected a valid entry")
		}
		// Applying a decoded command never panics and is deterministic,
		// also on a state with keys it may refer to.
		a, b := New(), New()
		for _, sm := range []*StateMachine{a, b} {
			for i, req := range []*metapb.UpsertRequest{put("a", "1"), put("n", "7"), ttl(put("p/1", "x"), 1), put("b", "y")} {
				sm.Apply(uint64(i+1), 0, upsertCmd(req))
			}
		}
		ra, rb := a.Apply(5, timeMs, cmd), b.Apply(5, timeMs, cmd)
		if n := btoi(ra.Err != nil) + btoi(ra.Upsert != nil) + btoi(ra.Txn != nil); n != 1 {
			t.Fatalf("result with %d of Err, Upsert, Txn: %+v", n, ra)
		}
		if a.Hash() != b.Hash() || !proto.Equal(ra.Upsert, rb.Upsert) || !proto.Equal(ra.Txn, rb.Txn) ||
			!equalEvents(ra.Events, rb.Events) || fmt.Sprint(ra.Err) != fmt.Sprint(rb.Err) {
			t.Fatalf("Apply: %+v vs %+v", ra, rb)
		}
		// The events share the entry's revision, the state's revision now,
		// and are the history.
		if len(ra.Events) > 0 {
			rev := a.Revision()
			for _, e := range ra.Events {
				if e.Revision != rev {
					t.Fatalf("events not all at revision %d: %v", rev, ra.Events)
				}
			}
			hist, err := eventsBetween(a, rev, rev)
			if err != nil || !equalEvents(hist, ra.Events) {
				t.Fatalf("history %v (%v), events %v", hist, err, ra.Events)
			}
		} else if a.Revision() != 5 {
			t.Fatalf("no events but revision %d, want the 4 puts' 5", a.Revision())
		}
		checkInvariants(t, a)
	})
}

func FuzzRestore(f *testing.F) {
	seeds := []*StateMachine{New()}
	a := newApplier(f)
	a.upsert(t0, put("a", "1"))
	a.upsert(t0, ttl(put("b", "22"), 100))
	a.upsert(t0, put("c", ""))
	a.upsert(t0+1, exact(put("a", "2"), 1))
	_ = a.conf(confChange(nodeCtx(1, "127.0.0.1:1", "127.0.0.1:2"), single(addVoter, 1)))
	_ = a.conf(confChange(nodeCtx(2, "r2", "g2"), single(addLearner, 2)))
	seeds = append(seeds, a.sm)
	b := New()
	for _, e := range randomLog(3, 200) {
		applyEntry(f, b, e)
	}
	seeds = append(seeds, b)
	c := New(WithHistorySize(7)) // a history that dropped events
	for _, e := range randomLog(4, 100) {
		applyEntry(f, c, e)
	}
	seeds = append(seeds, c)
	for _, sm := range seeds {
		data := encode(f, sm)
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	f.Add([]byte(snapshotMagic))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		// Most mutations break the checksum; also try each input with a
		// fixed checksum so the structural checks get explored.
		for _, in := range [][]byte{data, fixCRC(data)} {
			// The target holds state that a failed Restore must keep. Its
			// history is unbounded so that nothing restored is trimmed.
			dst := newApplier(t, WithHistorySize(math.MaxInt))
			dst.upsert(t0, put("keep", "me"))
			wantHash := dst.sm.Hash()
			err := dst.sm.Restore(bytes.NewReader(in))
			if err != nil {
				if !errors.Is(err, ErrCorruptSnapshot) {
					t.Fatalf("error %v does not wrap ErrCorruptSnapshot", err)
				}
				if dst.sm.Hash() != wantHash || dst.sm.AppliedIndex() != 1 {
					t.Fatal("a failed Restore changed the state")
				}
				continue
			}
			// A valid snapshot has exactly one encoding.
			checkInvariants(t, dst.sm)
			out := encode(t, dst.sm)
			if !bytes.Equal(out, in) {
				t.Fatalf("re-encoding differs:\n in %x\nout %x", in, out)
			}
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
