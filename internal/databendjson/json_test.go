package databendjson

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// TestAppendStringSerde checks string escaping against serde_json's rules:
// only ", \ and control characters are escaped, with the short escapes
// \b \f \n \r \t and otherwise \u00xx in lower case hex.
func TestAppendStringSerde(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"plain/key", `"plain/key"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"\x00\x01\x1f", `"\u0000\u0001\u001f"`},
		{"\x7f", "\"\x7f\""},
		{"<>&'", `"<>&'"`},
		{"é日本\u2028", "\"é日本\u2028\""},
	} {
		if got := string(appendString(nil, tc.in)); got != tc.want {
			t.Errorf("appendString(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestDecoderStrings(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      error
	}{
		{`"abc"`, "abc", nil},
		{`"a\"\\\/\b\f\n\r\t"`, "a\"\\/\b\f\n\r\t", nil},
		{`"\u00e9\u65e5"`, "é日", nil},
		{`"\ud83d\ude00"`, "😀", nil},
		{"\"é\"", "é", nil},
		{`"\ud83d"`, "", ErrSyntax},
		{`"\ude00"`, "", ErrSyntax},
		{`"\ud83d\u0041"`, "", ErrSyntax},
		{`"\x"`, "", ErrSyntax},
		{`"\u12"`, "", ErrSyntax},
		{"\"a\x01\"", "", ErrSyntax},
		{"\"\xff\"", "", ErrSyntax},
		{`"abc`, "", ErrSyntax},
		{`12`, "", ErrShape},
		{`nul`, "", ErrShape},
		{`?`, "", ErrSyntax},
	} {
		d := newDecoder([]byte(tc.in))
		got, err := d.str()
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("str(%s) error = %v, want %v", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("str(%s) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestDecoderIntegers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		bits int
		want uint64
		err  error
	}{
		{"0", 64, 0, nil},
		{"18446744073709551615", 64, math.MaxUint64, nil},
		{"18446744073709551616", 64, 0, ErrShape},
		{"65535", 16, 65535, nil},
		{"65536", 16, 0, ErrShape},
		{"-1", 64, 0, ErrShape},
		{"-0", 64, 0, nil},
		{"1.5", 64, 0, ErrShape},
		{"1e3", 64, 0, ErrShape},
		{"01", 64, 0, nil}, // reads 0; the 1 is then trailing text
		{"-", 64, 0, ErrSyntax},
		{`"1"`, 64, 0, ErrShape},
	} {
		d := newDecoder([]byte(tc.in))
		got, err := d.uint(tc.bits)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("uint(%s, %d) error = %v, want %v", tc.in, tc.bits, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("uint(%s, %d) = %d, %v; want %d", tc.in, tc.bits, got, err, tc.want)
		}
	}
	d := newDecoder([]byte("01"))
	if _, err := d.uint(64); err != nil || d.end() == nil {
		t.Errorf(`"01": want 0 then an error for the trailing 1, got %v`, err)
	}
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"-9223372036854775808", math.MinInt64, true},
		{"9223372036854775807", math.MaxInt64, true},
		{"9223372036854775808", 0, false},
		{"-5", -5, true},
	} {
		got, err := newDecoder([]byte(tc.in)).int(64)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("int(%s) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestDecoderBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []byte
		err  string
	}{
		{"[]", []byte{}, ""},
		{"[ ]", []byte{}, ""},
		{"[0,1,255]", []byte{0, 1, 255}, ""},
		{"[ 7 , 8 ]", []byte{7, 8}, ""},
		{"[256]", nil, "[0]: want an unsigned integer of 8 bits, got 256"},
		{"[1,2,1000]", nil, "[2]: want an unsigned integer of 8 bits, got 1000"},
		{"[1.5]", nil, "fraction"},
		{`["a"]`, nil, "got a string"},
		{"[1,]", nil, "want an unsigned integer"},
		{"[1", nil, "want , or ]"},
		{`"AQI="`, nil, "want an array of bytes, got a string"},
	} {
		got, err := newDecoder([]byte(tc.in)).bytes()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("bytes(%s) error = %v, want it to contain %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != string(tc.want) || got == nil {
			t.Errorf("bytes(%s) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
