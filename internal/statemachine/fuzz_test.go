package statemachine

import (
	"bytes"
	"errors"
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
		// Applying a decoded command never panics and is deterministic.
		a, b := New(), New()
		ra, rb := a.Apply(1, timeMs, cmd), b.Apply(1, timeMs, cmd)
		if (ra.Err == nil) == (ra.Upsert == nil) || a.Hash() != b.Hash() || !proto.Equal(ra.Upsert, rb.Upsert) {
			t.Fatalf("Apply: %+v vs %+v", ra, rb)
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
			// The target holds state that a failed Restore must keep.
			dst := newApplier(t)
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
			if out := encode(t, dst.sm); !bytes.Equal(out, in) {
				t.Fatalf("re-encoding differs:\n in %x\nout %x", in, out)
			}
		}
	})
}
