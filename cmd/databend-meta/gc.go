package main

import (
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// gcSmallHeap is the heap growth between collections that the GC is always
// allowed, up to Go's default percent (100): gc_percent (default 50) only
// applies to a live heap over twice this. A small state is collected often
// whatever the percent, so halving its headroom buys a few megabytes for
// 7-9% of put 100/10's throughput (10,000 keys, docs/PERFORMANCE.md); a
// large one (1M keys: ~400 MB live) is where gc_percent saves hundreds of
// megabytes.
const gcSmallHeap = 128 << 20

// gcPollInterval is how often tuneGC reads the live heap (set by each
// collection).
const gcPollInterval = time.Second

// gcPercentFor returns the GOGC for a live heap of live bytes with
// gc_percent percent: percent itself when it is 100 or more; else percent,
// raised (up to 100) to allow gcSmallHeap of growth.
func gcPercentFor(live uint64, percent int) int {
	if percent >= 100 {
		return percent
	}
	small := 100
	if live > gcSmallHeap {
		small = int(100 * gcSmallHeap / live)
	}
	return max(percent, small)
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
