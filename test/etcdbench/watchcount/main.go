// Command watchcount watches the key that etcd's benchmark tool's watch
// workload writes (its default: 32 bytes, varint 0 then zeros) with
// -watchers watchers on one stream, next to the tool, and prints how the
// server batched the events: responses, events, events a response, and
// how far the watchers were behind the writes (a response's last event
// against the revision in its header). scripts/etcd-benchmark.sh runs it
// with WATCH_COUNT=1.
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func main() {
	endpoints := flag.String("endpoints", "127.0.0.1:2379", "comma-separated gRPC endpoints")
	watchers := flag.Int("watchers", 50, "watchers on the stream")
	events := flag.Int("events", 1000, "events each watcher waits for (the tool's --put-total)")
	timeout := flag.Duration("timeout", 2*time.Minute, "give up after")
	flag.Parse()
	if err := run(strings.Split(*endpoints, ","), *watchers, *events, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "watchcount:", err)
		os.Exit(1)
	}
}

// count is what the watchers received.
type count struct {
	responses, events int
	behind            int64 // the sum over responses of header revision - last event's
	first, last       time.Time
}

func run(endpoints []string, watchers, events int, timeout time.Duration) error {
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer c.Close()
	key := make([]byte, 32) // the tool's key: --key-size 32, varint 0
	binary.PutVarint(key, 0)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	w := clientv3.NewWatcher(c)
	defer w.Close()

	var mu sync.Mutex
	var total count
	var wg sync.WaitGroup
	for range watchers {
		wch := w.Watch(ctx, string(key))
		wg.Go(func() {
			got := 0
			for r := range wch {
				if len(r.Events) == 0 {
					continue
				}
				got += len(r.Events)
				now := time.Now()
				mu.Lock()
				total.responses++
				total.events += len(r.Events)
				total.behind += r.Header.Revision - r.Events[len(r.Events)-1].Kv.ModRevision
				if total.first.IsZero() {
					total.first = now
				}
				total.last = now
				mu.Unlock()
				if got >= events {
					return
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%d of %d events after %v: %w", total.events, watchers*events, timeout, err)
	}
	fmt.Printf("%d watchers: %d events in %d responses, %.2f events a response, %.2f revisions behind the header a response, events over %v\n",
		watchers, total.events, total.responses, float64(total.events)/float64(total.responses),
		float64(total.behind)/float64(total.responses), total.last.Sub(total.first).Round(time.Millisecond))
	return nil
}
