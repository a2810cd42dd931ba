package backup

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Reader reads a dump strictly: the header when created, then one key per
// Next, verifying the footer at the end. Every problem is a *LineError
// (wrapping ErrInvalidDump) naming the line: a line that is not exactly one
// JSON object, an unknown type or field, a missing or null field, a value of
// the wrong JSON type or range, a missing header or footer (a truncated
// file), keys not strictly ascending, a seq outside its bounds, a footer
// whose count or last seq disagrees, anything after the footer. Read errors
// of the input are returned as they are.
type Reader struct {
	br      *bufio.Reader
	line    int
	header  Header
	keys    uint64
	lastKey string
	footer  *Footer
	err     error // sticky
}

// NewReader reads and checks the header of the dump in r.
func NewReader(r io.Reader) (*Reader, error) {
	rd := &Reader{br: bufio.NewReaderSize(r, 256<<10)}
	line, err := rd.next()
	if err == io.EOF {
		return nil, &LineError{Msg: "empty input: no header line; is this a metasrv dump?"}
	}
	if err != nil {
		return nil, err
	}
	obj, err := rd.object(line)
	if err != nil {
		return nil, err
	}
	if obj.typ != typeHeader {
		return nil, rd.errorf("type %q, want the header first: the dump is incomplete or not a metasrv dump", obj.typ)
	}
	if err := rd.parseHeader(obj); err != nil {
		return nil, err
	}
	return rd, nil
}

// Header returns the dump's header.
func (r *Reader) Header() Header { return r.header }

// Footer returns the footer once Next has returned io.EOF, else nil.
func (r *Reader) Footer() *Footer { return r.footer }

// Next returns the next key. After the last key it checks the footer and
// that nothing follows it, and returns io.EOF: only then was the whole
// dump read and found complete. The returned KV's Data is its own.
func (r *Reader) Next() (KV, error) {
	if r.err != nil {
		return KV{}, r.err
	}
	kv, err := r.nextKV()
	if err != nil {
		r.err = err
	}
	return kv, err
}

func (r *Reader) nextKV() (KV, error) {
	line, err := r.next()
	if err == io.EOF {
		return KV{}, &LineError{Line: r.line + 1, Msg: fmt.Sprintf(
			"the dump ends after %d keys without a footer line: the file is truncated", r.keys)}
	}
	if err != nil {
		return KV{}, err
	}
	obj, err := r.object(line)
	if err != nil {
		return KV{}, err
	}
	switch obj.typ {
	case typeKV:
		return r.parseKV(obj)
	case typeFooter:
		if err := r.parseFooter(obj); err != nil {
			return KV{}, err
		}
		switch _, err := r.next(); {
		case err == io.EOF:
			return KV{}, io.EOF
		case err != nil:
			return KV{}, err
		default:
			return KV{}, r.errorf("data after the footer: the footer must be the last line")
		}
	case typeHeader:
		return KV{}, r.errorf("a second header: only the first line is a header (two dumps concatenated?)")
	default:
		return KV{}, r.errorf("unknown line type %q: want %q or %q", obj.typ, typeKV, typeFooter)
	}
}

func (r *Reader) errorf(format string, args ...any) *LineError {
	return &LineError{Line: r.line, Msg: fmt.Sprintf(format, args...)}
}

// next returns the next line without its newline, io.EOF at the end of
// input. Every line must end with a newline.
func (r *Reader) next() ([]byte, error) {
	var line []byte
	for {
		frag, err := r.br.ReadSlice('\n')
		if len(line)+len(frag) > maxLineBytes {
			r.line++
			return nil, r.errorf("line longer than %d bytes", maxLineBytes)
		}
		line = append(line, frag...)
		switch {
		case err == nil:
			r.line++
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(line) == 0:
			return nil, io.EOF
		case err == io.EOF:
			r.line++
			return nil, r.errorf("the last line does not end with a newline: the file is truncated")
		default:
			return nil, fmt.Errorf("backup: read dump: %w", err)
		}
	}
}

// object is one line parsed as a JSON object: its type and its fields.
type object struct {
	typ    string
	fields map[string]json.RawMessage
}

