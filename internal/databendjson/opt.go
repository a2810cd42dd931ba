package databendjson

// Form says how a field that holds no value is written. Different
// databend-meta versions write the same field differently (txid:null before
// 2025-07, "expire_at":null before KVMeta skipped it, no match_seq on an
// older Put), and a dump must be read back byte for byte, so a decoded
// value remembers which form it had.
type Form uint8

const (
	// FormDefault writes the field as the current databend-meta does: the
	// doc comment of each Opt field says whether that is null or nothing.
	FormDefault Form = iota
	// FormNull writes "field":null.
	FormNull
	// FormAbsent leaves the field out.
	FormAbsent
)

// Opt is a Rust Option field whose JSON differs between Databend versions:
// Valid with Value, or no value written as Form says. The zero Opt is no
// value in the current Databend form; decoding sets Form to what it found.
type Opt[T any] struct {
	Value T
	Valid bool
	Form  Form // when !Valid
}

// Some returns an Opt holding v.
func Some[T any](v T) Opt[T] { return Opt[T]{Value: v, Valid: true} }

// Get returns the value and whether there is one.
func (o Opt[T]) Get() (T, bool) { return o.Value, o.Valid }

// Ptr returns the value as a pointer, nil when there is none.
func (o Opt[T]) Ptr() *T {
	if !o.Valid {
		return nil
	}
	v := o.Value
	return &v
}

// written reports whether the field is written, given the form the current
// Databend uses for no value.
func (o Opt[T]) written(current Form) bool {
	if o.Valid {
		return true
	}
	f := o.Form
	if f == FormDefault {
		f = current
	}
	return f == FormNull
}
