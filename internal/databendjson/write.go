package databendjson

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// encoder writes JSON as serde_json's compact formatter does: no white
// space, fields in declaration order, strings escaped the serde way
// (only ", \ and control characters; never <, >, & or non-ASCII), byte
// vectors as arrays of decimal integers. The first invalid value sets err;
// writing goes on so that the code needs no checks.
type encoder struct {
	b     []byte
	first []bool // one per open object or array: nothing written in it yet
	err   error
}

func (e *encoder) fail(format string, args ...any) {
	if e.err == nil {
		e.err = fmt.Errorf("%w: %s", ErrValue, fmt.Sprintf(format, args...))
	}
}

func (e *encoder) sep() {
	if n := len(e.first); n > 0 {
		if !e.first[n-1] {
			e.b = append(e.b, ',')
		}
		e.first[n-1] = false
	}
}

func (e *encoder) open(c byte) {
	e.b = append(e.b, c)
	e.first = append(e.first, true)
}

func (e *encoder) close(c byte) {
	e.b = append(e.b, c)
	e.first = e.first[:len(e.first)-1]
}

func (e *encoder) objOpen()  { e.open('{') }
func (e *encoder) objClose() { e.close('}') }
func (e *encoder) arrOpen()  { e.open('[') }
func (e *encoder) arrClose() { e.close(']') }

// key starts a field of the open object.
func (e *encoder) key(name string) {
	e.sep()
	e.b = appendString(e.b, name)
	e.b = append(e.b, ':')
}

// elem starts an element of the open array.
func (e *encoder) elem() { e.sep() }

// variantOpen starts {"name": for an enum variant with data; close it with
// objClose.
func (e *encoder) variantOpen(name string) {
	e.objOpen()
	e.key(name)
}

func (e *encoder) str(s string) {
	if !utf8.ValidString(s) {
		e.fail("string %q is not valid UTF-8", s)
	}
	e.b = appendString(e.b, s)
}

func (e *encoder) u64(v uint64)   { e.b = strconv.AppendUint(e.b, v, 10) }
func (e *encoder) i64(v int64)    { e.b = strconv.AppendInt(e.b, v, 10) }
func (e *encoder) boolean(v bool) { e.b = strconv.AppendBool(e.b, v) }
func (e *encoder) null()          { e.b = append(e.b, "null"...) }

func (e *encoder) bytes(v []byte) {
	e.b = append(e.b, '[')
	for i, c := range v {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.b = strconv.AppendUint(e.b, uint64(c), 10)
	}
	e.b = append(e.b, ']')
}

const hexDigits = "0123456789abcdef"

// appendString appends s quoted as serde_json writes it.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// writeOpt writes an Opt field: its value, null, or nothing, where current
// is the form today's databend-meta uses when there is no value.
func writeOpt[T any](e *encoder, name string, o Opt[T], current Form, write func(T)) {
	if !o.written(current) {
		return
	}
	e.key(name)
	if o.Valid {
		write(o.Value)
	} else {
		e.null()
	}
}

// writePtr writes an Option field that is always written: null when nil.
func writePtr[T any](e *encoder, name string, p *T, write func(*T)) {
	e.key(name)
	if p == nil {
		e.null()
		return
	}
	write(p)
}

// writeSkipNil writes an Option field that is left out when None
// (#[serde(skip_serializing_if = "Option::is_none")]).
func writeSkipNil[T any](e *encoder, name string, p *T, write func(*T)) {
	if p != nil {
		e.key(name)
		write(p)
	}
}

// writeList writes a Vec field.
func writeList[T any](e *encoder, name string, list []T, write func(*T)) {
	e.key(name)
	e.arrOpen()
	for i := range list {
		e.elem()
		write(&list[i])
	}
	e.arrClose()
}
