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

	"github.com/metasrv/metasrv/api/metapb"
)

// Snapshot format constants; the format is described in doc.go.
const (
	snapshotMagic = "MSRVSNAP"
	// snapshotVersion is the version written and the only one read.
	snapshotVersion = 7

	tagRecord = 1
	tagEnd    = 0

	// Flags of a history event: which of prev and cur are present, and
	// which of them are written elsewhere already. histPrevOfEvent: prev
	// is the cur of the key's previous event in the history.
	// histCurOfRecord: cur is the key's record in the key section.
	histPrev        = 1
	histCur         = 2
	histPrevOfEvent = 4
	histCurOfRecord = 8
)

// Snapshot is a consistent, read-only copy of the whole state at one
// applied index: the keys (its View), the member table with the log id of
// its last change, and the event history. It is cheap to take and safe to write from any goroutine while
// Apply continues; Apply never changes what a Snapshot sees.
type Snapshot struct {
	View
	members    []member // shared, never modified (the state machine replaces its slice)
	membership LogID
	// leases are the leases, ascending id, without their keys (the keys'
	// meta names their lease).
	leases []LeaseInfo
	hist   history // a clone: shares the append-only chunks
}

// Snapshot returns a copy of the current state at AppliedIndex. It takes
// the write lock for an O(1) tree copy (later Applies copy the tree nodes
// they change) and a copy of the history's chunk list
// (O(history size / 256)).
func (sm *StateMachine) Snapshot() *Snapshot {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	return &Snapshot{View: sm.viewLocked(), members: sm.mu.members, membership: sm.mu.membership,
		leases: sm.leaseRecsLocked(), hist: sm.mu.hist.clone()}
}

// Index returns the applied index the snapshot was taken at.
func (s *Snapshot) Index() uint64 { return s.index }

// WriteTo writes the snapshot encoding (see doc.go) to w through a buffer
// and returns the number of bytes written. The encoding is deterministic:
// the same state gives the same bytes. It may be called more than once and
// from several goroutines at a time.
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) {
	e := newEncoder(w)
	e.header(s.index, s.lastSeq, s.revision, s.nowMs, s.membership, s.members, s.leases)
	var count uint64
	s.tree.Scan(func(v kv) bool {
		e.record(v)
		count++
		return e.err == nil
	})
	e.byte(tagEnd)
	e.u64(count)
	e.u64(s.hist.compacted)
	e.u64(uint64(s.hist.n))
	// The cur of each key's latest event so far: a later event's prev is
	// usually that value, and the last event's cur the key's record.
	lastCur := make(map[string]kv, s.hist.n)
	for i := 0; i < s.hist.n && e.err == nil; i++ {
		c := s.hist.at(i)
		e.str(c.key)
		e.uvarint(c.rev)
		e.uvarint(c.ms)
		flags := s.eventFlags(c, lastCur)
		lastCur[c.key] = c.cur
		e.byte(flags)
		if flags&(histPrev|histPrevOfEvent) == histPrev {
			e.value(c.prev)
		}
		if flags&(histCur|histCurOfRecord) == histCur {
			e.value(c.cur)
		}
	}
	return e.finish()
}

// header writes everything before the key records.
func (e *encoder) header(index, lastSeq, revision, nowMs uint64, membership LogID, members []member, leases []LeaseInfo) {
	e.raw(snapshotMagic)
	e.u32(snapshotVersion)
	e.u64(index)
	e.u64(lastSeq)
	e.u64(revision)
	e.u64(nowMs)
	e.u64(membership.Index)
	e.u64(membership.Term)
	e.u32(uint32(len(members)))
	for _, m := range members {
		e.u64(m.id)
		if m.voter {
			e.byte(1)
		} else {
			e.byte(0)
		}
		e.str(m.raftAddr)
		e.str(m.grpcAddr)
	}
	e.u64(uint64(len(leases)))
	for _, l := range leases {
		e.u64(uint64(l.ID))
		e.uvarint(uint64(l.TTL))
		e.uvarint(l.ExpireAtMs)
	}
}

// record writes the key record of the present value v.
func (e *encoder) record(v kv) {
	e.byte(tagRecord)
	e.str(v.key())
	e.value(v)
}

