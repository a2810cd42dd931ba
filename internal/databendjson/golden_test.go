package databendjson

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestGoldenLineRoundTrip decodes every line of the three fixture dumps and
// encodes it again: the bytes must be identical.
func TestGoldenLineRoundTrip(t *testing.T) {
	for _, name := range fixtureFiles {
		t.Run(name, func(t *testing.T) {
			for i, in := range fixtureLines(t, name) {
				l, err := DecodeLine(in)
				if err != nil {
					t.Fatalf("line %d: %v", i+1, err)
				}
				out, err := AppendLine(nil, l)
				if err != nil {
					t.Fatalf("line %d: encode: %v", i+1, err)
				}
				if !bytes.Equal(in, out) {
					t.Fatalf("line %d differs after a round trip:\n in: %s\nout: %s\nfirst difference at byte %d",
						i+1, in, out, firstDiff(in, out))
				}
			}
		})
	}
}

// TestGoldenReaderWriter copies each fixture through Reader and Writer:
// the output is the file, byte for byte.
func TestGoldenReaderWriter(t *testing.T) {
	for _, name := range fixtureFiles {
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join(fixtureDir(t), name))
			if err != nil {
				t.Fatal(err)
			}
			r := NewReader(bytes.NewReader(in))
			var out bytes.Buffer
			w := NewWriter(&out)
			n := 0
			for {
				l, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				n++
				if r.LineNumber() != n {
					t.Fatalf("LineNumber() = %d after %d lines", r.LineNumber(), n)
				}
				if err := w.Write(l); err != nil {
					t.Fatalf("line %d: %v", n, err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(in, out.Bytes()) {
				t.Fatalf("copy differs from %s at byte %d", name, firstDiff(in, out.Bytes()))
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// BenchmarkDecodeLine decodes and encodes every line of meta_v004.txt (the
// bytes per op are the file's).
func BenchmarkDecodeLine(b *testing.B) {
	lines := fixtureLines(b, "meta_v004.txt")
	n := 0
	for _, l := range lines {
		n += len(l) + 1
	}
	b.SetBytes(int64(n))
	var buf []byte
	for b.Loop() {
		for _, in := range lines {
			l, err := DecodeLine(in)
			if err != nil {
				b.Fatal(err)
			}
			if buf, err = AppendLine(buf[:0], l); err != nil {
				b.Fatal(err)
			}
		}
	}
}
