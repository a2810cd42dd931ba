package databendjson

// Shape is a Go type with a Databend JSON form. Every struct type of this
// package is one (through its pointer); the enums with data (Cmd, Payload,
// TxnOpRequest, ...) have their own Marshal and Unmarshal functions, since
// Databend writes them wrapped in {"Variant": ...}.
type Shape interface {
	encode(e *encoder)
	decode(d *decoder) error
}

// Marshal returns v as Databend writes it: compact, fields in Databend's
// order, byte vectors as arrays of numbers.
func Marshal(v Shape) ([]byte, error) { return Append(nil, v) }

// Append appends v as Marshal writes it to dst.
func Append(dst []byte, v Shape) ([]byte, error) {
	e := &encoder{b: dst}
	v.encode(e)
	if e.err != nil {
		return dst, e.err
	}
	return e.b, nil
}

// Unmarshal reads data, one JSON value with nothing after it but white
// space, into v. An error is an *Error wrapping ErrSyntax or ErrShape.
func Unmarshal(data []byte, v Shape) error {
	d := newDecoder(data)
	if err := v.decode(d); err != nil {
		return err
	}
	return d.end()
}

// marshalWith and unmarshalWith are Marshal and Unmarshal for the enum
// types, which are interfaces.
func marshalWith(write func(*encoder)) ([]byte, error) {
	e := &encoder{}
	write(e)
	if e.err != nil {
		return nil, e.err
	}
	return e.b, nil
}

func unmarshalWith(data []byte, read func(*decoder) error) error {
	d := newDecoder(data)
	if err := read(d); err != nil {
		return err
	}
	return d.end()
}

// Small structs of the same shape share their code: {"name":"s"} (the
// Get and DeleteByPrefix of the three transaction APIs, the KvApi reads)
// and {"a":1,"b":2} of two u64 fields (LeaderID, ExpireKey).

func encodeString1(e *encoder, fs *fields, s string) {
	e.objOpen()
	e.key(fs.names[0])
	e.str(s)
	e.objClose()
}

func decodeString1(d *decoder, fs *fields, s *string) error {
	_, err := d.object(fs, func(int) error { return d.readStr(s) })
	return err
}

func encodeU64Pair(e *encoder, fs *fields, a, b uint64) {
	e.objOpen()
	e.key(fs.names[0])
	e.u64(a)
	e.key(fs.names[1])
	e.u64(b)
	e.objClose()
}

func decodeU64Pair(d *decoder, fs *fields, a, b *uint64) error {
	_, err := d.object(fs, func(i int) error {
		if i == 0 {
			return d.readU64(a)
		}
		return d.readU64(b)
	})
	return err
}
