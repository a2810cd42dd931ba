package statemachine

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"unicode/utf8"

	"github.com/tidwall/btree"
)

// Snapshot format constants; the format is described in doc.go.
const (
	snapshotMagic = "MSRVSNAP"
	// snapshotVersion is the version written. Version 2 (every history
	// event holds its values) and 1 (no event history: it restores with
	// an empty history) are still read.
	snapshotVersion   = 3
	snapshotVersionV2 = 2
	snapshotVersionV1 = 1

	tagRecord = 1
	tagEnd    = 0

	// Flags of a history event: which of prev and cur are present.
	histPrev = 1
	histCur  = 2
	// Version 3: a present value that is written elsewhere already is not
	// written again. histPrevOfEvent: prev is the cur of the key's
	// previous event in the history. histCurOfRecord: cur is the key's
	// record in the key section.
	histPrevOfEvent = 4
	histCurOfRecord = 8
)

// Snapshot is a consistent, read-only copy of the whole state at one
// applied index: the keys (its View), the member table and the event
// history. It is cheap to take and safe to write from any goroutine while
// Apply continues; Apply never changes what a Snapshot sees.
type Snapshot struct {
	View
	members []member // shared, never modified (the state machine replaces its slice)
	hist    history  // a clone: shares the append-only chunks
}

// Snapshot returns a copy of the current state at AppliedIndex. It takes
// the write lock for an O(1) tree copy (later Applies copy the tree nodes
// they change) and a copy of the history's chunk list
// (O(history size / 256)).
func (sm *StateMachine) Snapshot() *Snapshot {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	return &Snapshot{View: sm.viewLocked(), members: sm.mu.members, hist: sm.mu.hist.clone()}
}

// Index returns the applied index the snapshot was taken at.
func (s *Snapshot) Index() uint64 { return s.index }

// WriteTo writes the snapshot encoding (see doc.go) to w through a buffer
// and returns the number of bytes written. The encoding is deterministic:
// the same state gives the same bytes. It may be called more than once and
// from several goroutines at a time.
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) {
	return s.writeVersion(w, snapshotVersion)
}

// writeVersion writes the encoding of the given version: the current one,
// or version 2 (for tests of reading it).
func (s *Snapshot) writeVersion(w io.Writer, version uint32) (int64, error) {
	e := newEncoder(w)
	e.raw(snapshotMagic)
	e.u32(version)
	e.u64(s.index)
	e.u64(s.lastSeq)
	e.u64(s.nowMs)
	e.u32(uint32(len(s.members)))
	for _, m := range s.members {
		e.u64(m.id)
		if m.voter {
			e.byte(1)
		} else {
			e.byte(0)
		}
		e.str(m.raftAddr)
		e.str(m.grpcAddr)
	}
	var count uint64
	s.tree.Scan(func(v kv) bool {
		m, data := v.parts()
		e.byte(tagRecord)
		e.str(v.key())
		e.str(data)
		e.uvarint(m.seq)
		e.uvarint(m.createSeq)
		e.uvarint(m.version)
		e.uvarint(m.expireAt)
		count++
		return e.err == nil
	})
	e.byte(tagEnd)
	e.u64(count)
	e.u64(uint64(s.hist.n))
	// The cur of each key's latest event so far: a later event's prev is
	// usually that value, and the last event's cur the key's record.
	lastCur := make(map[string]kv, s.hist.n)
	for i := 0; i < s.hist.n && e.err == nil; i++ {
		c := s.hist.at(i)
		e.str(c.key)
		e.uvarint(c.seq)
		flags := s.eventFlags(c, lastCur, version)
		lastCur[c.key] = c.cur
		e.byte(flags)
		if flags&(histPrev|histPrevOfEvent) == histPrev {
			m, data := c.prev.parts()
			e.str(data)
			e.uvarint(m.seq)
			e.uvarint(m.createSeq)
			e.uvarint(m.version)
			e.uvarint(m.expireAt)
		}
		if flags&(histCur|histCurOfRecord) == histCur {
			m, data := c.cur.parts()
			e.str(data)
			e.uvarint(m.createSeq)
			e.uvarint(m.version)
			e.uvarint(m.expireAt)
		}
	}
	e.flush()
	e.trailer()
	if e.err != nil {
		return e.n, fmt.Errorf("statemachine: write snapshot: %w", e.err)
	}
	return e.n, nil
}

