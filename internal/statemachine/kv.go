package statemachine

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/metasrv/metasrv/api/metapb"
)

// kv is one stored key and its value, in one immutable string:
//
//	s = key | seq | create_seq | version | create_rev | mod_rev | flags
//	    | [expire_at_ms] | [proposed_at_ms] | [lease] | data
//
// where the numbers are uvarints, flags one byte (metaFlag*) saying which
// of the two optional numbers follow, and keyLen = len(key). A key thus
// costs one allocation (rounded up to a size class) and a 24-byte slot in
// the tree, where a struct of key, data slice and the numbers would cost
// two allocations and a slot three times as large (see
// BenchmarkHeapPerKey).
//
// Values are immutable: a write makes a new kv and replaces the item in
// the tree, it never changes one, so a tree copy taken by Snapshot or List
// stays consistent, and the history, the expiry index and a snapshot
// share the string instead of copying it.
//
// A kv with nothing after its key is absent: the zero kv, and the probes
// that keyOnly makes to look a key up. Wherever a kv stands for an
// optional value, present tells which; an absent kv's meta is all zero
// (seq 0: "absent", as a present key always has seq >= 1).
type kv struct {
	s      string
	keyLen uint32
}

// Flags of a kv's meta: databend-meta's KVMeta of the value.
const (
	// metaFlagPresent: the value has a KVMeta (without it, databend-meta
	// exports "meta":null; only data imported from it lacks one).
	metaFlagPresent = 1
	// metaFlagExpire: the KVMeta has expire_at (expireAt holds it in ms).
	metaFlagExpire = 2
	// metaFlagSeconds: expire_at was written in seconds (databend-meta's
	// form for values <= 100_000_000_000); expireAt is that times 1000.
	metaFlagSeconds = 4
	// metaFlagProposed: the KVMeta has proposed_at_ms.
	metaFlagProposed = 8
	// metaFlagLease: the key is attached to a lease (lease holds its id);
	// not part of databend-meta's KVMeta.
	metaFlagLease = 16

	metaFlagsAll = metaFlagPresent | metaFlagExpire | metaFlagSeconds | metaFlagProposed | metaFlagLease
)

// secondsThreshold is databend-meta's bound between the two forms of
// KVMeta.expire_at: a value up to it is seconds, above it milliseconds.
const secondsThreshold = 100_000_000_000

// kvMeta is everything a kv holds besides its key and data.
type kvMeta struct {
	seq       uint64
	createSeq uint64
	version   uint64
	createRev uint64
	modRev    uint64
	flags     byte
	// expireAt is the expiry in Unix ms when flags has metaFlagExpire.
	expireAt uint64
	// proposedAt is proposed_at_ms when flags has metaFlagProposed.
	proposedAt uint64
	// lease is the lease id (etcd's int64, as its bits) when flags has
	// metaFlagLease.
	lease uint64
}

// leaseID returns the id of the value's lease, 0 when it has none.
func (m kvMeta) leaseID() int64 {
	if m.flags&metaFlagLease == 0 {
		return 0
	}
	return int64(m.lease)
}

// setLease attaches the value to lease id (0: none).
func (m *kvMeta) setLease(id int64) {
	m.flags &^= metaFlagLease
	m.lease = 0
	if id != 0 {
		m.flags |= metaFlagLease
		m.lease = uint64(id)
	}
}

// hasExpire reports whether the value expires.
func (m kvMeta) hasExpire() bool { return m.flags&metaFlagExpire != 0 }

// expired reports whether a value of meta m is invisible at nowMs: its
// expiry is past (not at nowMs: databend-meta's rule).
func (m kvMeta) expired(nowMs uint64) bool { return m.hasExpire() && m.expireAt < nowMs }

// expireAtMs returns the expiry in Unix ms, 0 when there is none.
func (m kvMeta) expireAtMs() uint64 {
	if !m.hasExpire() {
		return 0
	}
	return m.expireAt
}

// dbMeta returns the value's KVMeta as databend-meta holds it, nil when
// it has none.
func (m kvMeta) dbMeta() *metapb.KVMeta {
	if m.flags&metaFlagPresent == 0 {
		return nil
	}
	out := &metapb.KVMeta{}
	if m.hasExpire() {
		e := m.expireAt
		if m.flags&metaFlagSeconds != 0 {
			e /= 1000
		}
		out.ExpireAt = &e
	}
	if m.flags&metaFlagProposed != 0 {
		p := m.proposedAt
		out.ProposedAtMs = &p
	}
	return out
}

// setDBMeta sets m's flags, expireAt and proposedAt from databend-meta's
// KVMeta (nil: none), reading expire_at by databend-meta's rule.
func (m *kvMeta) setDBMeta(dm *metapb.KVMeta) {
	m.flags, m.expireAt, m.proposedAt, m.lease = 0, 0, 0, 0
	if dm == nil {
		return
	}
	m.flags = metaFlagPresent
	if dm.ExpireAt != nil {
		m.setExpireAt(dm.GetExpireAt())
	}
	if dm.ProposedAtMs != nil {
		m.flags |= metaFlagProposed
		m.proposedAt = dm.GetProposedAtMs()
	}
}

