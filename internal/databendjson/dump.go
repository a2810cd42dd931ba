package databendjson

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
)

// Tree names of a dump line: the sled tree (V003) or the part of the
// store (V004) a line belongs to.
const (
	TreeHeader       = "header"          // the DataHeader line, first
	TreeRaftState    = "raft_state"      // V003: node id and vote
	TreeRaftLog      = "raft_log"        // log entries and (V004) raft state
	TreeStateMachine = "state_machine/0" // the state machine; Databend accepts any "state_machine/" name
)

// Line is one line of a databend-metactl export: ["tree",{"Kind":...}].
type Line struct {
	Tree  string
	Entry DumpEntry
}

// DumpEntry is the entry of a dump line (Databend's RaftStoreEntry): one of
// the Dump* types. Kind returns its variant name ("GenericKV", ...).
type DumpEntry interface {
	variantShape
	Kind() string
}

// V003 and V004, state machine (tree state_machine/0):

// DumpDataHeader: {"DataHeader":{"key":"header","value":{"version":"V004"}}}.
// Also the only line of the header tree.
type DumpDataHeader struct {
	Key   string // "header"
	Value Header
}

// DumpNodes: a member of the node table,
// {"Nodes":{"key":1,"value":{"name":"1",...}}}.
type DumpNodes struct {
	Key   uint64
	Value Node
}

// DumpStateMachineMeta: the last applied log id or the last membership,
// {"StateMachineMeta":{"key":"LastApplied","value":{"LogId":{...}}}}.
type DumpStateMachineMeta struct {
	Key   StateMachineMetaKey
	Value StateMachineMetaValue
}

// DumpExpire: an expiry index record,
// {"Expire":{"key":{"time_ms":...,"seq":157},"value":{"seq":1,"key":"..."}}}.
type DumpExpire struct {
	Key   ExpireKey
	Value ExpireValue
}

// DumpGenericKV: a key and its value,
// {"GenericKV":{"key":"k","value":{"seq":2,"meta":{...},"data":[..]}}}.
type DumpGenericKV struct {
	Key   string
	Value SeqV
}

// DumpSequences: a sequence counter,
// {"Sequences":{"key":"generic-kv","value":159}}.
type DumpSequences struct {
	Key   string
	Value uint64
}

// V003 only:

// DumpLogs: a raft log entry (tree raft_log),
// {"Logs":{"key":2,"value":{"log_id":{...},"payload":{...}}}}.
type DumpLogs struct {
	Key   uint64 // the entry's index
	Value Entry
}

// DumpRaftStateKV: the node id or the vote (tree raft_state),
// {"RaftStateKV":{"key":"Id","value":{"NodeId":1}}}.
type DumpRaftStateKV struct {
	Key   RaftStateKey
	Value RaftStateValue
}

// DumpLogMeta: the last purged log id (tree raft_log),
// {"LogMeta":{"key":"LastPurged","value":{"LogId":{...}}}}.
type DumpLogMeta struct {
	Key   LogMetaKey
	Value LogID // written as {"LogId":{...}}, the only LogMetaValue
}

// V004 only (tree raft_log):

// DumpLogEntry: a raft log entry, {"LogEntry":{"log_id":{...},"payload":...}}.
type DumpLogEntry struct {
	Entry Entry
}

// DumpNodeID: the node's id, {"NodeId":1}; nil is written as null.
type DumpNodeID struct {
	NodeID *uint64
}

// DumpVote: raft's vote, {"Vote":{"leader_id":{...},"committed":false}}.
type DumpVote struct {
	Vote *Vote
}

// DumpCommitted: the last committed log id, {"Committed":null}.
type DumpCommitted struct {
	LogID *LogID
}

// DumpPurged: the last purged log id, {"Purged":{"leader_id":{...},"index":1}}.
type DumpPurged struct {
	LogID *LogID
}

func (*DumpDataHeader) variant() string       { return "DataHeader" }
func (*DumpLogs) variant() string             { return "Logs" }
func (*DumpNodes) variant() string            { return "Nodes" }
func (*DumpStateMachineMeta) variant() string { return "StateMachineMeta" }
func (*DumpRaftStateKV) variant() string      { return "RaftStateKV" }
func (*DumpExpire) variant() string           { return "Expire" }
func (*DumpGenericKV) variant() string        { return "GenericKV" }
func (*DumpSequences) variant() string        { return "Sequences" }
func (*DumpLogMeta) variant() string          { return "LogMeta" }
func (*DumpLogEntry) variant() string         { return "LogEntry" }
func (*DumpNodeID) variant() string           { return "NodeId" }
func (*DumpVote) variant() string             { return "Vote" }
func (*DumpCommitted) variant() string        { return "Committed" }
func (*DumpPurged) variant() string           { return "Purged" }

