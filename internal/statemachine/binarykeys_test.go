package statemachine

import (
	"bytes"
	"slices"
	"testing"

	"github.com/metasrv/metasrv/api/metapb"
)

// binaryKeys are keys that are not UTF-8 text (etcd's API writes any
// bytes), in byte order.
var binaryKeys = []string{"\x00", "\x00\x01", "a\xc3(", "a\xff", "\xc0\xaf", "\xff", "\xff\xff"}

// TestBinaryKeys: keys that are any bytes travel through the log entry
// encoding, range in byte order (also to the end, "\x00"), and survive a
// snapshot and its restore, history events included.
func TestBinaryKeys(t *testing.T) {
	a := newApplier(t)
	for i, k := range binaryKeys {
		data, err := EncodeEntry(t0, upsertCmd(put(k, string(rune('0'+i)))))
		if err != nil {
			t.Fatalf("encode a put of %q: %v", k, err)
		}
		ts, cmd, err := DecodeEntry(data)
		if err != nil {
			t.Fatalf("decode a put of %q: %v", k, err)
		}
		if res := a.apply(ts, cmd); res.Err != nil {
			t.Fatalf("put %q: %v", k, res.Err)
		}
	}
	keysIn := func(sm *StateMachine, key, end string) []string {
		var got []string
		sm.Range(key, end, t0, func(kv *metapb.KV) bool {
			got = append(got, kv.GetKey())
			return true
		})
		return got
	}
	check := func(what string, sm *StateMachine) {
		t.Helper()
		if got := keysIn(sm, "\x00", "\x00"); !slices.Equal(got, binaryKeys) {
			t.Errorf("%s: every key: %q, want %q", what, got, binaryKeys)
		}
		if got, want := keysIn(sm, "a", "\xff"), []string{"a\xc3(", "a\xff", "\xc0\xaf"}; !slices.Equal(got, want) {
			t.Errorf("%s: [a, \\xff): %q, want %q", what, got, want)
		}
		if got := keysIn(sm, "\xff\xff", ""); !slices.Equal(got, []string{"\xff\xff"}) {
			t.Errorf("%s: key \\xff\\xff alone: %q", what, got)
		}
		evs, err := eventsBetween(sm, 2, sm.Revision())
		if err != nil || len(evs) != len(binaryKeys) {
			t.Fatalf("%s: history: %d events, %v", what, len(evs), err)
		}
		for i, ev := range evs {
			if ev.GetKey() != binaryKeys[i] {
				t.Errorf("%s: event %d: key %q, want %q", what, i, ev.GetKey(), binaryKeys[i])
			}
		}
	}
	check("applied", a.sm)

	restored := New()
	if err := restored.Restore(bytes.NewReader(encode(t, a.sm))); err != nil {
		t.Fatalf("restore a snapshot with binary keys: %v", err)
	}
	check("restored", restored)
	assertSameState(t, restored, a.sm)
}
