package main

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/metasrv/metasrv/client/clienttest"
)

// The cases of databend-meta's count_prefix tests.
func TestKeysLayout(t *testing.T) {
	all := math.MaxInt
	tests := []struct {
		keys  []string
		depth int
		want  string
	}{
		{nil, all, `"":0`},
		{[]string{"file.txt"}, all, `"":1`},
		{[]string{"dir/file.txt"}, all, `dir:1 "":1`},
		{[]string{"dir/file1.txt", "dir/file2.txt", "dir/file3.txt"}, all, `dir:3 "":3`},
		{[]string{"a/b/file1.txt", "a/b/file2.txt", "a/c/file3.txt"}, all, `a/b:2 a/c:1 a:3 "":3`},
		{[]string{"root/dir1/subdir1/file1.txt", "root/dir1/subdir1/file2.txt", "root/dir1/subdir2/file3.txt", "root/dir2/file4.txt", "root/dir2/file5.txt"}, all,
			`root/dir1/subdir1:2 root/dir1/subdir2:1 root/dir1:3 root/dir2:2 root:5 "":5`},
		{[]string{"dir1/file1.txt", "dir1/file2.txt", "dir2/file3.txt", "dir3/subdir/file4.txt"}, all, `dir1:2 dir2:1 dir3/subdir:1 dir3:1 "":4`},
		{[]string{"app/deep/nested/file1.txt", "app/shallow/file2.txt", "config/file3.txt"}, all,
			`app/deep/nested:1 app/deep:1 app/shallow:1 app:2 config:1 "":3`},
		{[]string{"a/deep/nested/dir/file1.txt", "a/deep/nested/file2.txt", "a/file3.txt", "b/file4.txt"}, all,
			`a/deep/nested/dir:1 a/deep/nested:2 a/deep:2 a:3 b:1 "":4`},
		{[]string{"file1.txt", "file2.txt", "file3.txt"}, all, `"":3`},
		{[]string{"dir/file2.txt", "file1.txt", "file3.txt"}, all, `dir:1 "":3`},
		{[]string{"a/b/c/d/e/f/g/file1.txt", "a/b/c/d/e/f/h/file2.txt"}, all,
			`a/b/c/d/e/f/g:1 a/b/c/d/e/f/h:1 a/b/c/d/e/f:2 a/b/c/d/e:2 a/b/c/d:2 a/b/c:2 a/b:2 a:2 "":2`},
		{[]string{"a/b/c/file1.txt", "a/b/file2.txt", "a/file3.txt", "d/file4.txt"}, 1, `a:3 d:1 "":4`},
		{[]string{"a/b/c/file1.txt", "a/b/file2.txt", "a/file3.txt", "d/e/file4.txt"}, 2, `a/b:2 a:3 d/e:1 d:1 "":4`},
		{[]string{"a/b/c/d/file1.txt", "a/b/c/file2.txt", "a/b/file3.txt"}, 3, `a/b/c:2 a/b:3 a:3 "":3`},
		{[]string{"root/level1/level2/level3/level4/file.txt"}, 2, `root/level1:1 root:1 "":1`},
		// Prefixes that share bytes but not directories.
		{[]string{"ab/x", "abc/y"}, all, `ab:1 abc:1 "":2`},
	}
	for _, tt := range tests {
		var got []string
		for _, kc := range keysLayout(tt.keys, tt.depth) {
			p := kc.Prefix
			if p == "" {
				p = `""`
			}
			got = append(got, fmt.Sprintf("%s:%d", p, kc.Count))
		}
		if s := strings.Join(got, " "); s != tt.want {
			t.Errorf("keysLayout(%q, %d) = %s\nwant %s", tt.keys, tt.depth, s, tt.want)
		}
	}
}

func TestKeysLayoutCommand(t *testing.T) {
	cl := clienttest.Start(t, 1)
	for _, k := range []string{"databases/1/tables/users/columns/id", "databases/1/tables/users/columns/name",
		"databases/1/tables/orders/columns/id", "databases/2/tables/products/columns/id",
		"system/config/max_connections", "system/stats/query_count"} {
		cl.Store.Put(k, []byte("v"))
	}
	addr := []string{"--grpc-api-address", cl.Addrs()[0]}
	// databend-metactl's example, line for line.
	want := `databases/1/tables/orders/columns 1
databases/1/tables/orders 1
databases/1/tables/users/columns 2
databases/1/tables/users 2
databases/1/tables 3
databases/1 3
databases/2/tables/products/columns 1
databases/2/tables/products 1
databases/2/tables 1
databases/2 1
databases 4
system/config 1
system/stats 1
system 2
 6
`
	if stdout, stderr, code := runCLI(t, append(addr, "keys-layout")...); code != 0 || stdout != want {
		t.Errorf("keys-layout: exit %d, stderr %q, stdout\n%s\nwant\n%s", code, stderr, stdout, want)
	}
	if stdout, stderr, code := runCLI(t, append(addr, "keys-layout", "--depth", "1")...); code != 0 || stdout != "databases 4\nsystem 2\n 6\n" {
		t.Errorf("keys-layout --depth 1: exit %d, stderr %q, stdout %q", code, stderr, stdout)
	}
	stdout, stderr, code := runCLI(t, append(addr, "--output", "json", "keys-layout", "--depth", "1")...)
	if want := "[\n  {\n    \"prefix\": \"databases\",\n    \"count\": 4\n  },\n  {\n    \"prefix\": \"system\",\n    \"count\": 2\n  },\n  {\n    \"prefix\": \"\",\n    \"count\": 6\n  }\n]\n"; code != 0 || stdout != want {
		t.Errorf("keys-layout --output json: exit %d, stderr %q, stdout %q", code, stderr, stdout)
	}
}

func TestLuaNotSupported(t *testing.T) {
	stdout, stderr, code := runCLI(t, "lua", "--script", `print("hello")`)
	if code != exitUsage || stdout != "" || !strings.Contains(stderr, "lua is not supported: this databend-metactl embeds no Lua interpreter") {
		t.Errorf("lua: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// databend-metactl's global --log-level is accepted.
	cl := clienttest.Start(t, 1)
	if _, stderr, code := runCLI(t, "--log-level", "DEBUG", "--grpc-api-address", cl.Addrs()[0], "get", "--key", "k"); code != 0 {
		t.Errorf("--log-level DEBUG get: exit %d, stderr %q", code, stderr)
	}
}
