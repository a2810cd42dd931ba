package databendjson

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// decoder reads one JSON document the way serde_json does for Databend's
// types: externally tagged enums, integers only, byte strings as arrays of
// u8, fields in any order, a missing Option field as None. Unlike serde it
// refuses unknown fields, so that nothing in a dump is dropped silently.
type decoder struct {
	b    []byte
	pos  int
	path []seg
}

// seg is one step of the path to the value being read, for error messages:
// a field or variant name, or an array index when name is "".
type seg struct {
	name string
	idx  int
}

func newDecoder(b []byte) *decoder { return &decoder{b: b} }

func (d *decoder) pathString() string {
	var sb strings.Builder
	for i, s := range d.path {
		if s.name == "" {
			fmt.Fprintf(&sb, "[%d]", s.idx)
			continue
		}
		if i > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(s.name)
	}
	return sb.String()
}

func (d *decoder) errAt(sentinel error, off int, format string, args ...any) error {
	return &Error{Path: d.pathString(), Offset: off, Msg: fmt.Sprintf(format, args...), Err: sentinel}
}

func (d *decoder) syntaxErr(format string, args ...any) error {
	return d.errAt(ErrSyntax, d.pos, format, args...)
}

func (d *decoder) shapeErr(format string, args ...any) error {
	return d.errAt(ErrShape, d.pos, format, args...)
}