func (v *DumpDataHeader) Kind() string       { return v.variant() }
func (v *DumpLogs) Kind() string             { return v.variant() }
func (v *DumpNodes) Kind() string            { return v.variant() }
func (v *DumpStateMachineMeta) Kind() string { return v.variant() }
func (v *DumpRaftStateKV) Kind() string      { return v.variant() }
func (v *DumpExpire) Kind() string           { return v.variant() }
func (v *DumpGenericKV) Kind() string        { return v.variant() }
func (v *DumpSequences) Kind() string        { return v.variant() }
func (v *DumpLogMeta) Kind() string          { return v.variant() }
func (v *DumpLogEntry) Kind() string         { return v.variant() }
func (v *DumpNodeID) Kind() string           { return v.variant() }
func (v *DumpVote) Kind() string             { return v.variant() }
func (v *DumpCommitted) Kind() string        { return v.variant() }
func (v *DumpPurged) Kind() string           { return v.variant() }

// dumpKinds lists RaftStoreEntry's variants in Databend's order.
var dumpKinds = []string{
	"DataHeader", "Logs", "Nodes", "StateMachineMeta", "RaftStateKV", "Expire", "GenericKV", "Sequences", "LogMeta",
	"LogEntry", "NodeId", "Vote", "Committed", "Purged",
}

func newDumpEntry(kind string) DumpEntry {
	switch kind {
	case "DataHeader":
		return &DumpDataHeader{}
	case "Logs":
		return &DumpLogs{}
	case "Nodes":
		return &DumpNodes{}
	case "StateMachineMeta":
		return &DumpStateMachineMeta{}
	case "RaftStateKV":
		return &DumpRaftStateKV{}
	case "Expire":
		return &DumpExpire{}
	case "GenericKV":
		return &DumpGenericKV{}
	case "Sequences":
		return &DumpSequences{}
	case "LogMeta":
		return &DumpLogMeta{}
	case "LogEntry":
		return &DumpLogEntry{}
	case "NodeId":
		return &DumpNodeID{}
	case "Vote":
		return &DumpVote{}
	case "Committed":
		return &DumpCommitted{}
	default:
		return &DumpPurged{}
	}
}

// treeKinds returns the entry kinds a tree holds, as Databend's importer
// routes them: a state_machine/ tree only SMEntry kinds, the others only
// raft store kinds.
func treeKinds(tree string) []string {
	switch {
	case tree == TreeHeader:
		return []string{"DataHeader"}
	case tree == TreeRaftState:
		return []string{"RaftStateKV"}
	case tree == TreeRaftLog:
		return []string{"Logs", "LogMeta", "LogEntry", "NodeId", "Vote", "Committed", "Purged"}
	case strings.HasPrefix(tree, "state_machine/"):
		return []string{"DataHeader", "Nodes", "StateMachineMeta", "Expire", "GenericKV", "Sequences"}
	}
	return nil
}

// keyValueFields is the body of every {key, value} entry kind.
var kvEntryFields = fields{names: []string{"key", "value"}, required: []string{"key", "value"}}

// writeKV writes {"key":...,"value":...}.
func writeKV(e *encoder, key, value func()) {
	e.objOpen()
	e.key("key")
	key()
	e.key("value")
	value()
	e.objClose()
}

func readKV(d *decoder, key, value func() error) error {
	_, err := d.object(&kvEntryFields, func(i int) error {
		if i == 0 {
			return key()
		}
		return value()
	})
	return err
}

func (v *DumpDataHeader) encode(e *encoder) {
	writeKV(e, func() { e.str(v.Key) }, func() { v.Value.encode(e) })
}

func (v *DumpDataHeader) decode(d *decoder) error {
	return readKV(d, func() error { return d.readStr(&v.Key) }, func() error { return v.Value.decode(d) })
}

func (v *DumpNodes) encode(e *encoder) {
	writeKV(e, func() { e.u64(v.Key) }, func() { v.Value.encode(e) })
}

func (v *DumpNodes) decode(d *decoder) error {
	return readKV(d, func() error { return d.readU64(&v.Key) }, func() error { return v.Value.decode(d) })
}

func (v *DumpStateMachineMeta) encode(e *encoder) {
	writeKV(e, func() { writeUnit(e, "StateMachineMetaKey", string(v.Key), smMetaKeys) }, func() { v.Value.encode(e) })
}

func (v *DumpStateMachineMeta) decode(d *decoder) error {
	return readKV(d, func() error {
		s, err := readUnit(d, "StateMachineMetaKey", smMetaKeys)
		v.Key = StateMachineMetaKey(s)
		return err
	}, func() error { return v.Value.decode(d) })
}