// value writes the meta and data of the present value v.
func (e *encoder) value(v kv) {
	m, data := v.parts()
	e.uvarint(m.seq)
	e.uvarint(m.createSeq)
	e.uvarint(m.version)
	e.uvarint(m.createRev)
	e.uvarint(m.modRev)
	e.byte(m.flags)
	if m.flags&metaFlagExpire != 0 {
		e.uvarint(m.expireAt)
	}
	if m.flags&metaFlagProposed != 0 {
		e.uvarint(m.proposedAt)
	}
	if m.flags&metaFlagLease != 0 {
		e.uvarint(m.lease)
	}
	e.str(data)
}

// finish flushes, writes the checksum and returns the byte count.
func (e *encoder) finish() (int64, error) {
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
// before c.
func (s *Snapshot) eventFlags(c *change, lastCur map[string]kv) byte {
	var flags byte
	if c.prev.present() {
		flags |= histPrev
		if lc, ok := lastCur[c.key]; ok && sameValue(lc, c.prev) {
			flags |= histPrevOfEvent
		}
	}
	if c.cur.present() {
		flags |= histCur
		if rec, ok := s.tree.Get(keyOnly(c.key)); ok && sameValue(rec, c.cur) {
			flags |= histCurOfRecord
		}
	}
	return flags
}

// Record is one key of a state built outside the state machine (an
// import), for SnapshotWriter.
type Record struct {
	Key  string
	Data []byte
	// Seq, CreateSeq and Version as in metapb.SeqV: 1 <= CreateSeq <=
	// Seq <= the state's last seq, Version >= 1.
	Seq, CreateSeq, Version uint64
	// CreateRevision and ModRevision: 1 <= CreateRevision <= ModRevision
	// <= the state's revision.
	CreateRevision, ModRevision uint64
	// Meta is databend-meta's KVMeta of the value (expire_at read by its
	// rule: seconds when <= 100_000_000_000); nil: none.
	Meta *metapb.KVMeta
}

// SnapshotHeader is the state around the keys of a SnapshotWriter.
type SnapshotHeader struct {
	// Index is the applied index; LastSeq the last seq handed out;
	// Revision the revision (at least FirstRevision); NowMs the largest
	// entry time applied.
	Index, LastSeq, Revision, NowMs uint64
	// Members is the member table, ascending ids; Membership the log id
	// of its last change (zero: none; at most Index).
	Members    []*metapb.Node
	Membership LogID
}

// SnapshotWriter writes the snapshot encoding of a state given key by
// key, with an empty event history compacted at its revision (a watch
// cannot resume from before it): what an import restores from. Restore
// checks the result as it checks any snapshot.
type SnapshotWriter struct {
	e        *encoder
	revision uint64
	count    uint64
	lastKey  string
}

// NewSnapshotWriter writes h to w and returns the writer of the keys.
func NewSnapshotWriter(w io.Writer, h SnapshotHeader) *SnapshotWriter {
	members := make([]member, len(h.Members))
	for i, n := range h.Members {
		members[i] = member{id: n.GetId(), raftAddr: n.GetRaftAddress(), grpcAddr: n.GetGrpcAddress(), voter: n.GetVoter()}
	}
	sw := &SnapshotWriter{e: newEncoder(w)}
	sw.e.header(h.Index, h.LastSeq, max(h.Revision, FirstRevision), h.NowMs, h.Membership, members, nil)
	sw.revision = max(h.Revision, FirstRevision)
	return sw
}

// Add writes the next key; keys must ascend strictly.
func (sw *SnapshotWriter) Add(r Record) error {
	if sw.count > 0 && r.Key <= sw.lastKey {
		return fmt.Errorf("statemachine: snapshot key %q not after %q", r.Key, sw.lastKey)
	}
	m := kvMeta{seq: r.Seq, createSeq: r.CreateSeq, version: r.Version, createRev: r.CreateRevision, modRev: r.ModRevision}
	m.setDBMeta(r.Meta)
	sw.e.record(newKV(r.Key, m, r.Data))
	sw.lastKey = r.Key
	sw.count++
	return sw.e.err
}

// Close ends the encoding (an empty history) and returns the bytes
// written.
func (sw *SnapshotWriter) Close() (int64, error) {
	sw.e.byte(tagEnd)
	sw.e.u64(sw.count)
	sw.e.u64(sw.revision)
	sw.e.u64(0)
	return sw.e.finish()
}

// Restore replaces the whole state (keys, applied index, last seq,
// revision, clock, members and their log id, event history) with the snapshot read from r,
// which must hold exactly one snapshot encoding. The input is fully read
// and verified before anything changes: on any error the state is
// unchanged. A truncated or corrupt input, or one of another format
// version, gives an error wrapping ErrCorruptSnapshot; a read error from
// r is wrapped as it is. Call it from the apply goroutine.
//
// A history longer than this state machine's history size loses its
// oldest events.
func (sm *StateMachine) Restore(r io.Reader) error {
	st, err := decodeSnapshot(r)
	if err != nil {
		return err
	}
	sm.mu.Lock()
	defer sm.mu.Unlock()
	sm.mu.applied = st.index
	sm.mu.lastSeq = st.lastSeq
	sm.mu.revision = st.revision
	sm.mu.nowMs = st.nowMs
	sm.mu.members = st.members
	sm.mu.membership = st.membership
	sm.mu.tree = st.tree
	sm.mu.exp = st.exp
	sm.mu.leases, sm.mu.leaseExp = restoreLeases(st.leases, st.tree)
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
	if version != snapshotVersion {
		return nil, corruptf("format version %d, this binary reads version %d only: "+
			"a snapshot of a development build before the first release; export the data with that build and import it",
			version, snapshotVersion)
	}
	st := &decoded{exp: newExpIndex()}
	st.tree = newTree()
	for _, p := range []*uint64{&st.index, &st.lastSeq, &st.revision, &st.nowMs} {
		if *p, err = d.u64(); err != nil {
			return nil, err
		}
	}
	if st.revision < FirstRevision {
		return nil, corruptf("revision %d, below the first revision %d", st.revision, FirstRevision)
	}
	for _, p := range []*uint64{&st.membership.Index, &st.membership.Term} {
		if *p, err = d.u64(); err != nil {
			return nil, err
		}
	}
	switch m := st.membership; {
	case m.Index > st.index:
		return nil, corruptf("membership log id index %d, after the applied index %d", m.Index, st.index)
	case (m.Index == 0) != (m.Term == 0):
		return nil, corruptf("membership log id index %d, term %d: both or neither must be 0", m.Index, m.Term)
	}
	if st.members, err = decodeMembers(d); err != nil {
		return nil, err
	}
	if st.leases, err = decodeLeases(d); err != nil {
		return nil, err
	}
	leaseIDs := make(map[int64]bool, len(st.leases))
	for _, l := range st.leases {
		leaseIDs[l.ID] = true
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
		key, err := d.str()
		if err != nil {
			return nil, err
		}
		var v kv
		if v, scratch, err = decodeValue(d, key, scratch); err != nil {
			return nil, err
		}
		m := v.meta()
		switch {
		case key == "" || (count > 0 && key <= lastKey):
			return nil, corruptf("record %d: key %q not after %q", count, key, lastKey)
		}
		if err := checkValue(m, st); err != nil {
			return nil, corruptf("record %d (key %q): %v", count, key, err)
		}
		if id := m.leaseID(); id != 0 && !leaseIDs[id] {
			return nil, corruptf("record %d (key %q): attached to lease %d, which the snapshot does not hold", count, key, id)
		}
		st.tree.Load(v)
		if e, ok := expKeyOf(v); ok {
			exps = append(exps, e)
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
	if err := decodeHistory(d, st); err != nil {
		return nil, err
	}
	slices.SortFunc(exps, func(a, b expKey) int {
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.seq, b.seq), cmp.Compare(a.key, b.key))
	})
	for _, e := range exps {
		st.exp.Load(e)
	}
	return st, nil
}

// decodeMembers reads the member table.
func decodeMembers(d *decoder) ([]member, error) {
	nMembers, err := d.u32()
	if err != nil {
		return nil, err
	}
	members := make([]member, 0, min(nMembers, 64))
	for i := range nMembers {
		var m member
		if m.id, err = d.u64(); err != nil {
			return nil, err
		}
		if i > 0 && m.id <= members[i-1].id {
			return nil, corruptf("member ids not ascending: %d after %d", m.id, members[i-1].id)
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
		members = append(members, m)
	}
	return members, nil
}

// decodeLeases reads the lease table: ids ascending (as int64s), none 0,
// TTLs in [1, MaxLeaseTTL].
func decodeLeases(d *decoder) ([]LeaseInfo, error) {
	n, err := d.u64()
	if err != nil {
		return nil, err
	}
	out := make([]LeaseInfo, 0, min(n, 1024))
	for i := range n {
		var l LeaseInfo
		id, err := d.u64()
		if err != nil {
			return nil, err
		}
		l.ID = int64(id)
		ttl, err := d.uvarint()
		if err != nil {
			return nil, err
		}
		if l.ExpireAtMs, err = d.uvarint(); err != nil {
			return nil, err
		}
		switch {
		case l.ID == 0 || (i > 0 && l.ID <= out[i-1].ID):
			return nil, corruptf("lease %d: id 0 or not after %d", l.ID, out[max(i, 1)-1].ID)
		case ttl < 1 || ttl > MaxLeaseTTL:
			return nil, corruptf("lease %d: TTL %d outside [1, %d]", l.ID, ttl, MaxLeaseTTL)
		}
		l.TTL = int64(ttl)
		out = append(out, l)
	}
	return out, nil
}

// checkValue checks the meta of a value against the state it is in.
func checkValue(m kvMeta, st *decoded) error {
	switch {
	case m.seq == 0 || m.seq > st.lastSeq:
		return fmt.Errorf("seq %d outside [1, last seq %d]", m.seq, st.lastSeq)
	case m.createSeq == 0 || m.createSeq > m.seq:
		return fmt.Errorf("create_seq %d outside [1, seq %d]", m.createSeq, m.seq)
	case m.version == 0:
		return fmt.Errorf("version 0")
	case m.createRev == 0 || m.createRev > m.modRev || m.modRev > st.revision:
		return fmt.Errorf("create_revision %d, mod_revision %d: want 1 <= create_revision <= mod_revision <= revision %d",
			m.createRev, m.modRev, st.revision)
	case m.flags&^metaFlagsAll != 0,
		m.flags&(metaFlagExpire|metaFlagProposed) != 0 && m.flags&metaFlagPresent == 0,
		m.flags&metaFlagSeconds != 0 && (m.flags&metaFlagExpire == 0 || m.expireAt%1000 != 0 || m.expireAt/1000 > secondsThreshold):
		return fmt.Errorf("meta flags %#x with expiry %d", m.flags, m.expireAt)
	}
	return nil
}

// decodeHistory reads the event history into st.hist: revisions ascend
// (the events of one revision keep their order), above the compacted
// revision and at most the state's revision.
func decodeHistory(d *decoder, st *decoded) error {
	compacted, err := d.u64()
	if err != nil {
		return err
	}
	if compacted > st.revision {
		return corruptf("history compacted at revision %d, beyond the revision %d", compacted, st.revision)
	}
	n, err := d.u64()
	if err != nil {
		return err
	}
	st.hist.compacted = compacted
	lastCur := make(map[string]kv, min(n, 1<<16))
	var (
		scratch []byte
		lastRev = compacted
		lastMs  uint64
	)
	for i := range n {
		var c change
		if c, scratch, err = decodeEvent(d, st, lastCur, scratch); err != nil {
			return err
		}
		lastCur[c.key] = c.cur
		pm, cm := c.prev.meta(), c.cur.meta()
		switch {
		case c.key == "":
			return corruptf("event %d: empty key", i)
		case c.rev <= compacted || c.rev < lastRev || c.rev > st.revision:
			return corruptf("event %d (key %q): revision %d after %d, want ascending in (%d, %d]",
				i, c.key, c.rev, lastRev, compacted, st.revision)
		case c.prev.present() && pm.modRev > c.rev:
			return corruptf("event %d (key %q): previous value of mod_revision %d, after the event's revision %d",
				i, c.key, pm.modRev, c.rev)
		case c.cur.present() && cm.modRev != c.rev:
			return corruptf("event %d (key %q): current value of mod_revision %d, not the event's revision %d",
				i, c.key, cm.modRev, c.rev)
		}
		if c.ms > st.nowMs || (i > 0 && c.rev == lastRev && c.ms != lastMs) {
			return corruptf("event %d (key %q): time %d, after the clock %d or not that of its revision's other events (%d)",
				i, c.key, c.ms, st.nowMs, lastMs)
		}
		lastRev, lastMs = c.rev, c.ms
		st.hist.push(c, math.MaxInt)
	}
	if n > 0 && lastRev != st.revision {
		return corruptf("the last history event has revision %d, the state is at revision %d", lastRev, st.revision)
	}
	return nil
}

// decodeEvent reads one history event. lastCur holds the cur of each
// key's latest event before it; st's key records are decoded already.
// scratch is a buffer to reuse; it returns the buffer, grown.
func decodeEvent(d *decoder, st *decoded, lastCur map[string]kv, scratch []byte) (change, []byte, error) {
	var c change
	var err error
	if c.key, err = d.str(); err != nil {
		return c, scratch, err
	}
	if c.rev, err = d.uvarint(); err != nil {
		return c, scratch, err
	}
	if c.ms, err = d.uvarint(); err != nil {
		return c, scratch, err
	}
	flags, err := d.byte()
	if err != nil {
		return c, scratch, err
	}
	if flags&(histPrev|histCur) == 0 || flags > histPrev|histCur|histPrevOfEvent|histCurOfRecord ||
		(flags&histPrevOfEvent != 0 && flags&histPrev == 0) || (flags&histCurOfRecord != 0 && flags&histCur == 0) {
		return c, scratch, corruptf("event at revision %d (key %q): flags %d", c.rev, c.key, flags)
	}
	lc, hasLast := lastCur[c.key]
	rec, hasRec := st.tree.Get(keyOnly(c.key))
	if flags&histPrevOfEvent != 0 {
		if !hasLast || !lc.present() {
			return c, scratch, corruptf("event at revision %d (key %q): previous value of an earlier event, but none holds one", c.rev, c.key)
		}
		c.prev = lc
	} else if flags&histPrev != 0 {
		if c.prev, scratch, err = decodeValue(d, c.key, scratch); err != nil {
			return c, scratch, err
		}
		if err := checkValue(c.prev.meta(), st); err != nil {
			return c, scratch, corruptf("event at revision %d (key %q): previous value: %v", c.rev, c.key, err)
		}
		if hasLast && sameValue(lc, c.prev) {
			return c, scratch, corruptf("event at revision %d (key %q): previous value written out instead of referred to", c.rev, c.key)
		}
	}
	if flags&histCurOfRecord != 0 {
		if !hasRec || rec.meta().modRev != c.rev {
			return c, scratch, corruptf("event at revision %d (key %q): current value of the key's record, but the record has another revision", c.rev, c.key)
		}
		c.cur = rec
	} else if flags&histCur != 0 {
		if c.cur, scratch, err = decodeValue(d, c.key, scratch); err != nil {
			return c, scratch, err
		}
		if err := checkValue(c.cur.meta(), st); err != nil {
			return c, scratch, corruptf("event at revision %d (key %q): current value: %v", c.rev, c.key, err)
		}
		if hasRec && sameValue(rec, c.cur) {
			return c, scratch, corruptf("event at revision %d (key %q): current value written out instead of referred to", c.rev, c.key)
		}
	}
	return c, scratch, nil
}

// decodeValue reads the meta and data of a value of key (what
// encoder.value writes), the data through scratch (a buffer to reuse; it
// returns it, grown), into a kv of its own.
func decodeValue(d *decoder, key string, scratch []byte) (kv, []byte, error) {
	var m kvMeta
	var err error
	for _, p := range []*uint64{&m.seq, &m.createSeq, &m.version, &m.createRev, &m.modRev} {
		if *p, err = d.uvarint(); err != nil {
			return kv{}, scratch, err
		}
	}
	if m.flags, err = d.byte(); err != nil {
		return kv{}, scratch, err
	}
	if m.flags&metaFlagExpire != 0 {
		if m.expireAt, err = d.uvarint(); err != nil {
			return kv{}, scratch, err
		}
	}
	if m.flags&metaFlagProposed != 0 {
		if m.proposedAt, err = d.uvarint(); err != nil {
			return kv{}, scratch, err
		}
	}
	if m.flags&metaFlagLease != 0 {
		if m.lease, err = d.uvarint(); err != nil {
			return kv{}, scratch, err
		}
		if m.lease == 0 {
			return kv{}, scratch, corruptf("key %q: lease flag with lease 0", key)
		}
	}
	if scratch, err = d.appendBytes(scratch[:0]); err != nil {
		return kv{}, scratch, err
	}
	return newKV(key, m, scratch), scratch, nil
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