func (d *decoder) ws() {
	for d.pos < len(d.b) {
		switch d.b[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte, 0 at the end.
func (d *decoder) peek() byte {
	d.ws()
	if d.pos >= len(d.b) {
		return 0
	}
	return d.b[d.pos]
}

// end checks that nothing but white space follows the value.
func (d *decoder) end() error {
	if d.peek() != 0 {
		return d.syntaxErr("text after the JSON value")
	}
	return nil
}

// kind names the JSON value that starts at the next byte, for errors.
func (d *decoder) kind() string {
	switch c := d.peek(); {
	case c == 0:
		return "the end of the input"
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	default:
		return fmt.Sprintf("%q", c)
	}
}

// typeErr reports that the next value is not of the wanted type: a syntax
// error when it is not the start of any JSON value, else a shape error.
func (d *decoder) typeErr(want string) error {
	c := d.peek()
	switch {
	case c == '{', c == '[', c == '"', c == 't', c == 'f', c == 'n', c == '-', c >= '0' && c <= '9':
		return d.shapeErr("want %s, got %s", want, d.kind())
	case c == 0:
		return d.syntaxErr("unexpected end of input, want %s", want)
	default:
		return d.syntaxErr("invalid character %q, want %s", c, want)
	}
}

func (d *decoder) literal(lit string) bool {
	if len(d.b)-d.pos >= len(lit) && string(d.b[d.pos:d.pos+len(lit)]) == lit {
		d.pos += len(lit)
		return true
	}
	return false
}

// null consumes a null and reports whether there was one.
func (d *decoder) null() (bool, error) {
	if d.peek() != 'n' {
		return false, nil
	}
	if !d.literal("null") {
		return false, d.syntaxErr("invalid literal, want null")
	}
	return true, nil
}

func (d *decoder) boolean() (bool, error) {
	switch d.peek() {
	case 't':
		if d.literal("true") {
			return true, nil
		}
	case 'f':
		if d.literal("false") {
			return false, nil
		}
	default:
		return false, d.typeErr("a boolean")
	}
	return false, d.syntaxErr("invalid literal, want true or false")
}

// str reads a string; it must be valid UTF-8 without raw control
// characters, and a \u escape must not be a lone surrogate.
func (d *decoder) str() (string, error) {
	if d.peek() != '"' {
		return "", d.typeErr("a string")
	}
	d.pos++
	start := d.pos
	for d.pos < len(d.b) {
		c := d.b[d.pos]
		if c == '"' {
			s := string(d.b[start:d.pos])
			d.pos++
			return s, nil
		}
		if c == '\\' || c < 0x20 || c >= 0x80 {
			return d.strSlow(start)
		}
		d.pos++
	}
	return "", d.syntaxErr("unterminated string")
}

func (d *decoder) strSlow(start int) (string, error) {
	buf := append([]byte(nil), d.b[start:d.pos]...)
	for d.pos < len(d.b) {
		c := d.b[d.pos]
		switch {
		case c == '"':
			d.pos++
			return string(buf), nil
		case c < 0x20:
			return "", d.syntaxErr("control character %#02x in a string", c)
		case c >= 0x80:
			r, n := utf8.DecodeRune(d.b[d.pos:])
			if r == utf8.RuneError && n <= 1 {
				return "", d.syntaxErr("invalid UTF-8 in a string")
			}
			buf = append(buf, d.b[d.pos:d.pos+n]...)
			d.pos += n
		case c != '\\':
			buf = append(buf, c)
			d.pos++
		default:
			r, err := d.escape()
			if err != nil {
				return "", err
			}
			buf = utf8.AppendRune(buf, r)
		}
	}
	return "", d.syntaxErr("unterminated string")
}

// escape reads one escape sequence starting at a backslash.
func (d *decoder) escape() (rune, error) {
	if d.pos+1 >= len(d.b) {
		return 0, d.syntaxErr("unterminated string")
	}
	c := d.b[d.pos+1]
	d.pos += 2
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
	default:
		return 0, d.syntaxErr("invalid escape \\%c", c)
	}
	r, err := d.hex4()
	if err != nil {
		return 0, err
	}
	if !utf16.IsSurrogate(r) {
		return r, nil
	}
	if r >= 0xdc00 || !d.literal(`\u`) {
		return 0, d.syntaxErr("lone surrogate in \\u escape")
	}
	r2, err := d.hex4()
	if err != nil {
		return 0, err
	}
	if p := utf16.DecodeRune(r, r2); p != utf8.RuneError {
		return p, nil
	}
	return 0, d.syntaxErr("lone surrogate in \\u escape")
}

func (d *decoder) hex4() (rune, error) {
	if d.pos+4 > len(d.b) {
		return 0, d.syntaxErr("short \\u escape")
	}
	v, err := strconv.ParseUint(string(d.b[d.pos:d.pos+4]), 16, 16)
	if err != nil {
		return 0, d.syntaxErr("invalid \\u escape")
	}
	d.pos += 4
	return rune(v), nil
}

// integer reads a JSON number that must be an integer and returns its sign
// and digits.
func (d *decoder) integer(want string) (neg bool, digits string, err error) {
	c := d.peek()
	if c != '-' && (c < '0' || c > '9') {
		return false, "", d.typeErr(want)
	}
	start := d.pos
	if c == '-' {
		neg = true
		d.pos++
	}
	ds := d.pos
	switch {
	case d.pos < len(d.b) && d.b[d.pos] == '0':
		d.pos++
	case d.pos < len(d.b) && d.b[d.pos] >= '1' && d.b[d.pos] <= '9':
		for d.pos < len(d.b) && d.b[d.pos] >= '0' && d.b[d.pos] <= '9' {
			d.pos++
		}
	default:
		return false, "", d.syntaxErr("invalid number")
	}
	digits = string(d.b[ds:d.pos])
	if d.pos < len(d.b) {
		switch d.b[d.pos] {
		case '.', 'e', 'E':
			d.pos = start
			return false, "", d.shapeErr("want %s, got a number with a fraction or exponent", want)
		}
	}
	return neg, digits, nil
}

// uint reads an unsigned integer of at most bits bits.
func (d *decoder) uint(bits int) (uint64, error) {
	want := fmt.Sprintf("an unsigned integer of %d bits", bits)
	start := d.peekPos()
	neg, digits, err := d.integer(want)
	if err != nil {
		return 0, err
	}
	v, perr := strconv.ParseUint(digits, 10, bits)
	if perr != nil || (neg && v != 0) {
		sign := ""
		if neg {
			sign = "-"
		}
		return 0, d.errAt(ErrShape, start, "want %s, got %s%s", want, sign, digits)
	}
	return v, nil
}

// int reads a signed integer of at most bits bits.
func (d *decoder) int(bits int) (int64, error) {
	want := fmt.Sprintf("an integer of %d bits", bits)
	start := d.peekPos()
	neg, digits, err := d.integer(want)
	if err != nil {
		return 0, err
	}
	if neg {
		digits = "-" + digits
	}
	v, perr := strconv.ParseInt(digits, 10, bits)
	if perr != nil {
		return 0, d.errAt(ErrShape, start, "want %s, got %s", want, digits)
	}
	return v, nil
}

func (d *decoder) u64() (uint64, error) { return d.uint(64) }

func (d *decoder) peekPos() int {
	d.ws()
	return d.pos
}

// bytes reads a Rust Vec<u8>: an array of integers 0..=255.
func (d *decoder) bytes() ([]byte, error) {
	out := []byte{}
	empty, err := d.open('[', "an array of bytes")
	if empty || err != nil {
		return out, err
	}
	for {
		// Fast path: a plain decimal 0..255 directly followed by , or ].
		v, n := 0, 0
		for d.pos+n < len(d.b) && n < 4 && d.b[d.pos+n] >= '0' && d.b[d.pos+n] <= '9' {
			v = v*10 + int(d.b[d.pos+n]-'0')
			n++
		}
		if n > 0 && n < 4 && v <= 255 && (n == 1 || d.b[d.pos] != '0') &&
			d.pos+n < len(d.b) && (d.b[d.pos+n] == ',' || d.b[d.pos+n] == ']') {
			d.pos += n
		} else if err := d.in(seg{idx: len(out)}, func() error {
			u, err := d.uint(8)
			v = int(u)
			return err
		}); err != nil {
			return nil, err
		}
		out = append(out, byte(v))
		if more, err := d.more(']'); !more || err != nil {
			return out, err
		}
	}
}

// open consumes the opening bracket c of an array or object, and its
// closing bracket too when it is empty.
func (d *decoder) open(c byte, want string) (empty bool, err error) {
	if d.peek() != c {
		return false, d.typeErr(want)
	}
	d.pos++
	if d.peek() == c+2 { // ] and } follow [ and { by 2
		d.pos++
		return true, nil
	}
	return false, nil
}

// more consumes what follows an element: true after a comma, false after
// the closing bracket c.
func (d *decoder) more(c byte) (bool, error) {
	switch d.peek() {
	case ',':
		d.pos++
		return true, nil
	case c:
		d.pos++
		return false, nil
	}
	return false, d.syntaxErr("want , or %c", c)
}

// in runs read with s added to the path.
func (d *decoder) in(s seg, read func() error) error {
	d.path = append(d.path, s)
	err := read()
	d.path = d.path[:len(d.path)-1]
	return err
}

// array reads an array, calling elem for each element, which must read it.
func (d *decoder) array(elem func(i int) error) error {
	empty, err := d.open('[', "an array")
	if empty || err != nil {
		return err
	}
	for i := 0; ; i++ {
		if err := d.in(seg{idx: i}, func() error { return elem(i) }); err != nil {
			return err
		}
		if more, err := d.more(']'); !more || err != nil {
			return err
		}
	}
}

// mapObject reads an object whose keys are data (a map), calling entry for
// each key, which must read the value.
func (d *decoder) mapObject(entry func(key string) error) error {
	empty, err := d.open('{', "an object")
	if empty || err != nil {
		return err
	}
	for {
		k, err := d.key()
		if err != nil {
			return err
		}
		if err := d.in(seg{name: k}, func() error { return entry(k) }); err != nil {
			return err
		}
		if more, err := d.more('}'); !more || err != nil {
			return err
		}
	}
}

// key reads an object key and the colon after it.
func (d *decoder) key() (string, error) {
	k, err := d.str()
	if err != nil {
		return "", err
	}
	if d.peek() != ':' {
		return "", d.syntaxErr("want : after an object key")
	}
	d.pos++
	return k, nil
}

// fields is the field list of a struct, in the order Databend writes them,
// and which of them must be present.
type fields struct {
	names    []string
	required []string
}

// object reads a struct: field calls read for each field by its index in
// fs.names. Unknown and repeated fields are errors, and so are missing
// required ones. It returns which fields were present, a bit per index.
func (d *decoder) object(fs *fields, read func(i int) error) (present uint64, err error) {
	start := d.peekPos()
	err = d.mapObject(func(k string) error {
		i := indexOf(fs.names, k)
		if i < 0 {
			return d.fieldErr("unknown field %q (want %s)", k, strings.Join(fs.names, ", "))
		}
		if present&(1<<i) != 0 {
			return d.fieldErr("repeated field %q", k)
		}
		present |= 1 << i
		return read(i)
	})
	if err != nil {
		return present, err
	}
	for _, r := range fs.required {
		if present&(1<<indexOf(fs.names, r)) == 0 {
			return present, d.errAt(ErrShape, start, "missing field %q", r)
		}
	}
	return present, nil
}

// fieldErr reports a problem with the name of the field being read: its
// path is the object's.
func (d *decoder) fieldErr(format string, args ...any) error {
	last := d.path[len(d.path)-1]
	d.path = d.path[:len(d.path)-1]
	err := d.shapeErr(format, args...)
	d.path = append(d.path, last)
	return err
}

func indexOf(names []string, s string) int {
	for i, n := range names {
		if n == s {
			return i
		}
	}
	return -1
}

// variant reads an externally tagged enum: "Name" for a unit variant, or
// {"Name": value} for one with data; read is called with the name and
// whether a value follows, which it must then read. An unknown name is an
// error naming the variants in want.
func (d *decoder) variant(enum string, want []string, read func(name string, hasValue bool) error) error {
	start := d.peekPos()
	unknown := func(name string) error {
		return d.errAt(ErrShape, start, "unknown %s variant %q (want %s)", enum, name, strings.Join(want, ", "))
	}
	switch d.peek() {
	case '"':
		name, err := d.str()
		if err != nil {
			return err
		}
		if indexOf(want, name) < 0 {
			return unknown(name)
		}
		return read(name, false)
	case '{':
	default:
		return d.typeErr(enum + " (a variant name or an object of one variant)")
	}
	d.pos++
	if d.peek() == '}' {
		return d.shapeErr("empty object, want one %s variant", enum)
	}
	name, err := d.key()
	if err != nil {
		return err
	}
	if indexOf(want, name) < 0 {
		return unknown(name)
	}
	if err := d.in(seg{name: name}, func() error { return read(name, true) }); err != nil {
		return err
	}
	switch d.peek() {
	case '}':
		d.pos++
		return nil
	case ',':
		return d.shapeErr("more than one %s variant in an object", enum)
	default:
		return d.syntaxErr("want } after an enum variant")
	}
}

// unitOnly and dataOnly check, inside a variant callback, that a variant
// has the form Databend writes.
func (d *decoder) unitOnly(name string, hasValue bool) error {
	if hasValue {
		return d.shapeErr("variant %q carries no value, want the string %q", name, name)
	}
	return nil
}

func (d *decoder) dataOnly(name string, hasValue bool) error {
	if !hasValue {
		return d.shapeErr("variant %q carries a value, want {%q: ...}", name, name)
	}
	return nil
}

// optional reads an Option<T> field: null (recorded as FormNull) or a value.
func optional[T any](d *decoder, o *Opt[T], read func(*T) error) error {
	isNull, err := d.null()
	if err != nil {
		return err
	}
	if isNull {
		*o = Opt[T]{Form: FormNull}
		return nil
	}
	o.Valid = true
	return read(&o.Value)
}

// pointer reads an Option<T> that is written as null or a value.
func pointer[T any](d *decoder, p **T, read func(*T) error) error {
	isNull, err := d.null()
	if err != nil || isNull {
		*p = nil
		return err
	}
	v := new(T)
	if err := read(v); err != nil {
		return err
	}
	*p = v
	return nil
}

// absentForm marks an Opt field that was not in the object.
func absentForm[T any](o *Opt[T], present uint64, i int) {
	if present&(1<<i) == 0 {
		*o = Opt[T]{Form: FormAbsent}
	}
}

// Reader functions for use with pointer and optional.

func (d *decoder) readU64(v *uint64) (err error) { *v, err = d.u64(); return err }

func (d *decoder) readU32(v *uint32) error {
	u, err := d.uint(32)
	*v = uint32(u)
	return err
}

func (d *decoder) readStr(v *string) (err error) { *v, err = d.str(); return err }

func (d *decoder) readBool(v *bool) (err error) { *v, err = d.boolean(); return err }

func (d *decoder) readBytes(v *[]byte) (err error) { *v, err = d.bytes(); return err }
