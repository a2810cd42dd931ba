package client

import (
	"strings"
	"testing"
	"time"

	"github.com/metasrv/metasrv/client/clienttest"
)

// TestWatchEventOverMaxMessageSize: an event larger than the client's
// MaxMessageSize ends the watch with an error saying to raise it, instead
// of resuming at that event for ever; the events before it are delivered.
func TestWatchEventOverMaxMessageSize(t *testing.T) {
	cl := clienttest.Start(t, 1)
	c, err := New(Config{Endpoints: cl.Addrs(), MaxMessageSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	c.timing = retryTiming{initialBackoff: 10 * time.Millisecond, maxBackoff: 50 * time.Millisecond, maxRounds: 3, watchIdleMin: 10 * time.Second}
	t.Cleanup(func() { _ = c.Close() })
	ctx := ctxTimeout(t, 10*time.Second)

	w := startWatch(t, c, ctx, WatchOptions{Prefix: "p/"})
	cl.Store.Put("p/small", []byte("1"))
	cl.Store.Put("p/big", make([]byte, 100<<10))
	if ev, err := w.Next(); err != nil || ev.Key != "p/small" {
		t.Fatalf("first event: %+v, %v", ev, err)
	}
	_, err = w.Next()
	if err == nil || !strings.Contains(err.Error(), "MaxMessageSize") {
		t.Fatalf("the large event: %v, want an error saying to raise MaxMessageSize", err)
	}
	if n := w.Resumes(); n > 1 {
		t.Errorf("%d resumes: the watch should have stopped at once", n)
	}
}