// eventFlags returns the flags of history event c: which values it has,
// and which of them need not be written (see histPrevOfEvent,
// histCurOfRecord). lastCur holds the cur of each key's latest event
// before c. Version 2 refers to no value.
func (s *Snapshot) eventFlags(c *change, lastCur map[string]kv, version uint32) byte {
	var flags byte
	if c.prev.present() {
		flags |= histPrev
		if lc, ok := lastCur[c.key]; ok && version >= 3 && sameValue(lc, c.prev) {
			flags |= histPrevOfEvent
		}
	}
	if c.cur.present() {
		flags |= histCur
		if rec, ok := s.tree.Get(keyOnly(c.key)); ok && version >= 3 && sameValue(rec, c.cur) {
			flags |= histCurOfRecord
		}
	}
	return flags
}

// Restore replaces the whole state (keys, applied index, last seq, clock,
// members, event history) with the snapshot read from r, which must hold
// exactly one snapshot encoding. The input is fully read and verified
// before anything changes: on any error the state is unchanged. A truncated
// or corrupt input gives an error wrapping ErrCorruptSnapshot; a read error
// from r is wrapped as it is. Call it from the apply goroutine.
//
// A history longer than this state machine's history size loses its
// oldest events; a version 1 snapshot has none (EventsBetween is then
// ErrCompacted for every seq up to its last seq).
func (sm *StateMachine) Restore(r io.Reader) error {
	st, err := decodeSnapshot(r)
	if err != nil {
		return err
	}
	sm.mu.Lock()
	defer sm.mu.Unlock()
	sm.mu.applied = st.index
	sm.mu.lastSeq = st.lastSeq
	sm.mu.nowMs = st.nowMs
	sm.mu.members = st.members
	sm.mu.tree = st.tree
	sm.mu.exp = st.exp
	sm.mu.hist = st.hist
	for sm.mu.hist.n > sm.historySize {
		sm.mu.hist.dropOldest()
	}
	sm.resetChangesLocked()
	return nil
}

// decoded is a fully read and verified snapshot.
type decoded struct {
	Snapshot
	exp *btree.BTreeG[expKey]
}

// corruptf returns an error wrapping ErrCorruptSnapshot.
func corruptf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorruptSnapshot, fmt.Sprintf(format, args...))
}

func decodeSnapshot(r io.Reader) (*decoded, error) {
	d := newDecoder(r)
	st, err := decodeBody(d)
	if err != nil {
		return nil, d.wrap(err)
	}
	sum := d.sum()
	want, err := d.u32()
	if err != nil {
		return nil, d.wrap(err)
	}
	if sum != want {
		return nil, corruptf("checksum mismatch: computed %08x, trailer says %08x", sum, want)
	}
	if err := d.expectEOF(); err != nil {
		return nil, d.wrap(err)
	}
	return st, nil
}

