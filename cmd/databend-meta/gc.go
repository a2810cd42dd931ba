package main

import (
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// gcMinGrowth is the heap growth between collections that the GC is always
// allowed, whatever gc_percent: a small state (10,000 keys: ~15 MB live)
// at a percent of its own size would be collected 8 times a second at
// put 100/10, ~8 ms of CPU each time, a tenth or more of a busy node's
// CPU (docs/PERFORMANCE.md); a large one (1M keys: ~400 MB live) is where
// gc_percent saves hundreds of megabytes.
const gcMinGrowth = 128 << 20

// gcMinLive is the live heap gcPercentFor assumes at least, so that a
// nearly empty heap (at start) gets a finite percent.
const gcMinLive = 4 << 20

// gcPollInterval is how often tuneGC reads the live heap (set by each
// collection).
const gcPollInterval = time.Second

// gcPercentFor returns the GOGC for a live heap of live bytes with
// gc_percent percent: percent, raised to allow gcMinGrowth of growth.
func gcPercentFor(live uint64, percent int) int {
	live = max(live, gcMinLive)
	return max(percent, int((100*gcMinGrowth+live-1)/live))
}

// tuneGC applies gc_percent (see gcPercentFor) as the live heap changes,
// until the returned stop is called; unless the GOGC environment variable
// is set: the operator's environment wins, as for any Go program.
// GOMEMLIMIT, when set, applies on top of either.
func tuneGC(percent int, lg *slog.Logger) (stop func()) {
	if env, ok := os.LookupEnv("GOGC"); ok {
		lg.Info("GOGC is set in the environment: gc_percent is not applied", "GOGC", env, "gc_percent", percent)
		return func() {}
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	current := gcPercentFor(0, percent)
	debug.SetGCPercent(current)
	stopC, doneC := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(doneC)
		t := time.NewTicker(gcPollInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-stopC:
				return
			}
			metrics.Read(sample)
			if sample[0].Value.Kind() != metrics.KindUint64 {
				return // not this runtime's metric: keep the last setting
			}
			if p := gcPercentFor(sample[0].Value.Uint64(), percent); p != current {
				debug.SetGCPercent(p)
				current = p
			}
		}
	}()
	return func() {
		close(stopC)
		<-doneC
	}
}
