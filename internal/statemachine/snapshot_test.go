package statemachine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"google.golang.org/protobuf/proto"
)

// TestSameLogSameState applies one generated log to two fresh state
// machines: every result, the contents and the Hash must be equal.
func TestSameLogSameState(t *testing.T) {
	for seed := range uint64(5) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			log := randomLog(seed, 3000)
			a, b := New(), New()
			for _, e := range log {
				ra, rb := applyEntry(t, a, e), applyEntry(t, b, e)
				if ra != rb {
					t.Fatalf("entry %d: results differ: %s vs %s", e.index, ra, rb)
				}
			}
			checkInvariants(t, a)
			assertSameState(t, a, b)
			if a.LastSeq() == 0 || a.KeyCount() == 0 || len(a.Nodes()) == 0 {
				t.Fatalf("the log exercised little: last seq %d, %d keys, %d nodes",
					a.LastSeq(), a.KeyCount(), len(a.Nodes()))
			}
			if !bytes.Equal(encode(t, a), encode(t, b)) {
				t.Fatal("snapshot encodings differ")
			}
		})
	}
}

func assertSameState(t *testing.T, a, b *StateMachine) {
	t.Helper()
	if a.Hash() != b.Hash() {
		t.Errorf("Hash %x != %x", a.Hash(), b.Hash())
	}
	if a.AppliedIndex() != b.AppliedIndex() || a.LastSeq() != b.LastSeq() || a.NowMs() != b.NowMs() {
		t.Errorf("index/seq/now: %d/%d/%d vs %d/%d/%d", a.AppliedIndex(), a.LastSeq(), a.NowMs(),
			b.AppliedIndex(), b.LastSeq(), b.NowMs())
	}
	if !equalKVs(dump(a), dump(b)) {
		t.Errorf("contents differ")
	}
	na, ma := a.Membership()
	nb, mb := b.Membership()
	if ma != mb {
		t.Errorf("membership log id %+v vs %+v", ma, mb)
	}
	if len(na) != len(nb) {
		t.Fatalf("nodes %v vs %v", na, nb)
	}
	for i := range na {
		if !proto.Equal(na[i], nb[i]) {
			t.Errorf("nodes %v vs %v", na, nb)
		}
	}
}

func TestHashSeesEveryField(t *testing.T) {
	a := newApplier(t)
	a.upsert(t0, put("a", "1"))
	seen := map[uint64]string{a.sm.Hash(): "base"}
	steps := []struct {
		name string
		do   func()
	}{
		{"value", func() { a.upsert(t0, put("a", "2")) }},
		{"expiry", func() { a.upsert(t0, ttl(put("a", "2"), 100)) }},
		{"clock", func() { a.upsert(t0+1, del("zz")) }},
		{"new key", func() { a.upsert(t0+1, put("b", "")) }},
		{"member", func() { _ = a.conf(confChange(nodeCtx(1, "r", "g"), single(addVoter, 1))) }},
		{"voter flag", func() { _ = a.conf(confChange(nil, single(addLearner, 1))) }},
	}
	for _, s := range steps {
		s.do()
		h := a.sm.Hash()
		if prev, ok := seen[h]; ok {
			t.Fatalf("after %s the hash equals the one after %s", s.name, prev)
		}
		seen[h] = s.name
	}
	// The applied index alone does not change it.
	h := a.sm.Hash()
	a.sm.ApplyEmpty(a.next())
	if a.sm.Hash() != h {
		t.Fatal("an empty entry changed the hash")
	}
}

