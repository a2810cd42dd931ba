package proctest

import (
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Ports hands out loopback ports for test servers: each one free when
// handed out, never the same one twice from one Ports, nor from two Ports
// of test processes that run at once (go test runs packages in parallel):
// a port handed out is reserved by a lock on a file of
// $TMPDIR/metasrv-test-ports until the process ends.
//
// The ports lie below the kernel's ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range), not from listening on :0: a
// port from :0 is an ephemeral one, which any outgoing connection made
// meanwhile (a client dialing a node, a node dialing a peer) can take as
// its source port before the server binds it, or before a killed node is
// restarted on it, and the server then fails with "address already in
// use".
type Ports struct {
	mu    sync.Mutex
	given map[int]bool
	locks []*os.File // the reservations, held until the process ends
	// lo and hi bound the ports handed out, [lo, hi); zero: from
	// portFloor to the start of the ephemeral range.
	lo, hi int
}

// Free returns a loopback port nobody listened on a moment ago.
func (p *Ports) Free() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.given == nil {
		p.given = map[int]bool{}
	}
	lo, hi := p.lo, p.hi
	if hi == 0 {
		lo, hi = portFloor, ephemeralLow()
	}
	for range 1000 {
		port := lo + rand.IntN(hi-lo)
		if p.given[port] {
			continue
		}
		lock, err := reservePort(port)
		if err != nil {
			return 0, err
		}
		if lock == nil {
			p.given[port] = true // another test process has it
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			lock.Close()
			continue // in use
		}
		if err := ln.Close(); err != nil {
			lock.Close()
			return 0, err
		}
		p.given[port] = true
		p.locks = append(p.locks, lock)
		return port, nil
	}
	return 0, errors.New("no free loopback port below the ephemeral range")
}

// reservePort takes an exclusive lock on the reservation file of port and
// returns it open, or nil when another process holds it. The lock goes
// with the process: a test run that is killed leaves no reservation.
func reservePort(port int) (*os.File, error) {
	dir := filepath.Join(os.TempDir(), "metasrv-test-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil
		}
		return nil, err
	}
	return f, nil
}

// portFloor is the lowest port handed out: above the well-known and most
// registered services' ports.
const portFloor = 10000

// ephemeralLow is the first port of the kernel's ephemeral range (32768
// when it cannot be read, Linux's default).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n <= portFloor+1000 {
		return 32768
	}
	return n
}
