package main

import (
	"log/slog"
	"os"
	"runtime/debug"
)

// setGCPercent gives the GC the config's gc_percent (GOGC), unless the
// GOGC environment variable is set: the operator's environment wins, as
// for any Go program. GOMEMLIMIT, when set, applies on top of either.
func setGCPercent(percent int, lg *slog.Logger) {
	if env, ok := os.LookupEnv("GOGC"); ok {
		lg.Info("GOGC is set in the environment: gc_percent is not applied", "GOGC", env, "gc_percent", percent)
		return
	}
	debug.SetGCPercent(percent)
}
