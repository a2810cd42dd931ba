package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/api/metapb"
)

// watchStampSize is what the watch workload writes at the start of every
// value: the send time (nanoseconds since the run began, big endian), then
// the run's random id, so that a watcher tells this run's events apart
// from anybody else's.
const watchStampSize = 16

// watchIdleTimeout is how long, once the puts are done, the run waits for a
// watcher that stopped receiving before it counts the rest as lost.
const watchIdleTimeout = 5 * time.Second

// benchWatcher is one watch stream of the watch workload.
type benchWatcher struct {
	endpoint string
	stream   metapb.Meta_WatchClient
	// lastRev: every change up to it has arrived (an event or a progress
	// marker said so; each put of the run is an entry of its own).
	lastRev atomic.Uint64
	// ended: run returned; nothing more will arrive.
	ended atomic.Bool
	// Owned by run until it returns.
	lat  []time.Duration // delivery latency of each of this run's events
	last time.Duration   // when the last of them arrived, since base
	err  error           // why the stream ended, unless cancelled
}

// runWatch runs the watch workload: one watch stream per connection on
// every bench key (connection j watches through address j mod addresses),
// --clients writers doing puts of stamped values, and a latency sample for
// every event of this run that reaches a watcher: arrival time minus the
// time its put was sent. seconds runs from the first put to the last
// delivery; errors counts failed puts and deliveries that never happened.
func (b *bench) runWatch(ctx context.Context) (benchResult, error) {
	runID := rand.Uint64()
	base := time.Now()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watchers, err := b.openWatchers(wctx)
	if err != nil {
		return benchResult{}, err
	}
	var wwg sync.WaitGroup
	for _, w := range watchers {
		wwg.Add(1)
		go func() {
			defer wwg.Done()
			w.run(base, runID)
		}()
	}

	total := int64(b.cfg.total)
	var next, done, okPuts atomic.Int64
	var maxRev atomic.Uint64
	bar := startProgress(b.stderr, b.cfg.progress, b.cfg.workload, total, &done)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range b.cfg.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(c)))
			rot := b.conns.newWriter(c)
			val := slices.Clone(b.val)
			binary.BigEndian.PutUint64(val[8:16], runID)
			for {
				if next.Add(1) > total {
					return
				}
				k := r.Intn(b.cfg.keys)
				binary.BigEndian.PutUint64(val[0:8], uint64(time.Since(base)))
				reply, err := rot.pick().Upsert(ctx, &metapb.UpsertRequest{Key: b.keyNames[k], Value: val})
				if err != nil {
					b.fail(err)
				} else {
					okPuts.Add(1)
					storeMax(&maxRev, reply.GetResult().GetModRevision())
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	putsDone := time.Since(base)
	bar.finish()
	b.awaitWatchers(ctx, watchers, maxRev.Load())
	cancel()
	wwg.Wait()
	if err := ctx.Err(); err != nil {
		return benchResult{}, fmt.Errorf("bench interrupted: %w", err)
	}

	var lat []time.Duration
	end := putsDone
	for _, w := range watchers {
		lat = append(lat, w.lat...)
		end = max(end, w.last)
		if w.err != nil {
			fmt.Fprintf(b.stderr, "databend-metactl: bench: the watch on %s ended early: %v\n", w.endpoint, w.err)
		}
	}
	missing := okPuts.Load()*int64(len(watchers)) - int64(len(lat))
	if missing > 0 {
		fmt.Fprintf(b.stderr, "databend-metactl: bench: %d of %d events never reached a watcher\n", missing, okPuts.Load()*int64(len(watchers)))
		b.errs.Add(missing)
	}
	b.reportErrors()
	return newBenchResult(b.cfg, b.errs.Load(), end-start.Sub(base), lat), nil
}

// openWatchers opens the watch streams and waits until each has sent its
// initial values and the flush_done marker: from then on it sees every
// change.
func (b *bench) openWatchers(ctx context.Context) ([]*benchWatcher, error) {
	req := &metapb.WatchRequest{Key: b.cfg.prefix, KeyEnd: prefixEnd(b.cfg.prefix), InitialFlush: true}
	var watchers []*benchWatcher
	for j, stubs := range b.conns.stubs {
		a := j % len(stubs)
		ep := b.cfg.endpoints[a]
		stream, err := stubs[a].Watch(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("watch on %s: %w", ep, err)
		}
		for {
			resp, err := stream.Recv()
			if err != nil {
				return nil, fmt.Errorf("watch on %s: initial flush: %w", ep, err)
			}
			if resp.GetFlushDone() {
				break
			}
		}
		watchers = append(watchers, &benchWatcher{endpoint: ep, stream: stream, lat: make([]time.Duration, 0, b.cfg.total)})
	}
	return watchers, nil
}

// prefixEnd returns the smallest string greater than every string that
// starts with p (p is ASCII and does not end in 0xff).
func prefixEnd(p string) string {
	e := []byte(p)
	e[len(e)-1]++
	return string(e)
}

// run receives until the stream ends, recording this run's events.
func (w *benchWatcher) run(base time.Time, runID uint64) {
	defer w.ended.Store(true)
	for {
		resp, err := w.stream.Recv()
		if err != nil {
			if status.Code(err) != codes.Canceled && !errors.Is(err, context.Canceled) {
				w.err = err
			}
			return
		}
		if p := resp.GetProgressRevision(); p > 0 {
			storeMax(&w.lastRev, p)
		}
		ev := resp.GetEvent()
		if ev == nil {
			continue
		}
		data := ev.GetCurrent().GetData()
		if len(data) >= watchStampSize && binary.BigEndian.Uint64(data[8:16]) == runID {
			now := time.Since(base)
			w.lat = append(w.lat, now-time.Duration(binary.BigEndian.Uint64(data[0:8])))
			w.last = now
		}
		storeMax(&w.lastRev, ev.GetRevision())
	}
}

// awaitWatchers returns once every watcher has seen revision rev or ended,
// or none has advanced for watchIdleTimeout, or ctx ends.
func (b *bench) awaitWatchers(ctx context.Context, watchers []*benchWatcher, rev uint64) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	var progress uint64
	idleSince := time.Now()
	for {
		var sum uint64
		caughtUp := true
		for _, w := range watchers {
			s := w.lastRev.Load()
			sum += s
			caughtUp = caughtUp && (s >= rev || w.ended.Load())
		}
		if caughtUp {
			return
		}
		if sum != progress {
			progress, idleSince = sum, time.Now()
		}
		if time.Since(idleSince) > watchIdleTimeout {
			return
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}
