package main

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/metasrv/metasrv/client/clienttest"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestBinaryKeys: keys are bytes. --key takes a key that is not UTF-8 as
// the shell passes it, --key-base64 in the form the JSON output shows it;
// JSON output shows such a key under "key_base64" (encoding/json would
// turn its bytes into U+FFFD), text and table output Go-quoted.
func TestBinaryKeys(t *testing.T) {
	cl := clienttest.Start(t, 1)
	addrs := cl.Addrs()
	const bin = "a\xffb"

	var up upsertOut
	runJSON(t, addrs, &up, "upsert", "--key", bin, "--value", "v1")
	if up.Key != "" || !eqStr(up.KeyBase64, strp(b64(bin))) || !up.Applied {
		t.Fatalf("upsert --key %q: %+v, want key_base64 %s", bin, up, b64(bin))
	}
	up = upsertOut{}
	runJSON(t, addrs, &up, "upsert", "--key-base64", b64("\xff"), "--value", "v2")
	if !eqStr(up.KeyBase64, strp(b64("\xff"))) || up.Result.Seq != 2 {
		t.Fatalf("upsert --key-base64: %+v", up)
	}
	cl.Store.Put("line\n", []byte("v3"))
	cl.Store.Put("plain", []byte("v4"))

	var got kvOut
	runJSON(t, addrs, &got, "get", "--key-base64", b64(bin))
	if got.Key != "" || !eqStr(got.KeyBase64, strp(b64(bin))) || !eqStr(got.Value, strp("v1")) {
		t.Errorf("get --key-base64: %+v", got)
	}
	var list []kvOut
	runJSON(t, addrs, &list, "list", "--prefix", "a\xff")
	if len(list) != 1 || !eqStr(list[0].KeyBase64, strp(b64(bin))) {
		t.Errorf("list --prefix a\\xff: %+v, want %q alone", list, bin)
	}

	text := func(args ...string) string {
		t.Helper()
		stdout, stderr, code := runCLI(t, append([]string{"--grpc-api-address", strings.Join(addrs, ","), "--timeout", "5s"}, args...)...)
		if code != 0 {
			t.Fatalf("%q: exit %d, stderr %q", args, code, stderr)
		}
		return stdout
	}
	if out := text("get", "--key", bin); !strings.Contains(out, "key:          \"a\\xffb\"\n") {
		t.Errorf("get text: %q, want the key Go-quoted", out)
	}
	if out := text("del", "--key-base64", b64("\xff")); !strings.Contains(out, "key:     \"\\xff\"\n") {
		t.Errorf("del text: %q, want the key Go-quoted", out)
	}
	out := text("list")
	for _, want := range []string{"\n\"a\\xffb\" ", "\n\"line\\n\" ", "\nplain "} {
		if !strings.Contains(out, want) {
			t.Errorf("list table %q: no row starting %q", out, want)
		}
	}
	if n := strings.Count(out, "\n"); n != 4 {
		t.Errorf("list table %q: %d lines, want a header and 3 rows", out, n)
	}

	// watch prints JSON lines whatever --output says.
	lines := text("watch", "--prefix", "a\xff", "--initial-flush", "--timeout", "1s")
	if want := `{"key_base64":"` + b64(bin) + `","revision":`; !strings.HasPrefix(lines, want) {
		t.Errorf("watch --initial-flush: %q, want the first line to start %q", lines, want)
	}
	if out := text("--output", "databend", "upsert", "--key", bin, "--value", "v5"); !strings.HasPrefix(out, "upsert-result: \"a\\xffb\": ") {
		t.Errorf("upsert --output databend: %q, want the key Go-quoted", out)
	}
}

// --key-base64 is the key in standard base64: one of it and --key, decoded
// to a non-empty key; anything else is a usage error, and nothing is sent.
func TestKeyBase64Flag(t *testing.T) {
	down := refusedAddr(t)
	tests := []struct {
		args []string
		want string // the start of the first line of stderr
	}{
		{[]string{"get", "--key", "k", "--key-base64", "aw=="}, "give --key or --key-base64, not both"},
		{[]string{"del", "--key-base64", "a\xff"}, `invalid --key-base64 "a\xff": illegal base64 data at input byte 1: give the key in standard base64`},
		{[]string{"upsert", "--key-base64", "", "--value", "v"}, "--key-base64 is empty: keys must be non-empty"},
		{[]string{"get", "--key-base64", "aw"}, `invalid --key-base64 "aw": illegal base64 data`},
	}
	for _, tt := range tests {
		stdout, stderr, code := runCLI(t, append([]string{"--grpc-api-address", down}, tt.args...)...)
		if code != exitUsage || stdout != "" || !strings.HasPrefix(firstLine(stderr), "databend-metactl: "+tt.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and %q", tt.args, code, stdout, stderr, tt.want)
		}
	}
}
