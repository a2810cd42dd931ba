package main

import (
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"testing"
)

func TestGCPercentFor(t *testing.T) {
	for _, tt := range []struct {
		name    string
		live    uint64
		percent int
		want    int
	}{
		{"nothing live yet: the growth over the least live heap", 0, 50, 3200},
		{"small state: the growth", 32 << 20, 50, 400},
		{"rounded up to allow at least the growth", 30 << 20, 50, 427},
		{"the growth is the live heap: Go's default", gcMinGrowth, 50, 100},
		{"between: the growth", 2 * gcMinGrowth * 3 / 4, 50, 67},
		{"twice the growth: gc_percent", 2 * gcMinGrowth, 50, 50},
		{"large state: gc_percent", 400 << 20, 50, 50},
		{"a lower gc_percent on a huge heap", 4 << 30, 20, 20},
		{"gc_percent over the growth's percent applies as is", 30 << 20, 500, 500},
		{"gc_percent 200 on a small state: the growth", 30 << 20, 200, 427},
		{"gc_percent 100", 400 << 20, 100, 100},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := gcPercentFor(tt.live, tt.percent); got != tt.want {
				t.Errorf("gcPercentFor(%d, %d) = %d, want %d", tt.live, tt.percent, got, tt.want)
			}
		})
	}
}

func TestTuneGC(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  string // "" = GOGC unset
		want int
	}{
		{"gc_percent applies (this test's heap is small: the least growth)", "", gcPercentFor(0, 50)},
		{"environment wins", "200", 77}, // what the runtime had before
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := debug.SetGCPercent(77)
			defer debug.SetGCPercent(before)
			if tt.env == "" {
				if env, ok := os.LookupEnv("GOGC"); ok {
					t.Setenv("GOGC", env) // restored after the test
					os.Unsetenv("GOGC")
				}
			} else {
				t.Setenv("GOGC", tt.env)
			}
			stop := tuneGC(50, slog.New(slog.NewTextHandler(io.Discard, nil)))
			stop()
			if got := debug.SetGCPercent(before); got != tt.want {
				t.Errorf("GC percent %d, want %d", got, tt.want)
			}
		})
	}
}
