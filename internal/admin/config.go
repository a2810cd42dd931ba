package admin

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
)

// redacted replaces the value of a secret config key.
const redacted = "<redacted>"

// isSecretKey reports whether a config key names a secret whose value the
// admin API must not show: password, *_password, *_key, *_secret, *_token,
// *_hash (raft_secret, token_secret and password_hash among them).
func isSecretKey(key string) bool {
	k := strings.ToLower(key)
	if k == "password" || k == "secret" || k == "token" {
		return true
	}
	for _, suffix := range []string{"_password", "_key", "_secret", "_token", "_hash"} {
		if strings.HasSuffix(k, suffix) {
			return true
		}
	}
	return false
}

// configJSON turns a config value into a JSON tree keyed as operators write
// the config: a struct field by its json tag, else its toml tag, else its
// name; fields tagged "-" and unexported fields are left out. Secret keys
// (isSecretKey) at any depth have a non-empty value replaced by
// "<redacted>"; an empty one stays empty, so that "not set" shows.
func configJSON(v any) any {
	return treeOf(reflect.ValueOf(v))
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

func treeOf(v reflect.Value) any {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		if v.Type().Implements(jsonMarshaler) || v.Type().Implements(textMarshaler) {
			break
		}
		v = v.Elem()
	}
	if !v.IsValid() {
		return nil
	}
	if v.Type().Implements(jsonMarshaler) || v.Type().Implements(textMarshaler) {
		return v.Interface() // encoding/json knows how
	}
	switch v.Kind() {
	case reflect.Struct:
		out := map[string]any{}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			name, ok := configKey(f)
			if !ok {
				continue
			}
			out[name] = valueOf(name, v.Field(i))
		}
		return out
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return v.Interface()
		}
		out := map[string]any{}
		for it := v.MapRange(); it.Next(); {
			name := it.Key().String()
			out[name] = valueOf(name, it.Value())
		}
		return out
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return []any{}
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = treeOf(v.Index(i))
		}
		return out
	}
	return v.Interface()
}

// valueOf is the tree of a value under key name, redacted if it is secret.
func valueOf(name string, v reflect.Value) any {
	if isSecretKey(name) {
		if v.IsValid() && !v.IsZero() {
			return redacted
		}
		return ""
	}
	return treeOf(v)
}

// configKey is the key of a struct field: json tag, toml tag, field name.
func configKey(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	for _, tag := range []string{"json", "toml"} {
		name, _, _ := strings.Cut(f.Tag.Get(tag), ",")
		if name == "-" {
			return "", false
		}
		if name != "" {
			return name, true
		}
	}
	return f.Name, true
}
