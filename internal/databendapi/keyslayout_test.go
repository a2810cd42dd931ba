package databendapi

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// The cases of databend-meta's count_prefix tests.
func TestPrefixCounter(t *testing.T) {
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
		// depth 0: the total alone.
		{[]string{"a/b", "c/d"}, 0, `"":2`},
	}
	for _, tt := range tests {
		var got []string
		c := prefixCounter{maxDepth: tt.depth, emit: func(prefix string, count uint64) error {
			if prefix == "" {
				prefix = `""`
			}
			got = append(got, fmt.Sprintf("%s:%d", prefix, count))
			return nil
		}}
		for _, k := range tt.keys {
			if err := c.add(k); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.finish(); err != nil {
			t.Fatal(err)
		}
		if s := strings.Join(got, " "); s != tt.want {
			t.Errorf("keys %q, depth %d: %s\nwant %s", tt.keys, tt.depth, s, tt.want)
		}
	}
}

// An error of emit (a broken stream) stops the count and is returned.
func TestPrefixCounterStopsOnError(t *testing.T) {
	broken := errors.New("broken")
	n := 0
	c := prefixCounter{maxDepth: math.MaxInt, emit: func(string, uint64) error { n++; return broken }}
	if err := c.add("a/1"); err != nil {
		t.Fatal(err)
	}
	if err := c.add("b/1"); !errors.Is(err, broken) || n != 1 {
		t.Fatalf("add after a closed directory: %v after %d emits, want broken after 1", err, n)
	}
}
