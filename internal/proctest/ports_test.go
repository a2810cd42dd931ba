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

// Two Ports, as in two test processes that run at once, never hand out
// the same port: the first's reservations hold until its process ends.
func TestPortsReservedAcrossInstances(t *testing.T) {
	const lo = portFloor + 5000
	a := Ports{lo: lo, hi: lo + 40}
	b := Ports{lo: lo, hi: lo + 40}
	got := map[int]string{}
	for range 15 {
		for name, p := range map[string]*Ports{"a": &a, "b": &b} {
			port, err := p.Free()
			if err != nil {
				t.Fatal(err)
			}
			if other, ok := got[port]; ok {
				t.Fatalf("port %d handed out by %s and by %s", port, other, name)
			}
			got[port] = name
		}
	}
}
