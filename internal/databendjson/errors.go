package databendjson

import (
	"errors"
	"fmt"
)

// Errors. Every error this package returns wraps one of them (test with
// errors.Is); a decoding error is also an *Error saying where.
var (
	// ErrSyntax: the input is not JSON as serde_json reads it (a syntax
	// error, a string that is not UTF-8, a lone surrogate escape, text
	// after the value).
	ErrSyntax = errors.New("databendjson: invalid JSON")

	// ErrShape: valid JSON, but not a shape Databend writes: an unknown or
	// repeated field, a missing field, an unknown enum variant, a value of
	// the wrong type, a number out of range, an entry kind that does not
	// belong to its tree.
	ErrShape = errors.New("databendjson: not a Databend shape")

	// ErrValue: a Go value that has no Databend JSON form: a nil variant,
	// an unknown Kind, a string that is not UTF-8 (Rust strings always
	// are). Returned by the encoders.
	ErrValue = errors.New("databendjson: value has no Databend form")
)

// Error is a decoding error: which dump line (1-based; 0 when the input was
// not a dump line), where in the JSON (a path of field names and array
// indexes, and the byte offset in the line or document), and what was wrong.
type Error struct {
	Line   int
	Path   string
	Offset int
	Msg    string
	Err    error // ErrSyntax or ErrShape
}

func (e *Error) Error() string {
	s := "databendjson: "
	if e.Line > 0 {
		s += fmt.Sprintf("line %d: ", e.Line)
	}
	if e.Path != "" {
		s += e.Path + ": "
	}
	return s + fmt.Sprintf("%s (byte %d)", e.Msg, e.Offset)
}

func (e *Error) Unwrap() error { return e.Err }