func TestSnapshotRestore(t *testing.T) {
	log := randomLog(42, 4000)
	half := len(log) / 2

	orig := New()
	for _, e := range log[:half] {
		applyEntry(t, orig, e)
	}
	snap := orig.Snapshot()
	// Apply continues after the snapshot is taken; the snapshot does not see it.
	for _, e := range log[half : half+500] {
		applyEntry(t, orig, e)
	}
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if snap.Index() != uint64(half) {
		t.Fatalf("snapshot index %d, want %d", snap.Index(), half)
	}

	ref := New() // applied exactly up to the snapshot
	for _, e := range log[:half] {
		applyEntry(t, ref, e)
	}
	restored := New()
	applyEntry(t, restored, log[0]) // some state to replace
	if err := restored.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, restored)
	assertSameState(t, restored, ref)

	// Both continue identically, expiry included (the index is rebuilt).
	for _, e := range log[half:] {
		if r1, r2 := applyEntry(t, restored, e), applyEntry(t, ref, e); r1 != r2 {
			t.Fatalf("entry %d: %s vs %s", e.index, r1, r2)
		}
	}
	assertSameState(t, restored, ref)
	checkInvariants(t, restored)
}

func TestSnapshotLargeValues(t *testing.T) {
	a := newApplier(t)
	a.upsert(t0, put("big", strings.Repeat("x", 3<<20+17))) // > chunk
	a.upsert(t0, put("mid", strings.Repeat("y", 40<<10)))   // > bigValue
	a.upsert(t0, put(strings.Repeat("k", 300<<10), "long key"))
	a.upsert(t0, put("small", "z"))
	data := encode(t, a.sm)

	readers := map[string]func() io.Reader{
		"whole":    func() io.Reader { return bytes.NewReader(data) },
		"one byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) },
		"half":     func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) },
		"data+EOF": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(data)) },
	}
	for name, r := range readers {
		t.Run(name, func(t *testing.T) {
			sm := New()
			if err := sm.Restore(r()); err != nil {
				t.Fatal(err)
			}
			assertSameState(t, sm, a.sm)
		})
	}
}

// TestRestoreCorrupt truncates and flips every byte of a small snapshot:
// each must fail with ErrCorruptSnapshot and leave the state unchanged.
func TestRestoreCorrupt(t *testing.T) {
	src := newApplier(t)
	src.upsert(t0, put("a", "1"))
	src.upsert(t0, ttl(put("b", "22"), 100))
	src.upsert(t0, put("c", ""))
	if err := src.conf(confChange(nodeCtx(1, "r1", "g1"), single(addVoter, 1))); err != nil {
		t.Fatal(err)
	}
	data := encode(t, src.sm)

	dst := newApplier(t)
	dst.upsert(t0+5, put("x", "keep me"))
	wantHash, wantIndex := dst.sm.Hash(), dst.sm.AppliedIndex()
	check := func(t *testing.T, input []byte) {
		t.Helper()
		err := dst.sm.Restore(bytes.NewReader(input))
		if !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("Restore(%x) = %v, want ErrCorruptSnapshot", input, err)
		}
		if dst.sm.Hash() != wantHash || dst.sm.AppliedIndex() != wantIndex {
			t.Fatalf("a failed Restore changed the state")
		}
	}
	for n := range len(data) {
		check(t, data[:n])
	}
	for i := range data {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(data)
			bad[i] ^= x
			check(t, bad)
		}
	}
	check(t, append(bytes.Clone(data), 0))
	if err := dst.sm.Restore(bytes.NewReader(data)); err != nil {
		t.Fatalf("the intact snapshot: %v", err)
	}
}