// object parses line as exactly one JSON object with unique keys and a
// string "type".
func (r *Reader) object(line []byte) (*object, error) {
	if len(bytes.TrimSpace(line)) == 0 {
		return nil, r.errorf("empty line")
	}
	if !utf8.Valid(line) {
		return nil, r.errorf("not valid UTF-8")
	}
	fields, msg := parseObject(line)
	if msg != "" {
		return nil, r.errorf("%s", msg)
	}
	raw, ok := fields["type"]
	if !ok {
		return nil, r.errorf("no \"type\" field")
	}
	var typ string
	if bytes.Equal(raw, []byte("null")) || json.Unmarshal(raw, &typ) != nil {
		return nil, r.errorf("\"type\" is %s, want a string", raw)
	}
	return &object{typ: typ, fields: fields}, nil
}

// parseObject splits one JSON object into its fields. It returns a message
// when b is not exactly one object, or a key repeats.
func parseObject(b []byte) (map[string]json.RawMessage, string) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, "not a JSON object"
	}
	fields := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Sprintf("bad JSON: %v", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, "bad JSON: object key is not a string"
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Sprintf("bad JSON in field %q: %v", key, err)
		}
		if _, dup := fields[key]; dup {
			return nil, fmt.Sprintf("field %q appears twice", key)
		}
		fields[key] = raw
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, "bad JSON: object not closed"
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, "more than one JSON value on the line"
	}
	return fields, ""
}

// fieldSet checks obj's fields against the required and optional names of
// its type.
func (r *Reader) fieldSet(obj *object, required, optional []string) error {
	known := map[string]bool{"type": true}
	for _, f := range required {
		known[f] = true
		if _, ok := obj.fields[f]; !ok {
			return r.errorf("%s line without the %q field", obj.typ, f)
		}
	}
	for _, f := range optional {
		known[f] = true
	}
	for f := range obj.fields {
		if !known[f] {
			return r.errorf("unknown field %q in a %s line (fields: %s)", f, obj.typ,
				strings.Join(append(append([]string{"type"}, required...), optional...), ", "))
		}
	}
	return nil
}

// decodeField decodes obj's field name into v; null is refused.
func (r *Reader) decodeField(fields map[string]json.RawMessage, what, name string, v any) error {
	raw := fields[name]
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return r.errorf("%s: %q is null", what, name)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		want := "a string"
		switch v.(type) {
		case *uint64:
			want = "an unsigned 64-bit integer"
		case *int:
			want = "an integer"
		case *bool:
			want = "true or false"
		case *[]json.RawMessage:
			want = "an array"
		}
		return r.errorf("%s: %q is %s, want %s", what, name, truncate(raw), want)
	}
	return nil
}

func truncate(raw []byte) string {
	if len(raw) > 40 {
		return string(raw[:40]) + "..."
	}
	return string(raw)
}

func (r *Reader) parseHeader(obj *object) error {
	// The version first: a newer format may have other fields.
	if _, ok := obj.fields["format_version"]; !ok {
		return r.errorf("header without the \"format_version\" field")
	}
	var version int
	if err := r.decodeField(obj.fields, "header", "format_version", &version); err != nil {
		return err
	}
	if version != FormatVersion {
		return r.errorf("format_version %d: this binary reads version %d; use a matching databend-metactl", version, FormatVersion)
	}
	err := r.fieldSet(obj, []string{"format_version", "cluster_name", "exported_at_ms", "last_seq", "applied_index", "nodes"},
		[]string{"clock_ms"})
	if err != nil {
		return err
	}
	h := &r.header
	for _, f := range []struct {
		name string
		v    any
	}{
		{"cluster_name", &h.ClusterName},
		{"exported_at_ms", &h.ExportedAtMs},
		{"last_seq", &h.LastSeq},
		{"applied_index", &h.AppliedIndex},
	} {
		if err := r.decodeField(obj.fields, "header", f.name, f.v); err != nil {
			return err
		}
	}
	if _, ok := obj.fields["clock_ms"]; ok {
		if err := r.decodeField(obj.fields, "header", "clock_ms", &h.ClockMs); err != nil {
			return err
		}
	}
	var nodes []json.RawMessage
	if err := r.decodeField(obj.fields, "header", "nodes", &nodes); err != nil {
		return err
	}
	h.Nodes = make([]Node, 0, len(nodes))
	for i, raw := range nodes {
		fields, msg := parseObject(raw)
		if msg != "" {
			return r.errorf("header: nodes[%d]: %s", i, msg)
		}
		nobj := &object{typ: fmt.Sprintf("header nodes[%d]", i), fields: fields}
		if err := r.fieldSet(nobj, []string{"id", "raft_address", "grpc_address", "voter"}, nil); err != nil {
			return err
		}
		if _, ok := fields["type"]; ok {
			return r.errorf("header: nodes[%d]: unknown field \"type\"", i)
		}
		var n Node
		what := nobj.typ
		for _, f := range []struct {
			name string
			v    any
		}{{"id", &n.ID}, {"raft_address", &n.RaftAddress}, {"grpc_address", &n.GrpcAddress}, {"voter", &n.Voter}} {
			if err := r.decodeField(fields, what, f.name, f.v); err != nil {
				return err
			}
		}
		h.Nodes = append(h.Nodes, n)
	}
	if msg := checkNodes(h.Nodes); msg != "" {
		return r.errorf("header: %s", msg)
	}
	return nil
}