func (v *DumpExpire) encode(e *encoder) {
	writeKV(e, func() { v.Key.encode(e) }, func() { v.Value.encode(e) })
}

func (v *DumpExpire) decode(d *decoder) error {
	return readKV(d, func() error { return v.Key.decode(d) }, func() error { return v.Value.decode(d) })
}

func (v *DumpGenericKV) encode(e *encoder) {
	writeKV(e, func() { e.str(v.Key) }, func() { v.Value.encode(e) })
}

func (v *DumpGenericKV) decode(d *decoder) error {
	return readKV(d, func() error { return d.readStr(&v.Key) }, func() error { return v.Value.decode(d) })
}

func (v *DumpSequences) encode(e *encoder) {
	writeKV(e, func() { e.str(v.Key) }, func() { e.u64(v.Value) })
}

func (v *DumpSequences) decode(d *decoder) error {
	return readKV(d, func() error { return d.readStr(&v.Key) }, func() error { return d.readU64(&v.Value) })
}

func (v *DumpLogs) encode(e *encoder) {
	writeKV(e, func() { e.u64(v.Key) }, func() { v.Value.encode(e) })
}

func (v *DumpLogs) decode(d *decoder) error {
	return readKV(d, func() error { return d.readU64(&v.Key) }, func() error { return v.Value.decode(d) })
}

func (v *DumpRaftStateKV) encode(e *encoder) {
	writeKV(e, func() { writeUnit(e, "RaftStateKey", string(v.Key), raftStateKeys) }, func() { v.Value.encode(e) })
}

func (v *DumpRaftStateKV) decode(d *decoder) error {
	return readKV(d, func() error {
		s, err := readUnit(d, "RaftStateKey", raftStateKeys)
		v.Key = RaftStateKey(s)
		return err
	}, func() error { return v.Value.decode(d) })
}

func (v *DumpLogMeta) encode(e *encoder) {
	writeKV(e, func() { writeUnit(e, "LogMetaKey", string(v.Key), logMetaKeys) }, func() {
		e.variantOpen("LogId")
		v.Value.encode(e)
		e.objClose()
	})
}

func (v *DumpLogMeta) decode(d *decoder) error {
	return readKV(d, func() error {
		s, err := readUnit(d, "LogMetaKey", logMetaKeys)
		v.Key = LogMetaKey(s)
		return err
	}, func() error {
		return d.variant("LogMetaValue", []string{"LogId"}, func(name string, hasValue bool) error {
			if err := d.dataOnly(name, hasValue); err != nil {
				return err
			}
			return v.Value.decode(d)
		})
	})
}

func (v *DumpLogEntry) encode(e *encoder)       { v.Entry.encode(e) }
func (v *DumpLogEntry) decode(d *decoder) error { return v.Entry.decode(d) }

func (v *DumpNodeID) encode(e *encoder) {
	if v.NodeID == nil {
		e.null()
		return
	}
	e.u64(*v.NodeID)
}

func (v *DumpNodeID) decode(d *decoder) error { return pointer(d, &v.NodeID, d.readU64) }

func (v *DumpVote) encode(e *encoder) { writeNullable(e, v.Vote) }

func (v *DumpVote) decode(d *decoder) error { return readNullable(d, &v.Vote) }

func (v *DumpCommitted) encode(e *encoder) { writeNullable(e, v.LogID) }

func (v *DumpCommitted) decode(d *decoder) error { return readNullable(d, &v.LogID) }

func (v *DumpPurged) encode(e *encoder) { writeNullable(e, v.LogID) }

func (v *DumpPurged) decode(d *decoder) error { return readNullable(d, &v.LogID) }

// writeNullable writes an Option<T> value: null or the value.
func writeNullable[T any, P interface {
	*T
	Shape
}](e *encoder, v P) {
	if v == nil {
		e.null()
		return
	}
	v.encode(e)
}

func readNullable[T any, P interface {
	*T
	Shape
}](d *decoder, v *P) error {
	isNull, err := d.null()
	if err != nil || isNull {
		*v = nil
		return err
	}
	p := P(new(T))
	*v = p
	return p.decode(d)
}

// writeUnit writes a unit enum variant, which must be one of names.
func writeUnit(e *encoder, what, s string, names []string) {
	if indexOf(names, s) < 0 {
		e.fail("%s %q", what, s)
	}
	e.str(s)
}

func readUnit(d *decoder, what string, names []string) (string, error) {
	var s string
	err := d.variant(what, names, func(name string, hasValue bool) error {
		s = name
		return d.unitOnly(name, hasValue)
	})
	return s, err
}