// decodeBody reads everything up to, not including, the CRC.
func decodeBody(d *decoder) (*decoded, error) {
	magic := make([]byte, len(snapshotMagic))
	if err := d.full(magic); err != nil {
		return nil, err
	}
	if string(magic) != snapshotMagic {
		return nil, corruptf("bad magic %q, want %q: not a metasrv state machine snapshot", magic, snapshotMagic)
	}
	version, err := d.u32()
	if err != nil {
		return nil, err
	}
	if version < snapshotVersionV1 || version > snapshotVersion {
		return nil, corruptf("format version %d, this binary reads versions %d to %d",
			version, snapshotVersionV1, snapshotVersion)
	}
	st := &decoded{exp: newExpIndex()}
	st.tree = newTree()
	for _, p := range []*uint64{&st.index, &st.lastSeq, &st.nowMs} {
		if *p, err = d.u64(); err != nil {
			return nil, err
		}
	}
	nMembers, err := d.u32()
	if err != nil {
		return nil, err
	}
	st.members = make([]member, 0, min(nMembers, 64))
	for i := range nMembers {
		var m member
		if m.id, err = d.u64(); err != nil {
			return nil, err
		}
		if i > 0 && m.id <= st.members[i-1].id {
			return nil, corruptf("member ids not ascending: %d after %d", m.id, st.members[i-1].id)
		}
		voter, err := d.byte()
		if err != nil {
			return nil, err
		}
		if voter > 1 {
			return nil, corruptf("member %d: voter flag %d", m.id, voter)
		}
		m.voter = voter == 1
		if m.raftAddr, err = d.str(); err != nil {
			return nil, err
		}
		if m.grpcAddr, err = d.str(); err != nil {
			return nil, err
		}
		if !utf8.ValidString(m.raftAddr) || !utf8.ValidString(m.grpcAddr) {
			return nil, corruptf("member %d: address is not valid UTF-8", m.id)
		}
		st.members = append(st.members, m)
	}

	var (
		count   uint64
		lastKey string
		exps    []expKey
		scratch []byte
	)
	for {
		tag, err := d.byte()
		if err != nil {
			return nil, err
		}
		if tag == tagEnd {
			break
		}
		if tag != tagRecord {
			return nil, corruptf("record %d: unknown tag %d", count, tag)
		}
		var v kv
		if v, scratch, err = decodeRecord(d, scratch); err != nil {
			return nil, err
		}
		key, m := v.key(), v.meta()
		switch {
		case key == "" || (count > 0 && key <= lastKey):
			return nil, corruptf("record %d: key %q not after %q", count, key, lastKey)
		case !utf8.ValidString(key):
			return nil, corruptf("record %d: key %q is not valid UTF-8", count, key)
		case m.seq == 0 || m.seq > st.lastSeq:
			return nil, corruptf("record %d (key %q): seq %d outside [1, last seq %d]", count, key, m.seq, st.lastSeq)
		case m.createSeq == 0 || m.createSeq > m.seq:
			return nil, corruptf("record %d (key %q): create_seq %d outside [1, seq %d]", count, key, m.createSeq, m.seq)
		case m.version == 0:
			return nil, corruptf("record %d (key %q): version 0", count, key)
		}
		st.tree.Load(v)
		if m.expireAt != 0 {
			exps = append(exps, expKey{at: m.expireAt, key: key})
		}
		lastKey = key
		count++
	}
	n, err := d.u64()
	if err != nil {
		return nil, err
	}
	if n != count {
		return nil, corruptf("trailer counts %d records, found %d", n, count)
	}
	if version >= snapshotVersionV2 {
		if err := decodeHistory(d, st, version); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(exps, func(a, b expKey) int {
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.key, b.key))
	})
	for _, e := range exps {
		st.exp.Load(e)
	}
	return st, nil
}

// decodeHistory reads the event history into st.hist; the events' seqs
// must run up to last_seq without a gap.
func decodeHistory(d *decoder, st *decoded, version uint32) error {
	n, err := d.u64()
	if err != nil {
		return err
	}
	if n > st.lastSeq {
		return corruptf("history holds %d events, more than last seq %d", n, st.lastSeq)
	}
	first := st.lastSeq - n + 1
	lastCur := make(map[string]kv, min(n, 1<<16))
	var scratch []byte
	for i := range n {
		var c change
		if c, scratch, err = decodeEvent(d, st, version, lastCur, scratch); err != nil {
			return err
		}
		lastCur[c.key] = c.cur
		want := first + i
		pm, cm := c.prev.meta(), c.cur.meta()
		switch {
		case c.key == "" || !utf8.ValidString(c.key):
			return corruptf("event %d: key %q is empty or not valid UTF-8", want, c.key)
		case c.seq != want:
			return corruptf("event %d: seq %d, want %d (history seqs run to last seq %d without gaps)",
				i, c.seq, want, st.lastSeq)
		case c.prev.present() && (pm.seq >= c.seq || pm.createSeq == 0 ||
			pm.createSeq > pm.seq || pm.version == 0):
			return corruptf("event %d (key %q): bad previous value seq %d, create_seq %d, version %d",
				c.seq, c.key, pm.seq, pm.createSeq, pm.version)
		case c.cur.present() && (cm.createSeq == 0 || cm.createSeq > c.seq || cm.version == 0):
			return corruptf("event %d (key %q): bad current value create_seq %d, version %d",
				c.seq, c.key, cm.createSeq, cm.version)
		}
		st.hist.push(c, math.MaxInt)
	}
	return nil
}