func (r *Reader) parseKV(obj *object) (KV, error) {
	if err := r.fieldSet(obj, []string{"seq", "create_seq", "version"},
		[]string{"key", "key_base64", "expire_at_ms", "value", "value_base64"}); err != nil {
		return KV{}, err
	}
	var kv KV
	key, err := r.textOrBase64(obj, "kv", "key")
	if err != nil {
		return KV{}, err
	}
	kv.Key = string(key)
	for _, f := range []struct {
		name string
		v    any
	}{{"seq", &kv.Seq}, {"create_seq", &kv.CreateSeq}, {"version", &kv.Version}} {
		if err := r.decodeField(obj.fields, "kv", f.name, f.v); err != nil {
			return KV{}, err
		}
	}
	if _, ok := obj.fields["expire_at_ms"]; ok {
		if err := r.decodeField(obj.fields, "kv", "expire_at_ms", &kv.ExpireAtMs); err != nil {
			return KV{}, err
		}
		if kv.ExpireAtMs == 0 {
			return KV{}, r.errorf("key %q: expire_at_ms 0: a key without expiry omits the field", kv.Key)
		}
	}
	if kv.Data, err = r.textOrBase64(obj, fmt.Sprintf("key %q", kv.Key), "value"); err != nil {
		return KV{}, err
	}
	if len(kv.Data) == 0 {
		kv.Data = nil
	}
	if msg := checkKV(kv, r.header.LastSeq, r.lastKey, r.keys > 0); msg != "" {
		return KV{}, r.errorf("%s", msg)
	}
	r.lastKey = kv.Key
	r.keys++
	return kv, nil
}

// textOrBase64 reads the bytes of obj's field name (UTF-8 text) or
// name_base64 (RFC 4648 standard, padded): exactly one of them. what
// starts the errors.
func (r *Reader) textOrBase64(obj *object, what, name string) ([]byte, error) {
	b64Name := name + "_base64"
	_, hasText := obj.fields[name]
	_, hasB64 := obj.fields[b64Name]
	var s string
	switch {
	case hasText && hasB64:
		return nil, r.errorf("%s: both %q and %q: give one", what, name, b64Name)
	case hasText:
		if err := r.decodeField(obj.fields, "kv", name, &s); err != nil {
			return nil, err
		}
		return []byte(s), nil
	case hasB64:
		if err := r.decodeField(obj.fields, "kv", b64Name, &s); err != nil {
			return nil, err
		}
		d, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil {
			return nil, r.errorf("%s: %s is not standard padded base64: %v", what, b64Name, err)
		}
		return d, nil
	}
	return nil, r.errorf("%s: neither %q nor %q", what, name, b64Name)
}

func (r *Reader) parseFooter(obj *object) error {
	if err := r.fieldSet(obj, []string{"keys", "last_seq"}, nil); err != nil {
		return err
	}
	var f Footer
	if err := r.decodeField(obj.fields, "footer", "keys", &f.Keys); err != nil {
		return err
	}
	if err := r.decodeField(obj.fields, "footer", "last_seq", &f.LastSeq); err != nil {
		return err
	}
	if f.Keys != r.keys {
		return r.errorf("the footer counts %d keys but the dump holds %d: lines are missing or added", f.Keys, r.keys)
	}
	if f.LastSeq != r.header.LastSeq {
		return r.errorf("the footer's last_seq %d differs from the header's %d", f.LastSeq, r.header.LastSeq)
	}
	r.footer = &f
	return nil
}

// Verify reads a whole dump from r and returns its header and footer, or
// the first problem (see Reader).
func Verify(r io.Reader) (Header, Footer, error) {
	rd, err := NewReader(r)
	if err != nil {
		return Header{}, Footer{}, err
	}
	for {
		_, err := rd.Next()
		if err == io.EOF {
			return rd.Header(), *rd.Footer(), nil
		}
		if err != nil {
			return rd.Header(), Footer{}, err
		}
	}
}
