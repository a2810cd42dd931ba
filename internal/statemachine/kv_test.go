package statemachine

import (
	"bytes"
	"math"
	"os"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
)

// TestKVFields: every field of a kv comes back as it went in, whatever the
// lengths and the sizes of the numbers (uvarints of 1 to 10 bytes) and
// the meta flags.
func TestKVFields(t *testing.T) {
	const present, expire, seconds, proposed = metaFlagPresent, metaFlagExpire, metaFlagSeconds, metaFlagProposed
	u := func(x uint64) *uint64 { return &x }
	for _, tt := range []struct {
		name string
		key  string
		m    kvMeta
		data []byte
		meta *metapb.KVMeta // the SeqV's
	}{
		{"small, no meta", "a", kvMeta{seq: 1, createSeq: 1, version: 1, createRev: 2, modRev: 2}, []byte("v"), nil},
		{"empty meta", "a", kvMeta{seq: 1, createSeq: 1, version: 1, createRev: 2, modRev: 2, flags: present}, nil, &metapb.KVMeta{}},
		{"expire in ms", "key/1", kvMeta{seq: 7, createSeq: 3, version: 5, createRev: 2, modRev: 9, flags: present | expire, expireAt: 1_700_000_000_000}, nil,
			&metapb.KVMeta{ExpireAt: u(1_700_000_000_000)}},
		{"expire in seconds", "k", kvMeta{seq: 7, createSeq: 3, version: 5, createRev: 2, modRev: 9, flags: present | expire | seconds, expireAt: 1_667_291_025_000}, nil,
			&metapb.KVMeta{ExpireAt: u(1_667_291_025)}},
		{"proposed", "k", kvMeta{seq: 7, createSeq: 3, version: 5, createRev: 2, modRev: 9, flags: present | proposed, proposedAt: 1_111_111_111_111}, nil,
			&metapb.KVMeta{ProposedAtMs: u(1_111_111_111_111)}},
		{"expire 0 in seconds", "k", kvMeta{seq: 1, createSeq: 1, version: 1, createRev: 2, modRev: 2, flags: present | expire | seconds | proposed, proposedAt: 5}, nil,
			&metapb.KVMeta{ExpireAt: u(0), ProposedAtMs: u(5)}},
		{"uvarint edges", "k", kvMeta{seq: 127, createSeq: 128, version: 16383, createRev: 16384, modRev: 1 << 21, flags: present | expire, expireAt: 16384}, []byte{0, 0x80, 0xff},
			&metapb.KVMeta{ExpireAt: u(16384)}},
		{"max", "k", kvMeta{seq: math.MaxUint64, createSeq: math.MaxUint64, version: math.MaxUint64, createRev: math.MaxUint64, modRev: math.MaxUint64,
			flags: present | expire | proposed, expireAt: math.MaxUint64, proposedAt: math.MaxUint64}, []byte("x"),
			&metapb.KVMeta{ExpireAt: u(math.MaxUint64), ProposedAtMs: u(math.MaxUint64)}},
		{"bench-sized", "bench/key/00000001", kvMeta{seq: 999_999, createSeq: 12, version: 2, createRev: 3, modRev: 4}, bytes.Repeat([]byte("v"), 256), nil},
		{"long key", strings.Repeat("k", 70_000), kvMeta{seq: 2, createSeq: 1, version: 2, createRev: 1, modRev: 2}, []byte("v"), nil},
		{"large data", "big", kvMeta{seq: 2, createSeq: 2, version: 1, createRev: 1, modRev: 1}, bytes.Repeat([]byte{1, 2, 3}, 100_000), nil},
		{"key bytes look like numbers", "\x80\xff\x00", kvMeta{seq: 1, createSeq: 1, version: 1, createRev: 1, modRev: 1}, []byte("\x80"), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := newKV(tt.key, tt.m, tt.data)
			m, data := v.parts()
			at := tt.m.expireAt
			switch {
			case !v.present():
				t.Fatal("not present")
			case v.key() != tt.key:
				t.Errorf("key %q, want %q", v.key(), tt.key)
			case m != tt.m || v.meta() != tt.m:
				t.Errorf("meta %+v, want %+v", m, tt.m)
			case data != string(tt.data) || v.data() != string(tt.data):
				t.Errorf("data %q, want %q", data, tt.data)
			case v.expired(at) || (m.hasExpire() && at < math.MaxUint64) != v.expired(at+1):
				t.Errorf("expired wrong around expiry %d: expired when the time is past it, not at it", at)
			}
			want := &metapb.SeqV{Seq: tt.m.seq, CreateSeq: tt.m.createSeq, Version: tt.m.version,
				ExpireAtMs: tt.m.expireAtMs(), CreateRevision: tt.m.createRev, ModRevision: tt.m.modRev, Meta: tt.meta}
			if len(tt.data) > 0 {
				want.Data = tt.data
			}
			if got := v.seqV(); !proto.Equal(got, want) {
				t.Errorf("seqV %v, want %v", got, want)
			}
			if tt.m.hasExpire() && tt.m.flags&metaFlagSeconds == 0 && tt.m.expireAt <= secondsThreshold {
				return // milliseconds databend-meta would read as seconds: no way back
			}
			var back kvMeta
			back.setDBMeta(tt.meta)
			if back.flags != tt.m.flags || back.expireAt != tt.m.expireAt || back.proposedAt != tt.m.proposedAt {
				t.Errorf("setDBMeta(%v) = %+v, want the flags and times of %+v", tt.meta, back, tt.m)
			}
		})
	}
}

