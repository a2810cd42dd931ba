package main

// The JSON form of a transaction (the txn command's --file), documented in
// README.md "Transactions in JSON" and in the txn command's help. The
// decoder is strict: an unknown or repeated field, a wrong type, or two of
// a set of exclusive fields is an error naming the field by its path, e.g.
// `if_then[1].put: unknown field "vaule" (known: key, value, ...)`.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/metasrv/metasrv/api/metapb"
)

// parseTxn decodes the JSON form of a transaction. A transaction has one
// of two forms: "condition", "if_then" and "else_then" (each optional), or
// "branches" with at least one branch. "branches": [] is refused rather
// than read as the other form: on the wire an empty list is no list, so
// the server would run it as an empty condition form (path "then").
func parseTxn(data []byte) (*metapb.TxnRequest, error) {
	if err := checkUTF8(data); err != nil {
		return nil, err
	}
	if err := checkSyntax(data); err != nil {
		return nil, err
	}
	top, err := decodeObject("", data, "condition", "if_then", "else_then", "branches")
	if err != nil {
		return nil, err
	}
	req := &metapb.TxnRequest{}
	conds, _, err := top.array("condition")
	if err != nil {
		return nil, err
	}
	for i, raw := range conds {
		c, err := parseCondition(fmt.Sprintf("condition[%d]", i), raw)
		if err != nil {
			return nil, err
		}
		req.Condition = append(req.Condition, c)
	}
	if req.IfThen, err = parseOps(top, "if_then"); err != nil {
		return nil, err
	}
	if req.ElseThen, err = parseOps(top, "else_then"); err != nil {
		return nil, err
	}
	branches, hasBranches, err := top.array("branches")
	if err != nil {
		return nil, err
	}
	if hasBranches && (top.has("condition") || top.has("if_then") || top.has("else_then")) {
		return nil, errors.New(`"branches" cannot be combined with "condition", "if_then" or "else_then": use one form`)
	}
	if hasBranches && len(branches) == 0 {
		return nil, errors.New(`"branches" is empty: give at least one branch, {"predicate": ..., "ops": [...]}; for the other form, leave "branches" out and give "condition", "if_then", "else_then"`)
	}
	for i, raw := range branches {
		path := fmt.Sprintf("branches[%d]", i)
		b, err := decodeObject(path, raw, "predicate", "ops")
		if err != nil {
			return nil, err
		}
		co := &metapb.ConditionalOps{}
		if p, ok := b.fields["predicate"]; ok {
			if co.Predicate, err = parsePredicate(path+".predicate", p); err != nil {
				return nil, err
			}
		}
		if co.Ops, err = parseOps(b, "ops"); err != nil {
			return nil, err
		}
		req.Branches = append(req.Branches, co)
	}
	return req, nil
}

// Condition targets and comparisons, in the order the errors list them.
var (
	condTargets = []string{"seq", "value", "value_base64", "keys_with_prefix"}
	condOps     = map[string]metapb.TxnCondition_Op{
		"eq": metapb.TxnCondition_EQ, "ne": metapb.TxnCondition_NE,
		"gt": metapb.TxnCondition_GT, "ge": metapb.TxnCondition_GE,
		"lt": metapb.TxnCondition_LT, "le": metapb.TxnCondition_LE,
	}
	condOpNames = []string{"eq", "ne", "gt", "ge", "lt", "le"}
)

