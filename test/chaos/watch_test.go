package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/client"
	"github.com/metasrv/metasrv/internal/statemachine"
)

// watchIdle is how long a raw watch stream may stay silent (the server
// sends a progress marker every watchProgress) before the watcher gives it
// up and resumes on another node: the node is paused or cut off.
const (
	watchProgress = 200 * time.Millisecond
	watchIdle     = 3 * time.Second
)

// rawWatcher watches every key of the run through the gRPC API directly,
// resuming with start_revision = last revision + 1 on a random node
// whenever a stream ends or goes silent. Every entry of the run that
// changes something changes exactly one key (the workload's ops each write
// one key, without expiry), so it checks as it goes that each event has
// the next revision (no gap, no repeat) and that no progress marker claims
// a revision it has not delivered.
type rawWatcher struct {
	c   *cluster
	log *runLog
	rng *rand.Rand

	mu struct {
		sync.Mutex
		events     []wevent
		next       uint64 // the revision of the next event
		problems   problems
		resumes    int
		compacted  int
		lastReason string
	}
}

func newRawWatcher(c *cluster, log *runLog, seed uint64) *rawWatcher {
	w := &rawWatcher{c: c, log: log, rng: rand.New(rand.NewPCG(seed, 0x3a7c))}
	w.mu.next = statemachine.FirstRevision + 1
	w.mu.problems.kind = "raw watch stream"
	return w
}

// run resumes streams until stop is closed.
func (w *rawWatcher) run(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		var cands []*node
		for _, n := range w.c.members() {
			if n.running() {
				cands = append(cands, n)
			}
		}
		if len(cands) == 0 {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		nd := cands[w.rng.IntN(len(cands))]
		err := w.stream(nd, stop)
		w.mu.Lock()
		w.mu.resumes++
		w.mu.lastReason = fmt.Sprintf("%v: %v", nd, err)
		if isCode(err, codes.OutOfRange) {
			w.mu.compacted++
			w.log.logf("watch: %v: start_revision %d compacted: %v", nd, w.mu.next, err)
		}
		w.mu.Unlock()
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(20+w.rng.IntN(100)) * time.Millisecond):
		}
	}
}

// stream runs one stream on nd until it fails, goes silent or stop.
func (w *rawWatcher) stream(nd *node, stop <-chan struct{}) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	idle := time.AfterFunc(watchIdle, cancel)
	defer idle.Stop()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	w.mu.Lock()
	start := w.mu.next
	w.mu.Unlock()
	st, err := nd.meta().Watch(ctx, &metapb.WatchRequest{
		Key: keyPrefix, KeyEnd: keyPrefixEnd, StartRevision: start,
		ProgressIntervalMs: uint64(watchProgress / time.Millisecond),
	})
	if err != nil {
		return err
	}
	for {
		r, err := st.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("stream ended")
			}
			if ctx.Err() != nil {
				return fmt.Errorf("silent for %v or stopped: %w", watchIdle, err)
			}
			return err
		}
		idle.Reset(watchIdle)
		w.handle(nd, r)
	}
}

func (w *rawWatcher) handle(nd *node, r *metapb.WatchResponse) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ev := r.GetEvent(); ev != nil {
		e := wevent{rev: ev.GetRevision(), seq: ev.GetSeq(), key: ev.GetKey(), prev: valOf(ev.GetPrev()), cur: valOf(ev.GetCurrent()), node: nd.id}
		switch {
		case e.rev < w.mu.next:
			w.mu.problems.addf("repeat or out of order: got %v, after revision %d", e, w.mu.next-1)
			return
		case e.rev > w.mu.next:
			w.mu.problems.addf("gap: got %v, want revision %d next", e, w.mu.next)
		}
		w.mu.events = append(w.mu.events, e)
		w.mu.next = e.rev + 1
		return
	}
	if p := r.GetProgressRevision(); p >= w.mu.next {
		w.mu.problems.addf("gap: node %d's progress marker says every change up to revision %d was sent; revision %d was not", nd.id, p, w.mu.next)
		w.mu.next = p + 1
	}
}

// delivered returns the revision of the last event delivered.
func (w *rawWatcher) delivered() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mu.next - 1
}

func (w *rawWatcher) result() ([]wevent, error, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]wevent(nil), w.mu.events...), w.mu.problems.err(),
		fmt.Sprintf("%d events, %d streams replaced (%d compacted), last: %s",
			len(w.mu.events), w.mu.resumes, w.mu.compacted, w.mu.lastReason)
}

// clientWatcher watches every key of the run with client.Watch, the Go
// client's self-resuming watch, from the first revision, on the endpoints
// of the first members.
type clientWatcher struct {
	cli *client.Client
	w   *client.Watcher

	mu struct {
		sync.Mutex
		events []wevent
		err    error
	}
	done chan struct{}
}

func startClientWatcher(c *cluster) (*clientWatcher, error) {
	var eps []string
	for _, n := range c.members() {
		eps = append(eps, n.grpcAddr())
	}
	cli, err := client.New(client.Config{Endpoints: eps})
	if err != nil {
		return nil, err
	}
	w, err := cli.Watch(context.Background(), client.WatchOptions{
		Key: keyPrefix, KeyEnd: keyPrefixEnd, StartRevision: statemachine.FirstRevision, ProgressInterval: watchProgress,
	})
	if err != nil {
		cli.Close()
		return nil, err
	}
	cw := &clientWatcher{cli: cli, w: w, done: make(chan struct{})}
	go func() {
		defer close(cw.done)
		for {
			ev, err := w.Next()
			cw.mu.Lock()
			if err != nil {
				cw.mu.err = err
				cw.mu.Unlock()
				return
			}
			cw.mu.events = append(cw.mu.events, wevent{rev: ev.Revision, seq: ev.Seq, key: ev.Key, prev: kvVal(ev.Prev), cur: kvVal(ev.Current)})
			cw.mu.Unlock()
		}
	}()
	return cw, nil
}

func kvVal(kv client.KV) val {
	if kv.Seq == 0 {
		return val{}
	}
	return val{exists: true, seq: kv.Seq, data: string(kv.Data)}
}

func (cw *clientWatcher) delivered() uint64 {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	if len(cw.mu.events) == 0 {
		return 0
	}
	return cw.mu.events[len(cw.mu.events)-1].rev
}

// stop closes the watch and returns what it delivered and the error that
// ended it early, if any.
func (cw *clientWatcher) stop() ([]wevent, error, string) {
	cw.w.Close()
	<-cw.done
	cw.cli.Close()
	cw.mu.Lock()
	defer cw.mu.Unlock()
	err := cw.mu.err
	if errors.Is(err, client.ErrWatchClosed) || errors.Is(err, context.Canceled) || errors.Is(err, client.ErrClosed) {
		err = nil
	}
	return append([]wevent(nil), cw.mu.events...), err,
		fmt.Sprintf("%d events, %d resumes", len(cw.mu.events), cw.w.Resumes())
}
