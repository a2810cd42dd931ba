package backup

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWriteReadRoundTrip(t *testing.T) {
	h := Header{
		ClusterName:  "prod",
		ExportedAtMs: 1_700_000_000_123,
		LastSeq:      100,
		AppliedIndex: 250,
		ClockMs:      1_700_000_000_000,
		Nodes: []Node{
			{ID: 1, RaftAddress: "10.0.0.1:28103", GrpcAddress: "10.0.0.1:9191", Voter: true},
			{ID: 4, RaftAddress: "10.0.0.4:28103", Voter: false},
		},
	}
	kvs := []KV{
		{Key: "a", Seq: 1, CreateSeq: 1, Version: 1, Data: []byte("text")},
		{Key: "a/b", Seq: 7, CreateSeq: 2, Version: 5, ExpireAtMs: 1_800_000_000_000, Data: []byte{0, 1, 2, 0xff}},
		{Key: "empty", Seq: 8, CreateSeq: 8, Version: 1},
		{Key: "html", Seq: 9, CreateSeq: 9, Version: 1, Data: []byte("<a href=\"x\">&amp;</a>\n\x00\x1f")},
		// Keys that are not UTF-8 (etcd's API takes any bytes) go under
		// key_base64, in byte order with the others.
		{Key: "\xc3(", Seq: 10, CreateSeq: 10, Version: 1, Data: []byte("bin")},
		{Key: "日本", Seq: 100, CreateSeq: 50, Version: 3, Data: []byte("ü")},
		{Key: "\xff\x00", Seq: 11, CreateSeq: 11, Version: 1},
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range kvs {
		if err := w.Write(kv); err != nil {
			t.Fatalf("write %q: %v", kv.Key, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	dump := buf.String()
	if !strings.Contains(dump, `"value":"<a href=\"x\">&amp;</a>\n\u0000\u001f"`) {
		t.Errorf("HTML characters escaped or value missing:\n%s", dump)
	}
	if !strings.Contains(dump, `"value_base64":"AAEC/w=="`) {
		t.Errorf("binary value not in base64:\n%s", dump)
	}
	if strings.Contains(dump, `"key":"a","seq":1,"create_seq":1,"version":1,"expire_at_ms"`) {
		t.Errorf("expire_at_ms 0 not omitted:\n%s", dump)
	}
	if !strings.Contains(dump, `{"type":"kv","key_base64":"/wA=","seq":11,`) || !strings.Contains(dump, `"key_base64":"wyg=","seq":10,`) {
		t.Errorf("keys that are not UTF-8 not in base64:\n%s", dump)
	}
	if got := strings.Count(dump, "\n"); got != len(kvs)+2 {
		t.Errorf("%d lines, want %d", got, len(kvs)+2)
	}

	r, err := NewReader(strings.NewReader(dump))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(h, r.Header()); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	var got []KV
	for {
		kv, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, kv)
	}
	if diff := cmp.Diff(kvs, got); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	if f := r.Footer(); f == nil || f.Keys != uint64(len(kvs)) || f.LastSeq != 100 {
		t.Errorf("footer %+v", f)
	}
	// Next keeps returning io.EOF.
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("Next after the end: %v", err)
	}
}

func TestWriterRefusesInvalid(t *testing.T) {
	tests := []struct {
		name string
		kvs  []KV
		want string
	}{
		{"empty key", []KV{{Key: "", Seq: 1, CreateSeq: 1, Version: 1}}, "empty key"},
		{"unsorted", []KV{{Key: "b", Seq: 1, CreateSeq: 1, Version: 1}, {Key: "a", Seq: 2, CreateSeq: 2, Version: 1}}, "not after"},
		{"duplicate", []KV{{Key: "a", Seq: 1, CreateSeq: 1, Version: 1}, {Key: "a", Seq: 2, CreateSeq: 2, Version: 1}}, "not after"},
		{"seq over last", []KV{{Key: "a", Seq: 11, CreateSeq: 1, Version: 1}}, "outside [1, last_seq 10]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := NewWriter(io.Discard, Header{LastSeq: 10})
			if err != nil {
				t.Fatal(err)
			}
			for _, kv := range tt.kvs {
				err = w.Write(kv)
			}
			if !errors.Is(err, ErrInvalidDump) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want ErrInvalidDump with %q", err, tt.want)
			}
		})
	}
	if _, err := NewWriter(io.Discard, Header{Nodes: []Node{{ID: 2}, {ID: 1}}}); !errors.Is(err, ErrInvalidDump) {
		t.Errorf("unsorted nodes: %v", err)
	}
	if _, err := NewWriter(io.Discard, Header{ClusterName: "\xff"}); !errors.Is(err, ErrInvalidDump) {
		t.Errorf("cluster name not UTF-8: %v", err)
	}
}

