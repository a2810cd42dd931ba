package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The scripts that start clusters for bench (scripts/bench*.sh) parse, find
// their shared helpers, and refuse to start without the binaries. A run
// against real nodes takes too long for a test: the scripts' headers say
// how to make a smoke run (scripts/bench-state.sh: KEYS=20000).
func TestBenchScripts(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	tests := []struct {
		script string
		args   []string
		code   int
		want   string
	}{
		{"bench.sh", nil, 1, "bench.sh: " + "%BIN%/databend-meta not found: run make build"},
		{"bench.sh", []string{"put", "1"}, 2, "usage: scripts/bench.sh"},
		{"bench-state.sh", nil, 1, "bench-state.sh: %BIN%/databend-meta not found: run make build"},
		{"bench-state.sh", []string{"now"}, 2, "usage: scripts/bench-state.sh"},
		{"bench-floor.sh", []string{"put", "1"}, 2, "usage: scripts/bench-floor.sh"},
		{"bench-floor.sh", []string{"txn", "1", "1", "1"}, 2, "bench-floor.sh: WORKLOAD must be put or get"},
	}
	for _, tt := range tests {
		t.Run(tt.script+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			path := filepath.Join("..", "..", "scripts", tt.script)
			if out, err := exec.Command("bash", "-n", path).CombinedOutput(); err != nil {
				t.Fatalf("bash -n %s: %v\n%s", path, err, out)
			}
			bin := t.TempDir()
			cmd := exec.Command(path, tt.args...)
			cmd.Env = append(os.Environ(), "BIN="+bin, "BENCH_DIR=")
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			want := strings.ReplaceAll(tt.want, "%BIN%", bin)
			if code != tt.code || !strings.Contains(string(out), want) {
				t.Fatalf("exit %d, output %q: want exit %d and %q", code, out, tt.code, want)
			}
		})
	}
}