// TestRestoreInvalidStructure builds snapshots with a valid checksum that
// break one structural rule each.
func TestRestoreInvalidStructure(t *testing.T) {
	type rec struct {
		key string
		m   kvMeta
	}
	r := func(key string, seq, createSeq, version uint64) rec {
		return rec{key, kvMeta{seq: seq, createSeq: createSeq, version: version, createRev: 2, modRev: 3}}
	}
	with := func(x rec, f func(*kvMeta)) rec { f(&x.m); return x }
	build := func(lastSeq uint64, nodeIDs []uint64, voter byte, recs []rec, count int, tag byte) []byte {
		return buildSnapshot(lastSeq, nodeIDs, voter, func(e *encoder) {
			for _, r := range recs {
				e.byte(tag)
				e.str(r.key)
				e.value(newKV(r.key, r.m, []byte("v")))
			}
			e.byte(tagEnd)
			e.u64(uint64(count))
		}, func(e *encoder) { e.u64(0); e.u64(0) })
	}
	expiring := with(r("b", 2, 2, 1), func(m *kvMeta) {
		m.flags, m.expireAt, m.proposedAt = metaFlagPresent|metaFlagExpire|metaFlagProposed, t0+5, t0
	})
	good := []rec{r("a", 1, 1, 1), expiring}
	if err := New().Restore(bytes.NewReader(build(2, []uint64{1, 2}, 1, good, 2, tagRecord))); err != nil {
		t.Fatalf("the valid base case: %v", err)
	}
	nonMinimal := build(2, nil, 1, []rec{r("a", 1, 1, 1)}, 1, tagRecord)
	// Re-encode the seq of the record (1, just after the key) as 0x81 0x00.
	i := bytes.Index(nonMinimal, []byte{1, 'a', 1, 1, 1})
	nonMinimal = append(nonMinimal[:i+2:i+2], append([]byte{0x81, 0x00}, nonMinimal[i+3:]...)...)
	// membership sets the membership log id of the valid base case.
	membership := func(index, term uint64) []byte {
		b := bytes.Clone(build(2, nil, 1, good, 2, tagRecord))
		binary.BigEndian.PutUint64(b[buildMembershipOffset:], index)
		binary.BigEndian.PutUint64(b[buildMembershipOffset+8:], term)
		return fixCRC(b)
	}
	if err := New().Restore(bytes.NewReader(membership(7, 3))); err != nil {
		t.Fatalf("a membership log id at the applied index: %v", err)
	}

	tests := map[string][]byte{
		"keys out of order":        build(2, nil, 1, []rec{r("b", 1, 1, 1), r("a", 2, 2, 1)}, 2, tagRecord),
		"duplicate key":            build(2, nil, 1, []rec{r("a", 1, 1, 1), r("a", 2, 2, 1)}, 2, tagRecord),
		"empty key":                build(2, nil, 1, []rec{r("", 1, 1, 1)}, 1, tagRecord),
		"seq 0":                    build(2, nil, 1, []rec{r("a", 0, 1, 1)}, 1, tagRecord),
		"seq > last seq":           build(2, nil, 1, []rec{r("a", 3, 1, 1)}, 1, tagRecord),
		"create_seq > seq":         build(2, nil, 1, []rec{r("a", 1, 2, 1)}, 1, tagRecord),
		"create_seq 0":             build(2, nil, 1, []rec{r("a", 1, 0, 1)}, 1, tagRecord),
		"version 0":                build(2, nil, 1, []rec{r("a", 1, 1, 0)}, 1, tagRecord),
		"create_revision 0":        build(2, nil, 1, []rec{with(r("a", 1, 1, 1), func(m *kvMeta) { m.createRev = 0 })}, 1, tagRecord),
		"create > mod revision":    build(2, nil, 1, []rec{with(r("a", 1, 1, 1), func(m *kvMeta) { m.createRev = 4 })}, 1, tagRecord),
		"mod revision > revision":  build(2, nil, 1, []rec{with(r("a", 1, 1, 1), func(m *kvMeta) { m.modRev = buildRevision + 1 })}, 1, tagRecord),
		"unknown meta flag":        build(2, nil, 1, []rec{with(r("a", 1, 1, 1), func(m *kvMeta) { m.flags = metaFlagPresent | 32 })}, 1, tagRecord),
		"expiry without meta":      build(2, nil, 1, []rec{with(expiring, func(m *kvMeta) { m.flags = metaFlagExpire })}, 1, tagRecord),
		"seconds without expiry":   build(2, nil, 1, []rec{with(r("a", 1, 1, 1), func(m *kvMeta) { m.flags = metaFlagPresent | metaFlagSeconds })}, 1, tagRecord),
		"seconds not whole":        build(2, nil, 1, []rec{with(expiring, func(m *kvMeta) { m.flags |= metaFlagSeconds; m.expireAt = 1_500 })}, 1, tagRecord),
		"seconds beyond the bound": build(2, nil, 1, []rec{with(expiring, func(m *kvMeta) { m.flags |= metaFlagSeconds; m.expireAt = (secondsThreshold + 1) * 1000 })}, 1, tagRecord),
		"count mismatch":           build(2, nil, 1, good, 3, tagRecord),
		"unknown tag":              build(2, nil, 1, good, 2, 7),
		"voter flag 2":             build(2, []uint64{1}, 2, good, 2, tagRecord),
		"nodes unsorted":           build(2, []uint64{2, 1}, 1, good, 2, tagRecord),
		"duplicate node":           build(2, []uint64{1, 1}, 1, good, 2, tagRecord),
		"non-minimal":              fixCRC(nonMinimal),
		"membership after applied": membership(8, 3),
		"membership index 0":       membership(0, 3),
		"membership term 0":        membership(4, 0),
		"bad magic":                fixCRC(append([]byte("XSRVSNAP"), build(2, nil, 1, good, 2, tagRecord)[8:]...)),
		"version 8":                fixCRC(append(append([]byte(snapshotMagic), 0, 0, 0, 8), build(2, nil, 1, good, 2, tagRecord)[12:]...)),
		"version 6":                fixCRC(append(append([]byte(snapshotMagic), 0, 0, 0, 6), build(2, nil, 1, good, 2, tagRecord)[12:]...)),
		"empty":                    {},
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			err := New().Restore(bytes.NewReader(data))
			if !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("err = %v, want ErrCorruptSnapshot", err)
			}
		})
	}
}