// parseCondition decodes {"key": K, TARGET: {OP: OPERAND}}.
func parseCondition(path string, raw json.RawMessage) (*metapb.TxnCondition, error) {
	o, err := decodeObject(path, raw, append([]string{"key"}, condTargets...)...)
	if err != nil {
		return nil, err
	}
	target, err := o.oneOf(true, condTargets...)
	if err != nil {
		return nil, err
	}
	key, _, err := o.str("key")
	if err != nil {
		return nil, err
	}
	if key == "" {
		return nil, fmt.Errorf("%s: \"key\" is required (a non-empty string; the prefix for keys_with_prefix)", path)
	}
	cmp, err := decodeObject(path+"."+target, o.fields[target], condOpNames...)
	if err != nil {
		return nil, err
	}
	opName, err := cmp.oneOf(true, condOpNames...)
	if err != nil {
		return nil, err
	}
	c := &metapb.TxnCondition{Key: key, Op: condOps[opName]}
	switch target {
	case "seq", "keys_with_prefix":
		n, _, err := cmp.u64(opName)
		if err != nil {
			return nil, err
		}
		if target == "seq" {
			c.Target = &metapb.TxnCondition_Seq{Seq: n}
		} else {
			c.Target = &metapb.TxnCondition_KeysWithPrefix{KeysWithPrefix: n}
		}
	case "value", "value_base64":
		v, err := cmp.bytes(opName, target == "value_base64")
		if err != nil {
			return nil, err
		}
		c.Target = &metapb.TxnCondition_Value{Value: v}
	}
	return c, nil
}

// parsePredicate decodes a boolean expression: {"and": [P...]},
// {"or": [P...]}, or a condition (an AND of one).
func parsePredicate(path string, raw json.RawMessage) (*metapb.BoolExpression, error) {
	o, err := decodeObject(path, raw, append([]string{"and", "or", "key"}, condTargets...)...)
	if err != nil {
		return nil, err
	}
	if !o.has("and") && !o.has("or") {
		c, err := parseCondition(path, raw)
		if err != nil {
			return nil, err
		}
		return &metapb.BoolExpression{Conditions: []*metapb.TxnCondition{c}}, nil
	}
	if len(o.fields) != 1 {
		return nil, fmt.Errorf("%s: an expression has exactly one field, \"and\" or \"or\" (a condition goes inside it); got %s", path, o.names())
	}
	e := &metapb.BoolExpression{}
	name := "and"
	if o.has("or") {
		name, e.Combiner = "or", metapb.BoolExpression_OR
	}
	items, _, err := o.array(name)
	if err != nil {
		return nil, err
	}
	for i, item := range items {
		ipath := fmt.Sprintf("%s.%s[%d]", path, name, i)
		sub, err := decodeObject(ipath, item, append([]string{"and", "or", "key"}, condTargets...)...)
		if err != nil {
			return nil, err
		}
		if sub.has("and") || sub.has("or") {
			child, err := parsePredicate(ipath, item)
			if err != nil {
				return nil, err
			}
			e.Children = append(e.Children, child)
			continue
		}
		c, err := parseCondition(ipath, item)
		if err != nil {
			return nil, err
		}
		e.Conditions = append(e.Conditions, c)
	}
	return e, nil
}

var opNames = []string{"get", "put", "delete", "delete_by_prefix", "fetch_increase_u64", "put_sequential"}