// setExpireAt sets the expiry from databend-meta's form of expire_at:
// seconds when <= secondsThreshold, else milliseconds.
func (m *kvMeta) setExpireAt(e uint64) {
	m.flags |= metaFlagExpire
	if e <= secondsThreshold {
		m.flags |= metaFlagSeconds
		m.expireAt = e * 1000
		return
	}
	m.expireAt = e
}

// setExpireAtMs sets the expiry in milliseconds. A time up to
// secondsThreshold (before 1973-03-03) stays in milliseconds here, where
// databend-meta would read it as seconds.
func (m *kvMeta) setExpireAtMs(ms uint64) {
	m.flags |= metaFlagExpire
	m.expireAt = ms
}

// kvMaxMeta is the most bytes the meta of a kv takes.
const kvMaxMeta = 8*binary.MaxVarintLen64 + 1

// newKV returns the kv of key with m and a copy of data. A key longer than
// 4 GiB cannot be stored (nor carried: a protobuf message is under 2 GiB).
func newKV(key string, m kvMeta, data []byte) kv {
	if uint64(len(key)) > math.MaxUint32 {
		panic(fmt.Sprintf("statemachine: key of %d bytes", len(key)))
	}
	var meta [kvMaxMeta]byte
	h := binary.AppendUvarint(meta[:0], m.seq)
	h = binary.AppendUvarint(h, m.createSeq)
	h = binary.AppendUvarint(h, m.version)
	h = binary.AppendUvarint(h, m.createRev)
	h = binary.AppendUvarint(h, m.modRev)
	h = append(h, m.flags)
	if m.flags&metaFlagExpire != 0 {
		h = binary.AppendUvarint(h, m.expireAt)
	}
	if m.flags&metaFlagProposed != 0 {
		h = binary.AppendUvarint(h, m.proposedAt)
	}
	if m.flags&metaFlagLease != 0 {
		h = binary.AppendUvarint(h, m.lease)
	}
	var b strings.Builder
	b.Grow(len(key) + len(h) + len(data))
	b.WriteString(key)
	b.Write(h)
	b.Write(data)
	return kv{s: b.String(), keyLen: uint32(len(key))}
}

// keyOnly returns an absent kv with the given key, to look the key up in
// the tree (only the key takes part in the order).
func keyOnly(key string) kv { return kv{s: key, keyLen: uint32(len(key))} }

func (v kv) key() string { return v.s[:v.keyLen] }

func (v kv) present() bool { return len(v.s) > int(v.keyLen) }

// parts returns v's meta and data; all zero when v is absent. The data is
// v's own: it must not be handed out as a []byte without a copy.
func (v kv) parts() (kvMeta, string) {
	if !v.present() {
		return kvMeta{}, ""
	}
	var m kvMeta
	i := int(v.keyLen)
	m.seq, i = uvarintAt(v.s, i)
	m.createSeq, i = uvarintAt(v.s, i)
	m.version, i = uvarintAt(v.s, i)
	m.createRev, i = uvarintAt(v.s, i)
	m.modRev, i = uvarintAt(v.s, i)
	m.flags = v.s[i]
	i++
	if m.flags&metaFlagExpire != 0 {
		m.expireAt, i = uvarintAt(v.s, i)
	}
	if m.flags&metaFlagProposed != 0 {
		m.proposedAt, i = uvarintAt(v.s, i)
	}
	if m.flags&metaFlagLease != 0 {
		m.lease, i = uvarintAt(v.s, i)
	}
	return m, v.s[i:]
}

func (v kv) meta() kvMeta {
	m, _ := v.parts()
	return m
}

func (v kv) data() string {
	_, d := v.parts()
	return d
}

// uvarintAt decodes the uvarint that newKV wrote at s[i:] and returns it
// and the index after it.
func uvarintAt(s string, i int) (uint64, int) {
	var x uint64
	for shift := 0; ; shift += 7 {
		b := s[i]
		i++
		x |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return x, i
		}
	}
}

// expired reports whether v is invisible at nowMs (kvMeta.expired).
func (v kv) expired(nowMs uint64) bool { return v.meta().expired(nowMs) }

// seqV returns a copy of v as a SeqV; nil when v is absent.
func (v kv) seqV() *metapb.SeqV {
	if !v.present() {
		return nil
	}
	m, d := v.parts()
	var data []byte
	if len(d) > 0 {
		data = []byte(d)
	}
	return &metapb.SeqV{
		Seq:            m.seq,
		Data:           data,
		ExpireAtMs:     m.expireAtMs(),
		CreateSeq:      m.createSeq,
		Version:        m.version,
		CreateRevision: m.createRev,
		ModRevision:    m.modRev,
		Meta:           m.dbMeta(),
		Lease:          m.leaseID(),
	}
}

func kvLess(a, b kv) bool { return a.key() < b.key() }

// sameValue reports whether a and b are the same present value of a key.
func sameValue(a, b kv) bool { return a.present() && a == b }