// decodeEvent reads one history event. lastCur holds the cur of each
// key's latest event before it; st's key records are decoded already.
// scratch is a buffer to reuse; it returns the buffer, grown.
func decodeEvent(d *decoder, st *decoded, version uint32, lastCur map[string]kv, scratch []byte) (change, []byte, error) {
	var c change
	var err error
	if c.key, err = d.str(); err != nil {
		return c, scratch, err
	}
	if c.seq, err = d.uvarint(); err != nil {
		return c, scratch, err
	}
	flags, err := d.byte()
	if err != nil {
		return c, scratch, err
	}
	maxFlags := byte(histPrev | histCur)
	if version >= 3 {
		maxFlags |= histPrevOfEvent | histCurOfRecord
	}
	if flags&(histPrev|histCur) == 0 || flags > maxFlags ||
		(flags&histPrevOfEvent != 0 && flags&histPrev == 0) || (flags&histCurOfRecord != 0 && flags&histCur == 0) {
		return c, scratch, corruptf("event %d (key %q): flags %d", c.seq, c.key, flags)
	}
	lc, hasLast := lastCur[c.key]
	rec, hasRec := st.tree.Get(keyOnly(c.key))
	if flags&histPrevOfEvent != 0 {
		if !hasLast || !lc.present() {
			return c, scratch, corruptf("event %d (key %q): previous value of an earlier event, but none holds one", c.seq, c.key)
		}
		c.prev = lc
	} else if flags&histPrev != 0 {
		var m kvMeta
		if scratch, err = d.appendBytes(scratch[:0]); err != nil {
			return c, scratch, err
		}
		for _, p := range []*uint64{&m.seq, &m.createSeq, &m.version, &m.expireAt} {
			if *p, err = d.uvarint(); err != nil {
				return c, scratch, err
			}
		}
		if m.seq == 0 {
			return c, scratch, corruptf("event %d (key %q): previous value with seq 0", c.seq, c.key)
		}
		c.prev = newKV(c.key, m, scratch)
		if version >= 3 && hasLast && sameValue(lc, c.prev) {
			return c, scratch, corruptf("event %d (key %q): previous value written out instead of referred to", c.seq, c.key)
		}
	}
	if flags&histCurOfRecord != 0 {
		if !hasRec || rec.meta().seq != c.seq {
			return c, scratch, corruptf("event %d (key %q): current value of the key's record, but the record has another seq", c.seq, c.key)
		}
		c.cur = rec
	} else if flags&histCur != 0 {
		m := kvMeta{seq: c.seq}
		if scratch, err = d.appendBytes(scratch[:0]); err != nil {
			return c, scratch, err
		}
		for _, p := range []*uint64{&m.createSeq, &m.version, &m.expireAt} {
			if *p, err = d.uvarint(); err != nil {
				return c, scratch, err
			}
		}
		c.cur = newKV(c.key, m, scratch)
		if version >= 3 && hasRec && sameValue(rec, c.cur) {
			return c, scratch, corruptf("event %d (key %q): current value written out instead of referred to", c.seq, c.key)
		}
	}
	return c, scratch, nil
}

// decodeRecord reads one key record, the key and data through scratch (a
// buffer to reuse; it returns it, grown), into a kv of its own.
func decodeRecord(d *decoder, scratch []byte) (kv, []byte, error) {
	var m kvMeta
	var err error
	if scratch, err = d.appendBytes(scratch[:0]); err != nil {
		return kv{}, scratch, err
	}
	keyLen := len(scratch)
	if scratch, err = d.appendBytes(scratch); err != nil {
		return kv{}, scratch, err
	}
	for _, p := range []*uint64{&m.seq, &m.createSeq, &m.version, &m.expireAt} {
		if *p, err = d.uvarint(); err != nil {
			return kv{}, scratch, err
		}
	}
	return newKV(string(scratch[:keyLen]), m, scratch[keyLen:]), scratch, nil
}

// wrap turns a decoding error into the error Restore returns.
func (d *decoder) wrap(err error) error {
	switch {
	case errors.Is(err, ErrCorruptSnapshot):
		return err
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: truncated at byte %d: %w", ErrCorruptSnapshot, d.offset(), err)
	default:
		return fmt.Errorf("statemachine: read snapshot at byte %d: %w", d.offset(), err)
	}
}
