package backup

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"

	"github.com/metasrv/metasrv/api/metapb"
)

// Writer writes a dump: the header when created, then one line per Write,
// then the footer on Close. It checks what it is given as Reader would, so
// that it never writes a dump that Reader rejects. Not safe for concurrent
// use.
type Writer struct {
	bw      *bufio.Writer
	enc     *json.Encoder
	lastSeq uint64
	keys    uint64
	lastKey string
	closed  bool
	err     error // sticky
}

// NewWriter writes the header h to w and returns a Writer for the keys.
// Errors: a header that Reader would reject wraps ErrInvalidDump; else a
// write error of w.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	if msg := checkNodes(h.Nodes); msg != "" {
		return nil, fmt.Errorf("%w: header: %s", ErrInvalidDump, msg)
	}
	if !utf8.ValidString(h.ClusterName) {
		return nil, fmt.Errorf("%w: header: cluster name %q is not valid UTF-8", ErrInvalidDump, h.ClusterName)
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false) // keep values readable: no \u003c for '<'
	wr := &Writer{bw: bw, enc: enc, lastSeq: h.LastSeq}
	hj := headerJSON{
		Type:          typeHeader,
		FormatVersion: FormatVersion,
		ClusterName:   h.ClusterName,
		ExportedAtMs:  h.ExportedAtMs,
		LastSeq:       h.LastSeq,
		AppliedIndex:  h.AppliedIndex,
		ClockMs:       h.ClockMs,
		Nodes:         make([]nodeJSON, len(h.Nodes)),
	}
	for i, n := range h.Nodes {
		hj.Nodes[i] = nodeJSON(n)
	}
	if err := wr.line(hj); err != nil {
		return nil, err
	}
	return wr, nil
}

// Write writes one key. Keys must come in strictly ascending order (byte
// order of the keys, as the state machine keeps them) and pass the checks
// of Reader, else the error wraps ErrInvalidDump and nothing is written.
func (w *Writer) Write(kv KV) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("backup: Write after Close")
	}
	if msg := checkKV(kv, w.lastSeq, w.lastKey, w.keys > 0); msg != "" {
		return fmt.Errorf("%w: %s", ErrInvalidDump, msg)
	}
	kj := kvJSON{
		Type:       typeKV,
		Seq:        kv.Seq,
		CreateSeq:  kv.CreateSeq,
		Version:    kv.Version,
		ExpireAtMs: kv.ExpireAtMs,
	}
	kj.Key, kj.KeyBase64 = TextOrBase64([]byte(kv.Key))
	kj.Value, kj.ValueBase64 = TextOrBase64(kv.Data)
	if err := w.line(kj); err != nil {
		return err
	}
	w.lastKey = kv.Key
	w.keys++
	return nil
}

// TextOrBase64 returns b as text when it is valid UTF-8, else as base64
// (RFC 4648 standard, padded): JSON strings hold UTF-8 text only. It is
// how the dump writes keys and values ("key" or "key_base64", "value" or
// "value_base64"), and how databend-metactl's JSON output writes them.
func TextOrBase64(b []byte) (text, b64 *string) {
	if utf8.Valid(b) {
		s := string(b)
		return &s, nil
	}
	s := base64.StdEncoding.EncodeToString(b)
	return nil, &s
}

// Close writes the footer and flushes. It does not close the underlying
// writer. A second Close returns nil.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	if w.err != nil {
		return w.err
	}
	if err := w.line(footerJSON{Type: typeFooter, Keys: w.keys, LastSeq: w.lastSeq}); err != nil {
		return err
	}
	if err := w.bw.Flush(); err != nil {
		w.err = fmt.Errorf("backup: write dump: %w", err)
	}
	return w.err
}

// Keys returns the number of keys written so far.
func (w *Writer) Keys() uint64 { return w.keys }

