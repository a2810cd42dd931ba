package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// benchResult is bench's output line. Its fields, their order and types
// are those of ../shared/peers/bench (result), and it is written the same
// way (encoding/json, one line), so that the lines of both compare field by
// field and number by number.
type benchResult struct {
	System    string  `json:"system"`
	Workload  string  `json:"workload"`
	Clients   int     `json:"clients"`
	Conns     int     `json:"conns"`
	Total     int     `json:"total"`
	Errors    int64   `json:"errors"`
	Seconds   float64 `json:"seconds"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	P999ms    float64 `json:"p999_ms"`
}

// newBenchResult computes the line from the run's wall time and latencies,
// as the peers do: ops_per_sec is total / seconds, and the p-th percentile
// is the latency at index int(p*(n-1)) of the sorted samples. lat is
// sorted in place.
func newBenchResult(cfg benchConfig, errs int64, elapsed time.Duration, lat []time.Duration) benchResult {
	slices.Sort(lat)
	return benchResult{
		System:    benchSystem,
		Workload:  cfg.workload,
		Clients:   cfg.clients,
		Conns:     cfg.conns,
		Total:     cfg.total,
		Errors:    errs,
		Seconds:   elapsed.Seconds(),
		OpsPerSec: float64(cfg.total) / elapsed.Seconds(),
		P50ms:     percentileMs(lat, 0.50),
		P99ms:     percentileMs(lat, 0.99),
		P999ms:    percentileMs(lat, 0.999),
	}
}

// percentileMs returns the p-th percentile of sorted in milliseconds; 0
// when there are no samples.
func percentileMs(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return float64(sorted[int(p*float64(len(sorted)-1))]) / 1e6
}

// write prints r as one JSON line.
func (r benchResult) write(w io.Writer) error {
	return json.NewEncoder(w).Encode(r)
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Progress bar timing: nothing is drawn for runs shorter than
// progressDelay; then it is redrawn every progressEvery.
const (
	progressDelay = time.Second
	progressEvery = 200 * time.Millisecond
	progressWidth = 30
)

// progress draws a progress bar on one line of w, from a counter the
// workers advance, until finish.
type progress struct {
	w     io.Writer
	label string
	total int64
	done  *atomic.Int64
	start time.Time
	stopC chan struct{}
	wg    sync.WaitGroup
	drawn bool // owned by the drawing goroutine until wg.Wait
}

// startProgress starts drawing (when enabled) the progress of done towards
// total. finish must be called.
func startProgress(w io.Writer, enabled bool, label string, total int64, done *atomic.Int64) *progress {
	p := &progress{w: w, label: label, total: total, done: done, start: time.Now(), stopC: make(chan struct{})}
	if !enabled {
		return p
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		select {
		case <-time.After(progressDelay):
		case <-p.stopC:
			return
		}
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			p.draw()
			select {
			case <-t.C:
			case <-p.stopC:
				return
			}
		}
	}()
	return p
}

func (p *progress) draw() {
	p.drawn = true
	fmt.Fprint(p.w, "\r"+progressLine(p.label, p.done.Load(), p.total, time.Since(p.start)))
}

// finish stops drawing; a bar that was drawn is completed and ended with a
// newline, so that what follows starts on its own line.
func (p *progress) finish() {
	close(p.stopC)
	p.wg.Wait()
	if p.drawn {
		p.draw()
		fmt.Fprintln(p.w)
	}
}

// progressLine is one state of the bar:
// "put [=========>          ]  45%  22500/50000  12345 ops/s  1.8s".
func progressLine(label string, done, total int64, el time.Duration) string {
	done = min(done, total)
	fill := 0
	if total > 0 {
		fill = int(done * progressWidth / total)
	}
	bar := strings.Repeat("=", fill)
	if fill < progressWidth {
		bar += ">" + strings.Repeat(" ", progressWidth-fill-1)
	}
	pct := 100 * float64(done) / float64(max(total, 1))
	rate := 0.0
	if s := el.Seconds(); s > 0 {
		rate = float64(done) / s
	}
	return fmt.Sprintf("%s [%s] %3.0f%%  %d/%d  %.0f ops/s  %.1fs ", label, bar, pct, done, total, rate, el.Seconds())
}
