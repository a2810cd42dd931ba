package proctest

import (
	"net"
	"strconv"
	"testing"
)

func TestPortsFree(t *testing.T) {
	var p Ports
	low := ephemeralLow()
	seen := map[int]bool{}
	for range 200 {
		port, err := p.Free()
		if err != nil {
			t.Fatal(err)
		}
		if port < portFloor || port >= low {
			t.Fatalf("port %d outside [%d, %d)", port, portFloor, low)
		}
		if seen[port] {
			t.Fatalf("port %d handed out twice", port)
		}
		seen[port] = true
	}
	// A port someone listens on is never handed out.
	var held []net.Listener
	defer func() {
		for _, ln := range held {
			ln.Close()
		}
	}()
	q := Ports{lo: portFloor, hi: portFloor + 100}
	for port := q.lo; port < q.hi && len(held) < 50; port++ {
		if ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			held = append(held, ln)
		}
	}
	busy := map[int]bool{}
	for _, ln := range held {
		busy[ln.Addr().(*net.TCPAddr).Port] = true
	}
	for range 20 {
		port, err := q.Free()
		if err != nil {
			t.Fatal(err)
		}
		if busy[port] || port < q.lo || port >= q.hi {
			t.Fatalf("port %d is listened on or out of range but was handed out", port)
		}
	}
}
