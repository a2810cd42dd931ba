package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/metasrv/metasrv/client"
	"github.com/metasrv/metasrv/internal/backup"
)

// valueJSON is a value in JSON output. The data is under "value" when it is
// valid UTF-8, else base64-encoded (RFC 4648, standard, padded) under
// "value_base64"; an absent key (seq 0) has neither.
type valueJSON struct {
	Seq         uint64  `json:"seq"`
	Value       *string `json:"value,omitempty"`
	ValueBase64 *string `json:"value_base64,omitempty"`
	ExpireAtMs  uint64  `json:"expire_at_ms,omitempty"`
}

// keyJSON is a key in JSON output, lossless as values are: under "key"
// when it is valid UTF-8, else base64-encoded (standard, padded) under
// "key_base64" (encoding/json would replace its bytes by U+FFFD). Keys are
// never empty, so exactly one of the two is present.
type keyJSON struct {
	Key       *string `json:"key,omitempty"`
	KeyBase64 *string `json:"key_base64,omitempty"`
}

func newKeyJSON(key string) keyJSON {
	var k keyJSON
	k.Key, k.KeyBase64 = backup.TextOrBase64([]byte(key))
	return k
}

// kvJSON is a key and its value in JSON output.
type kvJSON struct {
	keyJSON
	valueJSON
}

func newValueJSON(kv client.KV) valueJSON {
	v := valueJSON{Seq: kv.Seq, ExpireAtMs: kv.ExpireAtMs}
	if !kv.Exists() {
		return v
	}
	v.Value, v.ValueBase64 = backup.TextOrBase64(kv.Data)
	return v
}

func newKVJSON(kv client.KV) kvJSON {
	return kvJSON{keyJSON: newKeyJSON(kv.Key), valueJSON: newValueJSON(kv)}
}

// keyText is a key in text and table output: as it is when it is UTF-8
// text of printable characters that does not start with a double quote,
// else Go-quoted ("a\xffb", "line\n"), so that every key shows without
// loss or ambiguity and a table keeps one line per key.
func keyText(key string) string {
	if utf8.ValidString(key) && !strings.HasPrefix(key, `"`) && !strings.ContainsFunc(key, func(r rune) bool { return !strconv.IsPrint(r) }) {
		return key
	}
	return strconv.Quote(key)
}

// writeJSON writes v as indented JSON and a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// valueText formats a value on one line: `seq=5 value="abc"`,
// `seq=5 value_base64=AAE=`, `seq=0 (absent)`, with ` expire_at=...` when it
// expires.
func valueText(kv client.KV) string {
	if !kv.Exists() {
		return "seq=0 (absent)"
	}
	s := fmt.Sprintf("seq=%d %s", kv.Seq, dataText(kv.Data))
	if kv.ExpireAtMs != 0 {
		s += " expire_at=" + expireText(kv.ExpireAtMs)
	}
	return s
}

// dataText is `value="..."` (Go-quoted) for UTF-8 data, else
// `value_base64=...`.
func dataText(data []byte) string {
	text, b64 := backup.TextOrBase64(data)
	if text != nil {
		return "value=" + strconv.Quote(*text)
	}
	return "value_base64=" + *b64
}

// expireText formats Unix milliseconds as RFC 3339 UTC.
func expireText(ms uint64) string {
	return time.UnixMilli(int64(ms)).UTC().Format("2006-01-02T15:04:05.000Z")
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}