// DecodeLine reads one dump line (its trailing newline may be left on). An
// error is an *Error with Line 0 (Reader sets the line number).
func DecodeLine(b []byte) (Line, error) {
	d := newDecoder(b)
	var l Line
	if err := decodeLine(d, &l); err != nil {
		return Line{}, err
	}
	return l, nil
}

// decodeLine reads ["tree",{...}]. The path in errors starts at the entry.
func decodeLine(d *decoder, l *Line) error {
	if d.peek() != '[' {
		return d.typeErr("a dump line [tree, entry]")
	}
	d.pos++
	if d.peek() == ']' {
		return d.shapeErr("a dump line is [tree, entry], got []")
	}
	treeAt := d.peekPos()
	if err := d.readStr(&l.Tree); err != nil {
		return err
	}
	if treeKinds(l.Tree) == nil {
		return d.errAt(ErrShape, treeAt, "unknown tree %q (want %s, %s, %s or state_machine/N)",
			l.Tree, TreeHeader, TreeRaftState, TreeRaftLog)
	}
	if d.peek() != ',' {
		if d.peek() == ']' {
			return d.shapeErr("a dump line is [tree, entry], got no entry")
		}
		return d.syntaxErr("want , or ] in an array")
	}
	d.pos++
	if err := decodeDumpEntry(d, l.Tree, &l.Entry); err != nil {
		return err
	}
	switch d.peek() {
	case ']':
		d.pos++
	case ',':
		return d.shapeErr("a dump line is [tree, entry], got more elements")
	default:
		return d.syntaxErr("want , or ] in an array")
	}
	return d.end()
}

func decodeDumpEntry(d *decoder, tree string, out *DumpEntry) error {
	kinds := treeKinds(tree)
	start := d.peekPos()
	return d.variant("RaftStoreEntry", dumpKinds, func(name string, hasValue bool) error {
		if indexOf(kinds, name) < 0 {
			return d.errAt(ErrShape, start, "a %s entry cannot be in tree %q, which holds %s",
				name, tree, strings.Join(kinds, ", "))
		}
		if err := d.dataOnly(name, hasValue); err != nil {
			return err
		}
		v := newDumpEntry(name)
		*out = v
		return v.decode(d)
	})
}

// AppendLine appends l as databend-meta writes a dump line, without the
// newline.
func AppendLine(dst []byte, l Line) ([]byte, error) {
	e := &encoder{b: dst}
	e.arrOpen()
	e.elem()
	e.str(l.Tree)
	e.elem()
	switch kinds := treeKinds(l.Tree); {
	case kinds == nil:
		e.fail("unknown tree %q", l.Tree)
	case l.Entry != nil && indexOf(kinds, l.Entry.Kind()) < 0:
		e.fail("a %s entry cannot be in tree %q", l.Entry.Kind(), l.Tree)
	}
	encodeSum(e, "dump entry", l.Entry)
	e.arrClose()
	if e.err != nil {
		return dst, e.err
	}
	return e.b, nil
}

// Reader reads a dump line by line.
type Reader struct {
	br   *bufio.Reader
	line int
}

// NewReader returns a Reader of r.
func NewReader(r io.Reader) *Reader { return &Reader{br: bufio.NewReaderSize(r, 1<<16)} }

// Next returns the next line, or io.EOF after the last. A line that cannot
// be read is an *Error with its line number; so is an empty line.
func (r *Reader) Next() (Line, error) {
	b, err := r.br.ReadBytes('\n')
	if len(b) == 0 && err != nil {
		return Line{}, err // io.EOF, or a read error
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return Line{}, err
	}
	r.line++
	if len(bytes.TrimSpace(b)) == 0 {
		return Line{}, &Error{Line: r.line, Msg: "empty line", Err: ErrSyntax}
	}
	l, err := DecodeLine(b)
	if err != nil {
		var de *Error
		if errors.As(err, &de) {
			de.Line = r.line
		}
		return Line{}, err
	}
	return l, nil
}

// LineNumber returns the number of the line Next returned last (1-based).
func (r *Reader) LineNumber() int { return r.line }

// Writer writes dump lines, each ended by a newline. Call Flush at the end.
type Writer struct {
	bw  *bufio.Writer
	buf []byte
}

// NewWriter returns a Writer to w.
func NewWriter(w io.Writer) *Writer { return &Writer{bw: bufio.NewWriterSize(w, 1<<16)} }

// Write writes l and a newline.
func (w *Writer) Write(l Line) error {
	b, err := AppendLine(w.buf[:0], l)
	if err != nil {
		return err
	}
	w.buf = append(b, '\n')
	_, err = w.bw.Write(w.buf)
	return err
}

// Flush writes out what is buffered.
func (w *Writer) Flush() error { return w.bw.Flush() }
