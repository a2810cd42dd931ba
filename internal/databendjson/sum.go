package databendjson

import "reflect"

// Databend's enums whose variants carry different structs (Cmd,
// TxnOpRequest, TxnOpResponse, KvOperation, KvRequest) are Go interfaces;
// each variant's type names its variant. serde writes such a value
// externally tagged: {"Variant":{...fields...}}.

// variantShape is a variant of one of those enums.
type variantShape interface {
	Shape
	variant() string
}

// encodeSum writes v as {"Variant":{...}}; what names the enum in errors.
func encodeSum(e *encoder, what string, v variantShape) {
	if v == nil || reflect.ValueOf(v).IsNil() {
		e.fail("nil %s", what)
		e.null()
		return
	}
	e.variantOpen(v.variant())
	v.encode(e)
	e.objClose()
}

// decodeSum reads {"Variant":{...}} into *out; names lists the variants in
// Databend's order and make returns a new value of a variant.
func decodeSum[T variantShape](d *decoder, what string, names []string, make func(name string) T, out *T) error {
	return d.variant(what, names, func(name string, hasValue bool) error {
		if err := d.dataOnly(name, hasValue); err != nil {
			return err
		}
		v := make(name)
		*out = v
		return v.decode(d)
	})
}

// optionalSum reads a proto oneof field: null (nil) or {"Variant":{...}}.
func optionalSum[T variantShape](d *decoder, what string, names []string, make func(name string) T, out *T) error {
	var zero T
	isNull, err := d.null()
	if err != nil || isNull {
		*out = zero
		return err
	}
	return decodeSum(d, what, names, make, out)
}

// writeOneof writes a proto oneof field: null when v is nil.
func writeOneof(e *encoder, name, what string, v variantShape) {
	e.key(name)
	if v == nil || reflect.ValueOf(v).IsNil() {
		e.null()
		return
	}
	encodeSum(e, what, v)
}
