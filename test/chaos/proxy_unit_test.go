package chaos

import (
	"io"
	"net"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestProxyRules checks the proxy on an echo server, with this process as
// the source node 7: pass, delay, stall (late delivery), cut.
func TestProxyRules(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	port := echo.Addr().(*net.TCPAddr).Port
	const self, to = 7, 9
	nw := newNetwork(t.Logf, func() []int { return []int{os.Getpid()} }, func(int) uint64 { return self })
	defer nw.close()
	if _, err := nw.addProxy(to, port); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort(proxyHost(to), strconv.Itoa(port))
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// roundTrip sends one byte and returns how long the echo took, or
	// -1 if nothing came back within limit.
	roundTrip := func(c net.Conn, limit time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		if _, err := c.Write([]byte{'x'}); err != nil {
			return -1
		}
		_ = c.SetReadDeadline(time.Now().Add(limit))
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err != nil {
			return -1
		}
		return time.Since(start)
	}

	c := dial()
	defer c.Close()
	if d := roundTrip(c, time.Second); d < 0 {
		t.Fatal("pass: no echo")
	}
	if n := nw.unattributed.Load(); n != 0 {
		t.Fatalf("%d connections not attributed to this process", n)
	}

	nw.set(rule{delay: 100 * time.Millisecond}, link{self, to})
	if d := roundTrip(c, 2*time.Second); d < 200*time.Millisecond {
		t.Fatalf("delay 100ms each way: echo after %v", d)
	}

	nw.set(rule{mode: stall}, link{self, to})
	if d := roundTrip(c, 300*time.Millisecond); d >= 0 {
		t.Fatalf("stall: echo after %v", d)
	}
	nw.heal()
	b := make([]byte, 1)
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("stalled byte not delivered after heal: %v", err)
	}

	// Another source is not affected by this link's rules.
	nw.set(rule{mode: cut}, link{self + 1, to})
	if d := roundTrip(c, time.Second); d < 0 {
		t.Fatal("a cut of another link broke this one")
	}

	nw.set(rule{mode: cut}, link{self, to})
	if d := roundTrip(c, time.Second); d >= 0 {
		t.Fatal("cut: the open connection still echoes")
	}
	c2 := dial()
	defer c2.Close()
	if d := roundTrip(c2, time.Second); d >= 0 {
		t.Fatal("cut: a new connection echoes")
	}
	nw.heal()
	c3 := dial()
	defer c3.Close()
	if d := roundTrip(c3, time.Second); d < 0 {
		t.Fatal("healed: no echo")
	}
}