// TestExpireAtForms: databend-meta's expire_at is seconds up to
// 100_000_000_000 and milliseconds above (flexible_timestamp_to_duration).
func TestExpireAtForms(t *testing.T) {
	for _, tt := range []struct {
		in      uint64
		ms      uint64
		seconds bool
	}{
		{1_667_291_025, 1_667_291_025_000, true},
		{100_000_000_000, 100_000_000_000_000, true},
		{100_000_000_001, 100_000_000_001, false},
		{1_723_102_820_000, 1_723_102_820_000, false},
		{5, 5_000, true},
	} {
		m := kvMeta{flags: metaFlagPresent}
		m.setExpireAt(tt.in)
		if m.expireAtMs() != tt.ms || (m.flags&metaFlagSeconds != 0) != tt.seconds || *m.dbMeta().ExpireAt != tt.in {
			t.Errorf("expire_at %d: %d ms, seconds %v, written back %d; want %d ms, seconds %v",
				tt.in, m.expireAtMs(), m.flags&metaFlagSeconds != 0, *m.dbMeta().ExpireAt, tt.ms, tt.seconds)
		}
	}
}

// TestKVAbsent: the zero kv and a lookup probe are absent, with a zero
// meta (seq 0 reads as "absent" in match_seq), no data and no SeqV.
func TestKVAbsent(t *testing.T) {
	for _, tt := range []struct {
		name string
		v    kv
		key  string
	}{
		{"zero", kv{}, ""},
		{"probe", keyOnly("a/b"), "a/b"},
		{"empty probe", keyOnly(""), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.v.present() || tt.v.key() != tt.key || tt.v.meta() != (kvMeta{}) || tt.v.data() != "" ||
				tt.v.seqV() != nil || tt.v.expired(math.MaxUint64) || sameValue(tt.v, tt.v) {
				t.Errorf("%+v: present %v, key %q, meta %+v, data %q, seqV %v",
					tt.v, tt.v.present(), tt.v.key(), tt.v.meta(), tt.v.data(), tt.v.seqV())
			}
		})
	}
}

// TestKVOrderAndSameValue: the tree orders by key alone, so a probe finds
// the stored kv; sameValue compares every field.
func TestKVOrderAndSameValue(t *testing.T) {
	m := kvMeta{seq: 5, createSeq: 1, version: 3}
	v := newKV("b", m, []byte("x"))
	if kvLess(v, keyOnly("b")) || kvLess(keyOnly("b"), v) || !kvLess(keyOnly("a"), v) || !kvLess(v, keyOnly("ba")) {
		t.Error("order is not by key alone")
	}
	tree := newTree()
	tree.Set(v)
	if got, ok := tree.Get(keyOnly("b")); !ok || got != v {
		t.Errorf("probe found %+v, %v", got, ok)
	}
	for _, tt := range []struct {
		name string
		w    kv
		same bool
	}{
		{"itself", v, true},
		{"equal copy", newKV("b", m, []byte("x")), true},
		{"other data", newKV("b", m, []byte("y")), false},
		{"other seq", newKV("b", kvMeta{seq: 6, createSeq: 1, version: 3}, []byte("x")), false},
		{"other expiry", newKV("b", kvMeta{seq: 5, createSeq: 1, version: 3, flags: metaFlagPresent | metaFlagExpire, expireAt: 9}, []byte("x")), false},
		{"other revision", newKV("b", kvMeta{seq: 5, createSeq: 1, version: 3, modRev: 1}, []byte("x")), false},
		{"probe", keyOnly("b"), false},
	} {
		if got := sameValue(v, tt.w); got != tt.same {
			t.Errorf("%s: sameValue = %v, want %v", tt.name, got, tt.same)
		}
	}
}

// TestKVOneAllocation: a stored key costs one allocation, and reading its
// fields none.
func TestKVOneAllocation(t *testing.T) {
	data := bytes.Repeat([]byte("v"), 256)
	m := kvMeta{seq: 1 << 40, createSeq: 1, version: 1 << 20, createRev: 7, modRev: 1 << 30,
		flags: metaFlagPresent | metaFlagExpire | metaFlagProposed, expireAt: 1_700_000_000_000, proposedAt: 1_699_000_000_000}
	var v kv
	if n := testing.AllocsPerRun(100, func() { v = newKV("bench/key/00000001", m, data) }); n != 1 {
		t.Errorf("newKV: %v allocations, want 1", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		if v.meta() != m || len(v.data()) != len(data) || !v.present() || v.key() == "" {
			t.Fatal("fields changed")
		}
	}); n != 0 {
		t.Errorf("reading fields: %v allocations, want 0", n)
	}
}

// TestSnapshotGolden: testdata/snapshot-v7.bin holds the snapshot of
// randomLog(11, 1500), written when format version 7 (the lease table and
// each key's lease) was introduced. Applying the same log must
// give the same bytes, and restoring the file must give a state that
// writes them again: the format, and what the log applies to, do not
// drift. (After a deliberate change of either,
// regenerate it with METASRV_WRITE_GOLDEN=1 and say why in the commit.)
func TestSnapshotGolden(t *testing.T) {
	const file = "testdata/snapshot-v7.bin"
	sm := New()
	for _, e := range randomLog(11, 1500) {
		applyEntry(t, sm, e)
	}
	checkInvariants(t, sm)
	applied := encode(t, sm)
	if os.Getenv("METASRV_WRITE_GOLDEN") != "" {
		if err := os.WriteFile(file, applied, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(applied, golden) {
		t.Errorf("the log's snapshot (%d bytes) differs from %s (%d bytes)", len(applied), file, len(golden))
	}
	restored := New()
	if err := restored.Restore(bytes.NewReader(golden)); err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, restored)
	assertSameState(t, sm, restored)
	if again := encode(t, restored); !bytes.Equal(again, golden) {
		t.Errorf("restored and written again, %s changed", file)
	}
}
