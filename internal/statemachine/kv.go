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
//	s = key | seq | create_seq | version | expire_at_ms | data
//
// where the four numbers are uvarints and keyLen = len(key). A key thus
// costs one allocation (rounded up to a size class) and a 24-byte slot in
// the tree, where a struct of key, data slice and four uint64s cost two
// allocations and a 72-byte slot (at 1M keys of 256 bytes: ~320 against
// ~400 bytes a key, see BenchmarkHeapPerKey).
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

// kvMeta is everything a kv holds besides its key and data.
type kvMeta struct {
	seq       uint64
	createSeq uint64
	version   uint64
	expireAt  uint64 // Unix ms; 0 = never
}

// kvMaxMeta is the most bytes the four uvarints of a kvMeta take.
const kvMaxMeta = 4 * binary.MaxVarintLen64

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
	h = binary.AppendUvarint(h, m.expireAt)
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
	m.expireAt, i = uvarintAt(v.s, i)
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

// expired reports whether v is invisible at nowMs.
func (v kv) expired(nowMs uint64) bool {
	e := v.meta().expireAt
	return e != 0 && e <= nowMs
}

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
		Seq:        m.seq,
		Data:       data,
		ExpireAtMs: m.expireAt,
		CreateSeq:  m.createSeq,
		Version:    m.version,
	}
}

func kvLess(a, b kv) bool { return a.key() < b.key() }

// sameValue reports whether a and b are the same present value of a key.
func sameValue(a, b kv) bool { return a.present() && a == b }