// buildRevision is the revision of the snapshots buildSnapshot writes.
const buildRevision = 10

// buildMembershipOffset is where the membership log id (index, then term)
// starts in a snapshot: after the magic, the version and four uint64s.
const buildMembershipOffset = len(snapshotMagic) + 4 + 8*4

// buildSnapshot encodes a snapshot at applied index 7, revision
// buildRevision, clock t0 and membership log id (5, 2) whose key records and history sections
// (compacted revision, count, events) are written by keys and hist, with
// a valid checksum.
func buildSnapshot(lastSeq uint64, nodeIDs []uint64, voter byte, keys, hist func(e *encoder)) []byte {
	var buf bytes.Buffer
	e := newEncoder(&buf)
	members := make([]member, len(nodeIDs))
	for i, id := range nodeIDs {
		members[i] = member{id: id, voter: voter == 1, raftAddr: "r", grpcAddr: "g"}
	}
	e.header(7, lastSeq, buildRevision, t0, LogID{Index: 5, Term: 2}, members, nil)
	if voter > 1 { // an invalid flag: patch the byte after the first id
		b := e.buf
		b[buildMembershipOffset+8*2+4+8] = voter
	}
	keys(e)
	if hist != nil {
		hist(e)
	}
	e.flush()
	e.trailer()
	return buf.Bytes()
}

func TestRestoreReadError(t *testing.T) {
	src := newApplier(t)
	src.upsert(t0, put("a", "1"))
	data := encode(t, src.sm)
	boom := errors.New("disk on fire")
	sm := New()
	err := sm.Restore(io.MultiReader(bytes.NewReader(data[:10]), iotest.ErrReader(boom)))
	if !errors.Is(err, boom) || errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("err = %v, want the reader's error (not corruption)", err)
	}
	if sm.AppliedIndex() != 0 || sm.KeyCount() != 0 {
		t.Fatal("state changed")
	}
}

type failWriter struct{ left int }

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		n := w.left
		w.left = 0
		return n, errors.New("disk full")
	}
	w.left -= len(p)
	return len(p), nil
}

func TestSnapshotWriteError(t *testing.T) {
	a := newApplier(t)
	for i := range 2000 {
		a.upsert(t0, put(fmt.Sprintf("key%05d", i), strings.Repeat("v", 200)))
	}
	for _, limit := range []int{0, 5, 1000, 300_000} {
		n, err := a.sm.Snapshot().WriteTo(&failWriter{left: limit})
		if err == nil || n != int64(limit) {
			t.Errorf("limit %d: n = %d, err = %v", limit, n, err)
		}
	}
}
