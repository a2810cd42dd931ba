package backup

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/statemachine"
)

// binaryKeyState is sampleState with keys that are not UTF-8, as etcd's
// API writes them.
func binaryKeyState(t *testing.T) *statemachine.StateMachine {
	t.Helper()
	sm := sampleState(t)
	a := &applier{t: t, sm: sm, index: sm.AppliedIndex()}
	for i, k := range []string{"\x00", "a\xff", "\xc3(", "\xff\xff"} {
		a.upsert(testClock+100+uint64(i), &metapb.UpsertRequest{Key: k, Value: []byte("v" + k)})
	}
	return sm
}

// TestDumpKeepsBinaryKeys: metasrv's dump holds a key that is not UTF-8
// under key_base64 (a UTF-8 one such as "\x00" as text), and a state restored from the dump has every key as
// it was.
func TestDumpKeepsBinaryKeys(t *testing.T) {
	src := binaryKeyState(t)
	dump := dumpOf(t, src)
	for _, want := range []string{`"key":"\u0000",`, `"key_base64":"Yf8=",`, `"key_base64":"wyg=",`, `"key_base64":"//8=",`} {
		if !strings.Contains(dump, want) {
			t.Errorf("dump without %s:\n%s", want, dump)
		}
	}
	dst := statemachine.New()
	if err := dst.Restore(bytes.NewReader(encodeDump(t, dump, 1, []Node{{ID: 1, RaftAddress: "n1:1", Voter: true}}))); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if diff := cmp.Diff(kvLines(t, dump), kvLines(t, dumpOf(t, dst))); diff != "" {
		t.Errorf("restored keys differ (-exported +restored):\n%s", diff)
	}
	if got, want := dst.KeyCount(), src.KeyCount(); got != want {
		t.Errorf("%d keys restored, want %d", got, want)
	}
}

// TestDatabendExportRefusesBinaryKeys: Databend's format cannot hold a key
// that is not UTF-8; the export says which key before it writes anything.
func TestDatabendExportRefusesBinaryKeys(t *testing.T) {
	var out bytes.Buffer
	err := ExportDatabend(&out, binaryKeyState(t), 1, func(uint64) uint64 { return 3 })
	if !errors.Is(err, ErrNoDatabendForm) || !strings.Contains(err.Error(), `key "a\xff" is not valid UTF-8`) || !strings.Contains(err.Error(), "metasrv's format") {
		t.Errorf("Databend export of binary keys: %v, want ErrNoDatabendForm naming key \"a\\xff\" and metasrv's format", err)
	}
	if out.Len() != 0 {
		t.Errorf("the refused export wrote %d bytes", out.Len())
	}
}
