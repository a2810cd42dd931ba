package client

import (
	"fmt"
	"testing"
	"time"

	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/h2count"
)

// TestClientSendsNoWindowPings makes 50 Upserts in a row through a proxy
// that counts pings. gRPC's default flow control would have the client
// ping the server for nearly every reply, to estimate its window (and the
// server ping the client for nearly every request); the client's windows
// are static, as the server's are, so neither pings.
func TestClientSendsNoWindowPings(t *testing.T) {
	cl := clustertest.New(t, 1, clustertest.Options{ManualTicks: true})
	p, err := h2count.NewProxy(cl.ServePublic(cl.Node(1), clustertest.ServeOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := New(Config{Endpoints: []string{p.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := ctxTimeout(t, 20*time.Second)
	for i := range 50 {
		if _, err := c.Upsert(ctx, Upsert{Key: fmt.Sprintf("pings/%d", i), Value: make([]byte, 256)}); err != nil {
			t.Fatal(err)
		}
	}
	if sent, received := p.Pings(); sent != 0 || received != 0 {
		t.Errorf("pings over 50 Upserts: %d sent by the client, %d by the server; want none", sent, received)
	}
}
