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
// lengths and the sizes of the numbers (uvarints of 1 to 10 bytes).
func TestKVFields(t *testing.T) {
	for _, tt := range []struct {
		name string
		key  string
		m    kvMeta
		data []byte
	}{
		{"small", "a", kvMeta{seq: 1, createSeq: 1, version: 1}, []byte("v")},
		{"no data", "key/1", kvMeta{seq: 7, createSeq: 3, version: 5, expireAt: 1_700_000_000_000}, nil},
		{"uvarint edges", "k", kvMeta{seq: 127, createSeq: 128, version: 16383, expireAt: 16384}, []byte{0, 0x80, 0xff}},
		{"max", "k", kvMeta{seq: math.MaxUint64, createSeq: math.MaxUint64, version: math.MaxUint64, expireAt: math.MaxUint64}, []byte("x")},
		{"bench-sized", "bench/key/00000001", kvMeta{seq: 999_999, createSeq: 12, version: 2}, bytes.Repeat([]byte("v"), 256)},
		{"long key", strings.Repeat("k", 70_000), kvMeta{seq: 2, createSeq: 1, version: 2}, []byte("v")},
		{"large data", "big", kvMeta{seq: 2, createSeq: 2, version: 1}, bytes.Repeat([]byte{1, 2, 3}, 100_000)},
		{"key bytes look like numbers", "\x80\xff\x00", kvMeta{seq: 1, createSeq: 1, version: 1}, []byte("\x80")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := newKV(tt.key, tt.m, tt.data)
			m, data := v.parts()
			switch {
			case !v.present():
				t.Fatal("not present")
			case v.key() != tt.key:
				t.Errorf("key %q, want %q", v.key(), tt.key)
			case m != tt.m || v.meta() != tt.m:
				t.Errorf("meta %+v, want %+v", m, tt.m)
			case data != string(tt.data) || v.data() != string(tt.data):
				t.Errorf("data %q, want %q", data, tt.data)
			case v.expired(tt.m.expireAt-1) || (tt.m.expireAt != 0) != v.expired(tt.m.expireAt):
				t.Errorf("expired wrong around expire_at %d", tt.m.expireAt)
			}
			want := &metapb.SeqV{Seq: tt.m.seq, CreateSeq: tt.m.createSeq, Version: tt.m.version, ExpireAtMs: tt.m.expireAt}
			if len(tt.data) > 0 {
				want.Data = tt.data
			}
			if got := v.seqV(); !proto.Equal(got, want) {
				t.Errorf("seqV %v, want %v", got, want)
			}
		})
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
		{"other expiry", newKV("b", kvMeta{seq: 5, createSeq: 1, version: 3, expireAt: 9}, []byte("x")), false},
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
	m := kvMeta{seq: 1 << 40, createSeq: 1, version: 1 << 20, expireAt: 1_700_000_000_000}
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

// TestSnapshotGolden: testdata holds the snapshot of randomLog(11, 1500)
// written in formats 3 and 2 by commit 86f0559, the last one that stored
// a key as a struct of key, data and four numbers. Applying the same log
// must give the same bytes, and restoring either file must give a state
// that writes them again. (After a change to randomLog, regenerate the
// files with the writer of a commit known to be right.)
func TestSnapshotGolden(t *testing.T) {
	sm := New()
	for _, e := range randomLog(11, 1500) {
		applyEntry(t, sm, e)
	}
	checkInvariants(t, sm)
	for _, tt := range []struct {
		file    string
		version uint32
	}{
		{"testdata/snapshot-v3.bin", 3},
		{"testdata/snapshot-v2.bin", 2},
	} {
		t.Run(tt.file, func(t *testing.T) {
			golden, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			var applied bytes.Buffer
			if _, err := sm.Snapshot().writeVersion(&applied, tt.version); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(applied.Bytes(), golden) {
				t.Errorf("the log's snapshot (%d bytes) differs from %s (%d bytes)", applied.Len(), tt.file, len(golden))
			}
			restored := New()
			if err := restored.Restore(bytes.NewReader(golden)); err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, restored)
			assertSameState(t, sm, restored)
			var again bytes.Buffer
			if _, err := restored.Snapshot().writeVersion(&again, tt.version); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again.Bytes(), golden) {
				t.Errorf("restored and written again, %s changed", tt.file)
			}
		})
	}
}