func (w *Writer) line(v any) error {
	if err := w.enc.Encode(v); err != nil { // Encode ends the line with '\n'
		w.err = fmt.Errorf("backup: write dump: %w", err)
	}
	return w.err
}

// Source is a consistent, read-only copy of the keys, such as
// *statemachine.View or *statemachine.Snapshot. Range calls fn for the keys
// in [key, keyEnd) not expired at nowMs, ascending, until fn returns false;
// fn owns the KV it gets. It may be called from any goroutine.
type Source interface {
	LastSeq() uint64
	AppliedIndex() uint64
	Range(key, keyEnd string, nowMs uint64, fn func(*metapb.KV) bool)
}

// allKeysEnd is the end of a Range over every key ("" to the end).
const allKeysEnd = "\x00"

// Export writes the dump of src to w: h with its LastSeq and AppliedIndex
// taken from src, then every key src holds, including keys that have
// expired but are not yet removed (the state machine removes them at its
// next apply, which a restored cluster does likewise), then the footer.
// It holds no lock: src is a copy.
func Export(w io.Writer, h Header, src Source) error {
	h.LastSeq = src.LastSeq()
	h.AppliedIndex = src.AppliedIndex()
	wr, err := NewWriter(w, h)
	if err != nil {
		return err
	}
	// nowMs 0: nothing counts as expired.
	src.Range("", allKeysEnd, 0, func(kv *metapb.KV) bool {
		v := kv.GetValue()
		err = wr.Write(KV{
			Key:        kv.GetKey(),
			Seq:        v.GetSeq(),
			CreateSeq:  v.GetCreateSeq(),
			Version:    v.GetVersion(),
			ExpireAtMs: v.GetExpireAtMs(),
			Data:       v.GetData(),
		})
		return err == nil
	})
	if err != nil {
		return err
	}
	return wr.Close()
}

// NodesFromProto converts a member list (as statemachine.Nodes returns
// it) for a Header, sorted by id.
func NodesFromProto(nodes []*metapb.Node) []Node {
	out := make([]Node, len(nodes))
	for i, n := range nodes {
		out[i] = Node{ID: n.GetId(), RaftAddress: n.GetRaftAddress(), GrpcAddress: n.GetGrpcAddress(), Voter: n.GetVoter()}
	}
	slices.SortFunc(out, func(a, b Node) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// checkKV returns why kv cannot follow prevKey (when notFirst) in a dump
// with last seq lastSeq, or "".
func checkKV(kv KV, lastSeq uint64, prevKey string, notFirst bool) string {
	switch {
	case kv.Key == "":
		return "empty key"
	case notFirst && kv.Key <= prevKey:
		return fmt.Sprintf("key %q is not after the previous key %q: keys must be unique and in ascending byte order", kv.Key, prevKey)
	case kv.Seq == 0 || kv.Seq > lastSeq:
		return fmt.Sprintf("key %q: seq %d outside [1, last_seq %d]", kv.Key, kv.Seq, lastSeq)
	case kv.CreateSeq == 0 || kv.CreateSeq > kv.Seq:
		return fmt.Sprintf("key %q: create_seq %d outside [1, seq %d]", kv.Key, kv.CreateSeq, kv.Seq)
	case kv.Version == 0:
		return fmt.Sprintf("key %q: version 0, want >= 1", kv.Key)
	}
	return ""
}

// checkNodes returns why nodes is not a valid member list, or "".
func checkNodes(nodes []Node) string {
	for i, n := range nodes {
		switch {
		case n.ID == 0:
			return "node with id 0"
		case i > 0 && n.ID <= nodes[i-1].ID:
			return fmt.Sprintf("node ids not unique and ascending: %d after %d", n.ID, nodes[i-1].ID)
		case !utf8.ValidString(n.RaftAddress) || !utf8.ValidString(n.GrpcAddress):
			return fmt.Sprintf("node %d: address is not valid UTF-8", n.ID)
		}
	}
	return ""
}
