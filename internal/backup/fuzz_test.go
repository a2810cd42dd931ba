package backup

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/metasrv/metasrv/internal/statemachine"
)

// FuzzReader checks that the reader never panics, that every error it
// returns for bad input is a *LineError, and that what it accepts is a
// fixed point: written again it reads back the same, and it encodes to a
// snapshot that the state machine restores. Seeds: f.Add below and
// testdata/fuzz/FuzzReader.
func FuzzReader(f *testing.F) {
	f.Add([]byte(lines(hdr, kvA, kvB, footer)))
	f.Add([]byte(lines(hdr, `{"type":"footer","keys":0,"last_seq":5}`)))
	f.Add([]byte(lines(`{"type":"header","format_version":1,"cluster_name":"c","exported_at_ms":1,"last_seq":3,"applied_index":0,"clock_ms":3,"nodes":[{"id":1,"raft_address":"a:1","grpc_address":"","voter":true}]}`,
		`{"type":"kv","key":"日本","seq":3,"create_seq":1,"version":2,"value":"\u0000<>"}`, `{"type":"footer","keys":1,"last_seq":3}`)))
	f.Add([]byte(dumpOf(f, sampleState(f))))
	f.Add([]byte(lines(hdr, kvB, kvA, footer)))
	f.Add([]byte(lines(hdr, kvA)))
	f.Fuzz(func(t *testing.T, in []byte) {
		h, kvs, foot, err := readAll(bytes.NewReader(in))
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) || !errors.Is(err, ErrInvalidDump) {
				t.Fatalf("error %v is not a *LineError", err)
			}
			return
		}

		// Written again, it reads back the same.
		var buf bytes.Buffer
		w, err := NewWriter(&buf, h)
		if err != nil {
			t.Fatalf("accepted header rejected by the writer: %v", err)
		}
		for _, kv := range kvs {
			if err := w.Write(kv); err != nil {
				t.Fatalf("accepted key rejected by the writer: %v", err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		h2, kvs2, foot2, err := readAll(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatalf("rewritten dump rejected: %v\n%s", err, buf.Bytes())
		}
		if diff := cmp.Diff([]any{h, kvs, foot}, []any{h2, kvs2, foot2}); diff != "" {
			t.Fatalf("rewritten dump reads back differently (-first +second):\n%s", diff)
		}

		// It is a state the state machine accepts.
		r, err := NewReader(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		var snap bytes.Buffer
		if _, err := EncodeSnapshot(&snap, r, 1, h.Nodes); err != nil {
			t.Fatalf("encode: %v", err)
		}
		sm := statemachine.New()
		if err := sm.Restore(&snap); err != nil {
			t.Fatalf("accepted dump gives a snapshot the state machine rejects: %v", err)
		}
		if sm.LastSeq() != h.LastSeq || sm.KeyCount() != len(kvs) {
			t.Fatalf("restored last seq %d, %d keys; want %d, %d", sm.LastSeq(), sm.KeyCount(), h.LastSeq, len(kvs))
		}
	})
}

func readAll(in io.Reader) (Header, []KV, Footer, error) {
	r, err := NewReader(in)
	if err != nil {
		return Header{}, nil, Footer{}, err
	}
	var kvs []KV
	for {
		kv, err := r.Next()
		if err == io.EOF {
			return r.Header(), kvs, *r.Footer(), nil
		}
		if err != nil {
			return Header{}, nil, Footer{}, err
		}
		kvs = append(kvs, kv)
	}
}
