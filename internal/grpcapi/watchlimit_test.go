package grpcapi

import (
	"context"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

func connCtx(port int) context.Context {
	return peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}})
}

func TestWatchesPerConnection(t *testing.T) {
	var c connWatches
	a, b := connCtx(1001), connCtx(1002)
	r1, err := c.acquire(a, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.acquire(a, 2); err != nil {
		t.Fatal(err)
	}
	_, err = c.acquire(a, 2)
	if status.Code(toStatus(err)) != codes.ResourceExhausted || !strings.Contains(err.Error(), "open another connection") {
		t.Fatalf("third watch on one connection: %v, want ResourceExhausted saying what to do", err)
	}
	if _, err := c.acquire(b, 2); err != nil {
		t.Fatalf("another connection is limited by the first: %v", err)
	}
	r1()
	if _, err := c.acquire(a, 2); err != nil {
		t.Fatalf("after a watch ended: %v", err)
	}
	if _, err := c.acquire(context.Background(), 2); err != nil {
		t.Fatalf("no peer in context: %v", err)
	}
	for i := 0; i < 5; i++ {
		if _, err := c.acquire(b, 0); err != nil {
			t.Fatalf("limit 0 means none: %v", err)
		}
	}
}