// parseOps decodes the array of ops in field name of o (absent: none).
func parseOps(o *jsonObject, name string) ([]*metapb.TxnOp, error) {
	raws, _, err := o.array(name)
	if err != nil {
		return nil, err
	}
	var ops []*metapb.TxnOp
	for i, raw := range raws {
		op, err := parseOp(fmt.Sprintf("%s[%d]", o.child(name), i), raw)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// parseOp decodes {OPNAME: {...}}.
func parseOp(path string, raw json.RawMessage) (*metapb.TxnOp, error) {
	o, err := decodeObject(path, raw, opNames...)
	if err != nil {
		return nil, err
	}
	name, err := o.oneOf(true, opNames...)
	if err != nil {
		return nil, err
	}
	path += "." + name
	body := o.fields[name]
	switch name {
	case "get":
		f, err := decodeObject(path, body, "key")
		if err != nil {
			return nil, err
		}
		key, err := f.key("key")
		if err != nil {
			return nil, err
		}
		return &metapb.TxnOp{Request: &metapb.TxnOp_Get{Get: &metapb.TxnGet{Key: key}}}, nil
	case "put":
		f, err := decodeObject(path, body, "key", "value", "value_base64", "ttl", "expire_at_ms", "match_seq")
		if err != nil {
			return nil, err
		}
		p := &metapb.TxnPut{}
		if p.Key, err = f.key("key"); err != nil {
			return nil, err
		}
		if p.Value, err = f.value(); err != nil {
			return nil, err
		}
		if p.TtlMs, p.ExpireAtMs, err = f.expiry(true); err != nil {
			return nil, err
		}
		if p.MatchSeq, err = f.matchSeq(); err != nil {
			return nil, err
		}
		return &metapb.TxnOp{Request: &metapb.TxnOp_Put{Put: p}}, nil
	case "delete":
		f, err := decodeObject(path, body, "key", "match_seq")
		if err != nil {
			return nil, err
		}
		d := &metapb.TxnDelete{}
		if d.Key, err = f.key("key"); err != nil {
			return nil, err
		}
		if d.MatchSeq, err = f.matchSeq(); err != nil {
			return nil, err
		}
		return &metapb.TxnOp{Request: &metapb.TxnOp_Delete{Delete: d}}, nil
	case "delete_by_prefix":
		f, err := decodeObject(path, body, "prefix")
		if err != nil {
			return nil, err
		}
		prefix, err := f.key("prefix")
		if err != nil {
			return nil, err
		}
		return &metapb.TxnOp{Request: &metapb.TxnOp_DeleteByPrefix{DeleteByPrefix: &metapb.TxnDeleteByPrefix{Prefix: prefix}}}, nil
	case "fetch_increase_u64":
		f, err := decodeObject(path, body, "key", "delta", "max_value", "match_seq")
		if err != nil {
			return nil, err
		}
		fi := &metapb.FetchIncreaseU64{}
		if fi.Key, err = f.key("key"); err != nil {
			return nil, err
		}
		if fi.Delta, err = f.i64("delta"); err != nil {
			return nil, err
		}
		if fi.MaxValue, _, err = f.u64("max_value"); err != nil {
			return nil, err
		}
		if fi.MatchSeq, err = f.matchSeq(); err != nil {
			return nil, err
		}
		return &metapb.TxnOp{Request: &metapb.TxnOp_FetchIncreaseU64{FetchIncreaseU64: fi}}, nil
	default: // put_sequential
		f, err := decodeObject(path, body, "prefix", "sequence_key", "value", "value_base64", "ttl")
		if err != nil {
			return nil, err
		}
		ps := &metapb.PutSequential{}
		if ps.Prefix, _, err = f.str("prefix"); err != nil {
			return nil, err
		}
		if ps.SequenceKey, err = f.key("sequence_key"); err != nil {
			return nil, err
		}
		if ps.Value, err = f.value(); err != nil {
			return nil, err
		}
		if ps.TtlMs, _, err = f.expiry(false); err != nil {
			return nil, err
		}
		return &metapb.TxnOp{Request: &metapb.TxnOp_PutSequential{PutSequential: ps}}, nil
	}
}

// jsonObject is one JSON object of the input, its fields not yet decoded.
type jsonObject struct {
	path   string // "" for the top level, else e.g. "if_then[0].put"
	fields map[string]json.RawMessage
	order  []string // field names in input order
}

// decodeObject decodes raw as a JSON object whose field names must be among
// known; a repeated field is an error too.
func decodeObject(path string, raw json.RawMessage, known ...string) (*jsonObject, error) {
	o := &jsonObject{path: path, fields: make(map[string]json.RawMessage)}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, o.errorf("%s", jsonSyntax(err))
	}
	if tok != json.Delim('{') {
		return nil, o.errorf("want a JSON object {...}, got %s", jsonKind(raw))
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, o.errorf("%s", jsonSyntax(err))
		}
		name := tok.(string) // object keys are strings
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, o.errorf("field %q: %s", name, jsonSyntax(err))
		}
		if !slices.Contains(known, name) {
			return nil, o.errorf("unknown field %q (known: %s)", name, strings.Join(known, ", "))
		}
		if _, dup := o.fields[name]; dup {
			return nil, o.errorf("field %q given twice", name)
		}
		o.fields[name] = v
		o.order = append(o.order, name)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, o.errorf("%s", jsonSyntax(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, o.errorf("unexpected data after the object")
	}
	return o, nil
}

// checkUTF8 refuses a file that is not UTF-8 text, with the line and
// column of the first bad byte: the JSON decoder would silently replace
// it with U+FFFD, changing a key or a value.
func checkUTF8(data []byte) error {
	if utf8.Valid(data) {
		return nil
	}
	off := 0
	for off < len(data) {
		r, size := utf8.DecodeRune(data[off:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		off += size
	}
	line, col := lineCol(data, off)
	return fmt.Errorf("invalid UTF-8 at line %d, column %d: the file must be UTF-8 text; give binary values as base64 under \"value_base64\"", line, col)
}

// lineCol returns the line and column, from 1, of the byte at offset.
func lineCol(data []byte, offset int) (line, col int) {
	line, col = 1, 1
	for _, b := range data[:min(max(offset, 0), len(data))] {
		if b == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// checkSyntax reports a JSON syntax error with its line and column.
func checkSyntax(data []byte) error {
	var v any
	err := json.Unmarshal(data, &v)
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return nil // valid, or an error the field decoding reports better
	}
	// Offset counts the bytes read, the offending one included.
	line, col := lineCol(data, int(se.Offset)-1)
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("empty file: want a JSON object {...}")
	}
	return fmt.Errorf("invalid JSON at line %d, column %d: %s", line, col, strings.TrimPrefix(se.Error(), "json: "))
}

// jsonSyntax rewords a decoder error; a JSON syntax error's offset is
// relative to the piece being decoded, so it is left out.
func jsonSyntax(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of JSON"
	}
	return "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")
}

// jsonKind names the kind of a JSON value for errors.
func jsonKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

func (o *jsonObject) errorf(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if o.path == "" {
		return errors.New(msg)
	}
	return fmt.Errorf("%s: %s", o.path, msg)
}

// child is the path of field name.
func (o *jsonObject) child(name string) string {
	if o.path == "" {
		return name
	}
	return o.path + "." + name
}

func (o *jsonObject) has(name string) bool {
	_, ok := o.fields[name]
	return ok
}

// names lists the fields given, quoted, in input order.
func (o *jsonObject) names() string {
	q := make([]string, len(o.order))
	for i, n := range o.order {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

// oneOf returns which one of names is given, and fails when several are,
// or when none is and required.
func (o *jsonObject) oneOf(required bool, names ...string) (string, error) {
	var given []string
	for _, n := range o.order {
		if slices.Contains(names, n) {
			given = append(given, n)
		}
	}
	switch {
	case len(given) > 1:
		return "", o.errorf("give one of %s, not several (got %s)", strings.Join(names, ", "), strings.Join(given, ", "))
	case len(given) == 0 && required:
		return "", o.errorf("one of %s is required", strings.Join(names, ", "))
	case len(given) == 0:
		return "", nil
	}
	return given[0], nil
}

// str decodes field name as a string; ok is false when it is absent.
func (o *jsonObject) str(name string) (s string, ok bool, err error) {
	raw, ok := o.fields[name]
	if !ok {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil || jsonKind(raw) != "a string" {
		return "", true, fmt.Errorf("%s: want a string, got %s", o.child(name), jsonKind(raw))
	}
	return s, true, nil
}

// key decodes field name as a required, non-empty string.
func (o *jsonObject) key(name string) (string, error) {
	s, ok, err := o.str(name)
	if err != nil {
		return "", err
	}
	if !ok || s == "" {
		return "", o.errorf("%q is required (a non-empty string)", name)
	}
	return s, nil
}

// u64 decodes field name as an unsigned integer; absent is 0.
func (o *jsonObject) u64(name string) (uint64, bool, error) {
	raw, ok := o.fields[name]
	if !ok {
		return 0, false, nil
	}
	if jsonKind(raw) != "a number" {
		return 0, true, fmt.Errorf("%s: want an integer >= 0, got %s", o.child(name), jsonKind(raw))
	}
	n, err := strconv.ParseUint(string(bytes.TrimSpace(raw)), 10, 64)
	if err != nil {
		return 0, true, fmt.Errorf("%s: want an integer in 0..18446744073709551615, got %s", o.child(name), bytes.TrimSpace(raw))
	}
	return n, true, nil
}

// i64 decodes field name as a signed integer; absent is 0.
func (o *jsonObject) i64(name string) (int64, error) {
	raw, ok := o.fields[name]
	if !ok {
		return 0, nil
	}
	if jsonKind(raw) != "a number" {
		return 0, fmt.Errorf("%s: want an integer, got %s", o.child(name), jsonKind(raw))
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: want an integer in -9223372036854775808..9223372036854775807, got %s", o.child(name), bytes.TrimSpace(raw))
	}
	return n, nil
}

// bytes decodes field name as a string, UTF-8 or (b64) base64 (RFC 4648,
// standard alphabet, padded).
func (o *jsonObject) bytes(name string, b64 bool) ([]byte, error) {
	s, _, err := o.str(name)
	if err != nil {
		return nil, err
	}
	if !b64 {
		return []byte(s), nil
	}
	v, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s: invalid base64 (standard alphabet, padded): %v", o.child(name), err)
	}
	return v, nil
}

// value decodes the required "value" or "value_base64".
func (o *jsonObject) value() ([]byte, error) {
	name, err := o.oneOf(false, "value", "value_base64")
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, o.errorf(`"value" or "value_base64" is required (use "value": "" for an empty value)`)
	}
	return o.bytes(name, name == "value_base64")
}

// expiry decodes "ttl" (a duration string) and, when absolute is allowed,
// "expire_at_ms"; at most one of them.
func (o *jsonObject) expiry(absolute bool) (ttlMs, expireAtMs uint64, err error) {
	if absolute {
		if _, err := o.oneOf(false, "ttl", "expire_at_ms"); err != nil {
			return 0, 0, err
		}
		if expireAtMs, _, err = o.u64("expire_at_ms"); err != nil {
			return 0, 0, err
		}
	}
	s, ok, err := o.str("ttl")
	if err != nil {
		return 0, 0, fmt.Errorf("%w (a duration such as \"30s\", \"5m\", \"1h30m\")", err)
	}
	if !ok {
		return 0, expireAtMs, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Millisecond {
		return 0, 0, fmt.Errorf("%s: invalid duration %q: want at least 1ms, such as \"30s\", \"5m\", \"1h30m\"", o.child("ttl"), s)
	}
	return uint64(d / time.Millisecond), expireAtMs, nil
}

// matchSeq decodes "match_seq": N (exact), {"exact": N} or {"ge": N};
// absent is nil (any).
func (o *jsonObject) matchSeq() (*metapb.MatchSeq, error) {
	raw, ok := o.fields["match_seq"]
	if !ok {
		return nil, nil
	}
	if jsonKind(raw) == "a number" {
		n, _, err := o.u64("match_seq")
		if err != nil {
			return nil, err
		}
		return &metapb.MatchSeq{Kind: metapb.MatchSeq_EXACT, Seq: n}, nil
	}
	path := o.child("match_seq")
	if jsonKind(raw) != "an object" {
		return nil, fmt.Errorf(`%s: want a seq N, {"exact": N} or {"ge": N}, got %s`, path, jsonKind(raw))
	}
	m, err := decodeObject(path, raw, "exact", "ge")
	if err != nil {
		return nil, err
	}
	kind, err := m.oneOf(true, "exact", "ge")
	if err != nil {
		return nil, err
	}
	n, _, err := m.u64(kind)
	if err != nil {
		return nil, err
	}
	if kind == "ge" {
		return &metapb.MatchSeq{Kind: metapb.MatchSeq_GE, Seq: n}, nil
	}
	return &metapb.MatchSeq{Kind: metapb.MatchSeq_EXACT, Seq: n}, nil
}

// array decodes field name as an array of raw values; absent is none.
func (o *jsonObject) array(name string) ([]json.RawMessage, bool, error) {
	raw, ok := o.fields[name]
	if !ok {
		return nil, false, nil
	}
	var items []json.RawMessage
	if jsonKind(raw) != "an array" || json.Unmarshal(raw, &items) != nil {
		return nil, true, fmt.Errorf("%s: want an array [...], got %s", o.child(name), jsonKind(raw))
	}
	return items, true, nil
}
