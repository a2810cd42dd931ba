package main

import (
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"testing"
)

func TestSetGCPercent(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  string // "" = GOGC unset
		want int
	}{
		{"config applies", "", 50},
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
			setGCPercent(50, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if got := debug.SetGCPercent(before); got != tt.want {
				t.Errorf("GC percent %d, want %d", got, tt.want)
			}
		})
	}
}