// Lines for building dumps in the error table.
const (
	hdr    = `{"type":"header","format_version":1,"cluster_name":"c","exported_at_ms":1,"last_seq":5,"applied_index":9,"nodes":[]}`
	kvA    = `{"type":"kv","key":"a","seq":1,"create_seq":1,"version":1,"value":"x"}`
	kvB    = `{"type":"kv","key":"b","seq":5,"create_seq":2,"version":2,"expire_at_ms":7,"value_base64":"AAE="}`
	footer = `{"type":"footer","keys":2,"last_seq":5}`
)

func lines(ls ...string) string { return strings.Join(ls, "\n") + "\n" }

func TestReaderAcceptsValid(t *testing.T) {
	for name, in := range map[string]string{
		"two keys":    lines(hdr, kvA, kvB, footer),
		"no keys":     lines(hdr, `{"type":"footer","keys":0,"last_seq":5}`),
		"clock":       lines(`{"type":"header","format_version":1,"cluster_name":"c","exported_at_ms":1,"last_seq":0,"applied_index":0,"clock_ms":3,"nodes":[{"id":1,"raft_address":"a:1","grpc_address":"","voter":true}]}`, `{"type":"footer","keys":0,"last_seq":0}`),
		"crlf":        strings.ReplaceAll(lines(hdr, kvA, kvB, footer), "\n", "\r\n"),
		"field order": lines(hdr, `{"value":"x","version":1,"create_seq":1,"seq":1,"key":"a","type":"kv"}`, `{"last_seq":5,"keys":1,"type":"footer"}`),
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := Verify(strings.NewReader(in)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestReaderErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		line int    // the line the error names
		want string // a part of the message
	}{
		{"empty input", "", 0, "empty input"},
		{"no header", lines(kvA, footer), 1, "want the header first"},
		{"not json", lines("hello"), 1, "not a JSON object"},
		{"json array", lines("[1,2]"), 1, "not a JSON object"},
		{"two objects on a line", lines(hdr + hdr), 1, "more than one JSON value"},
		{"empty line", lines(hdr, "", kvA), 2, "empty line"},
		{"invalid utf-8", lines(hdr, "{\"type\":\"kv\",\"key\":\"\xff\"}"), 2, "not valid UTF-8"},
		{"no type", lines(`{"format_version":1}`), 1, `no "type" field`},
		{"type not a string", lines(`{"type":1}`), 1, `"type" is 1, want a string`},
		{"unknown type", lines(hdr, `{"type":"kvv","key":"a"}`), 2, `unknown line type "kvv"`},
		{"second header", lines(hdr, hdr), 2, "a second header"},
		{"format version", lines(`{"type":"header","format_version":2,"cluster_name":"c"}`), 1, "format_version 2: this binary reads version 1"},
		{"no format version", lines(`{"type":"header","cluster_name":"c"}`), 1, `without the "format_version" field`},
		{"header unknown field", lines(`{"type":"header","format_version":1,"cluster_name":"c","exported_at_ms":1,"last_seq":5,"applied_index":9,"nodes":[],"extra":1}`), 1, `unknown field "extra"`},
		{"header missing field", lines(`{"type":"header","format_version":1,"cluster_name":"c","exported_at_ms":1,"applied_index":9,"nodes":[]}`), 1, `without the "last_seq" field`},
		{"header negative", lines(`{"type":"header","format_version":1,"cluster_name":"c","exported_at_ms":-1,"last_seq":5,"applied_index":9,"nodes":[]}`), 1, `"exported_at_ms" is -1, want an unsigned 64-bit integer`},
		{"header null", lines(`{"type":"header","format_version":1,"cluster_name":null,"exported_at_ms":1,"last_seq":5,"applied_index":9,"nodes":[]}`), 1, `"cluster_name" is null`},
		{"node unknown field", lines(`{"type":"header","format_version":1,"cluster_name":"c","exported_at_ms":1,"last_seq":5,"applied_index":9,"nodes":[{"id":1,"raft_address":"","grpc_address":"","voter":true,"x":1}]}`), 1, `unknown field "x"`},
		{"node id 0", lines(`{"type":"header","format_version":1,"cluster_name":"c","exported_at_ms":1,"last_seq":5,"applied_index":9,"nodes":[{"id":0,"raft_address":"","grpc_address":"","voter":true}]}`), 1, "node with id 0"},
		{"duplicate field", lines(hdr, `{"type":"kv","key":"a","key":"b","seq":1,"create_seq":1,"version":1,"value":"x"}`), 2, `field "key" appears twice`},
		{"kv unknown field", lines(hdr, `{"type":"kv","key":"a","seq":1,"create_seq":1,"version":1,"value":"x","ttl":3}`), 2, `unknown field "ttl"`},
		{"kv missing seq", lines(hdr, `{"type":"kv","key":"a","create_seq":1,"version":1,"value":"x"}`), 2, `without the "seq" field`},
		{"kv seq a string", lines(hdr, `{"type":"kv","key":"a","seq":"1","create_seq":1,"version":1,"value":"x"}`), 2, `"seq" is "1", want an unsigned`},
		{"kv seq fraction", lines(hdr, `{"type":"kv","key":"a","seq":1.5,"create_seq":1,"version":1,"value":"x"}`), 2, `"seq" is 1.5`},
		{"kv seq overflow", lines(hdr, `{"type":"kv","key":"a","seq":18446744073709551616,"create_seq":1,"version":1,"value":"x"}`), 2, `"seq" is 18446744073709551616`},
		{"kv seq over last", lines(hdr, `{"type":"kv","key":"a","seq":6,"create_seq":1,"version":1,"value":"x"}`), 2, "seq 6 outside [1, last_seq 5]"},
		{"kv seq 0", lines(hdr, `{"type":"kv","key":"a","seq":0,"create_seq":0,"version":1,"value":"x"}`), 2, "seq 0 outside"},
		{"kv create_seq over seq", lines(hdr, `{"type":"kv","key":"a","seq":2,"create_seq":3,"version":1,"value":"x"}`), 2, "create_seq 3 outside [1, seq 2]"},
		{"kv version 0", lines(hdr, `{"type":"kv","key":"a","seq":2,"create_seq":1,"version":0,"value":"x"}`), 2, "version 0"},
		{"kv expire 0", lines(hdr, `{"type":"kv","key":"a","seq":2,"create_seq":1,"version":1,"expire_at_ms":0,"value":"x"}`), 2, "expire_at_ms 0"},
		{"kv empty key", lines(hdr, `{"type":"kv","key":"","seq":2,"create_seq":1,"version":1,"value":"x"}`), 2, "empty key"},
		{"kv no value", lines(hdr, `{"type":"kv","key":"a","seq":2,"create_seq":1,"version":1}`), 2, `neither "value" nor "value_base64"`},
		{"kv both values", lines(hdr, `{"type":"kv","key":"a","seq":2,"create_seq":1,"version":1,"value":"x","value_base64":"eA=="}`), 2, "both"},
		{"kv no key", lines(hdr, `{"type":"kv","seq":2,"create_seq":1,"version":1,"value":"x"}`), 2, `kv: neither "key" nor "key_base64"`},
		{"kv both keys", lines(hdr, `{"type":"kv","key":"a","key_base64":"YQ==","seq":2,"create_seq":1,"version":1,"value":"x"}`), 2, `kv: both "key" and "key_base64"`},
		{"kv bad key base64", lines(hdr, `{"type":"kv","key_base64":"/w","seq":2,"create_seq":1,"version":1,"value":"x"}`), 2, "key_base64 is not standard padded base64"},
		{"kv empty key base64", lines(hdr, `{"type":"kv","key_base64":"","seq":2,"create_seq":1,"version":1,"value":"x"}`), 2, "empty key"},
		{"kv binary keys unsorted", lines(hdr, `{"type":"kv","key_base64":"/w==","seq":1,"create_seq":1,"version":1,"value":"x"}`, kvA), 3, `key "a" is not after the previous key "\xff"`},
		{"kv bad base64", lines(hdr, `{"type":"kv","key":"a","seq":2,"create_seq":1,"version":1,"value_base64":"eA"}`), 2, "not standard padded base64"},
		{"kv unsorted", lines(hdr, kvB, kvA, footer), 3, `key "a" is not after the previous key "b"`},
		{"kv duplicate", lines(hdr, kvA, kvA, footer), 3, `key "a" is not after the previous key "a"`},
		{"truncated: no footer", lines(hdr, kvA, kvB), 4, "without a footer line"},
		{"truncated mid-line", lines(hdr, kvA) + kvB[:20], 3, "does not end with a newline"},
		{"truncated: footer without newline", lines(hdr, kvA, kvB) + footer, 4, "does not end with a newline"},
		{"footer count", lines(hdr, kvA, `{"type":"footer","keys":2,"last_seq":5}`), 3, "the footer counts 2 keys but the dump holds 1"},
		{"footer last seq", lines(hdr, kvA, kvB, `{"type":"footer","keys":2,"last_seq":6}`), 4, "last_seq 6 differs from the header's 5"},
		{"footer unknown field", lines(hdr, `{"type":"footer","keys":0,"last_seq":5,"crc":1}`), 2, `unknown field "crc"`},
		{"data after footer", lines(hdr, kvA, kvB, footer, kvA), 5, "data after the footer"},
		{"blank after footer", lines(hdr, kvA, kvB, footer, ""), 5, "data after the footer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Verify(strings.NewReader(tt.in))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalidDump) {
				t.Errorf("%v does not wrap ErrInvalidDump", err)
			}
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("%v is not a *LineError", err)
			}
			if le.Line != tt.line {
				t.Errorf("line %d, want %d (%v)", le.Line, tt.line, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// errReader fails after its data.
type errReader struct {
	data []byte
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReaderPassesReadErrors(t *testing.T) {
	boom := errors.New("disk on fire")
	_, _, err := Verify(&errReader{data: []byte(lines(hdr, kvA)), err: boom})
	if !errors.Is(err, boom) || errors.Is(err, ErrInvalidDump) {
		t.Errorf("got %v, want the read error", err)
	}
}
