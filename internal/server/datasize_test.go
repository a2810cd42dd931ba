package server_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/clustertest"
)

// TestDataSizeKeptAWhile: DataSize is the size of the state encoded as a
// snapshot. After a write it gives the size it computed last for a second
// (a small state takes far less to encode), then computes it again; while
// nothing was applied it gives it however late.
func TestDataSizeKeptAWhile(t *testing.T) {
	clock := clustertest.NewClock(time.Now())
	c := clustertest.New(t, 1, clustertest.Options{ManualTicks: true, Now: clock.Now})
	n := c.Node(c.WaitLeader())
	encoded := func() int64 {
		var b bytes.Buffer
		if _, err := n.Server.StateMachine().Snapshot().WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		return int64(b.Len())
	}
	put := func(key string) {
		if _, err := n.Server.Upsert(c.Ctx(), &metapb.UpsertRequest{Key: key, Value: make([]byte, 1000)}); err != nil {
			t.Fatal(err)
		}
	}

	put("a")
	first := encoded()
	if got := n.Server.DataSize(); got != first {
		t.Fatalf("DataSize %d, want the encoded state's %d", got, first)
	}
	put("b")
	clock.Advance(999 * time.Millisecond)
	if got := n.Server.DataSize(); got != first {
		t.Fatalf("DataSize within a second of the last: %d, want the size kept, %d", got, first)
	}
	clock.Advance(time.Millisecond)
	second := encoded()
	if got := n.Server.DataSize(); got != second || second < first+1000 {
		t.Fatalf("DataSize a second later: %d, want the encoded state's %d (> %d + 1000)", got, second, first)
	}
	clock.Advance(time.Hour)
	if got := n.Server.DataSize(); got != second {
		t.Fatalf("DataSize with nothing applied since: %d, want %d", got, second)
	}
}
