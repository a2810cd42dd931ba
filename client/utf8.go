package client

import (
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// checkUTF8 returns an error wrapping ErrInvalidArgument when a string
// field of req, at any depth, is not valid UTF-8. Protobuf refuses to
// marshal such a message, and gRPC then fails the call with codes.Internal
// ("grpc: error while marshaling"), which reads as a fault of the client or
// of the server rather than of the input. what names the call, e.g. `get`;
// the error names the field by its path, e.g. `if_then[2].put.key`, and
// quotes its value (Go-quoted, so the bad bytes show as \xNN).
func checkUTF8(what string, req proto.Message) error {
	path, val, bad := invalidUTF8(req.ProtoReflect())
	if !bad {
		return nil
	}
	return fmt.Errorf("%w: %s: %s %q is not valid UTF-8: keys, prefixes and the other strings of a request must be UTF-8 text (a value may hold any bytes)",
		ErrInvalidArgument, what, path, val)
}

// invalidUTF8 finds the first string field of m, in field order, that is
// not valid UTF-8, and returns its path and value.
func invalidUTF8(m protoreflect.Message) (path, val string, bad bool) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := string(fd.Name())
		switch {
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				if p, s, ok := invalidUTF8Value(fd, l.Get(i)); ok {
					path, val, bad = fmt.Sprintf("%s[%d]%s", name, i, p), s, true
					return false
				}
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				if ks, isStr := k.Interface().(string); isStr && !utf8.ValidString(ks) {
					path, val, bad = name+" key", ks, true
					return false
				}
				if p, s, ok := invalidUTF8Value(fd.MapValue(), mv); ok {
					path, val, bad = fmt.Sprintf("%s[%v]%s", name, k.Interface(), p), s, true
					return false
				}
				return true
			})
			return !bad
		default:
			if p, s, ok := invalidUTF8Value(fd, v); ok {
				path, val, bad = name+p, s, true
				return false
			}
		}
		return true
	})
	return path, val, bad
}

// invalidUTF8Value checks one value of field fd: a string itself, a
// message through its fields (the path returned then starts with ".").
func invalidUTF8Value(fd protoreflect.FieldDescriptor, v protoreflect.Value) (path, val string, bad bool) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		if s := v.String(); !utf8.ValidString(s) {
			return "", s, true
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		if p, s, ok := invalidUTF8(v.Message()); ok {
			return "." + p, s, true
		}
	}
	return "", "", false
}
