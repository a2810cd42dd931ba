package chaos

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The network between the nodes: one proxy per node in front of its raft
// port, and per-link rules. See doc.go for why this identifies the sender
// of every connection.

// link is the direction of the raft connections that from dials to to:
// from's raft messages to to, and the replies on those connections.
type link struct{ from, to uint64 }

func (l link) String() string { return fmt.Sprintf("%d->%d", l.from, l.to) }

// mode is what a link does with its connections.
type mode int

const (
	// pass forwards bytes, after the rule's delay.
	pass mode = iota
	// cut resets the link's connections and refuses new ones at once.
	cut
	// stall forwards nothing and closes nothing: bytes wait in the proxy
	// (and, once its small buffer is full, in the kernel) until the rule
	// changes; then they are delivered, late. New connections are accepted
	// and stall too.
	stall
)

func (m mode) String() string {
	switch m {
	case cut:
		return "cut"
	case stall:
		return "stall"
	default:
		return "pass"
	}
}

// rule is the state of one link. The zero rule passes without delay.
type rule struct {
	mode  mode
	delay time.Duration // pass only: each chunk is held this long
}

// external is the source of a connection the proxy could not attribute to
// a node: a `databend-meta --leave-id` process, or a node that closed the
// socket before the proxy looked. Its links are never faulted.
const external = 0

// network holds the proxies and the rules. Rules are changed by the
// nemesis goroutine and read by every pump; changed is closed (and
// replaced) on each change so that stalled pumps wake up.
type network struct {
	logf func(format string, args ...any)
	// owner returns the node id of the process with pid, 0 if none.
	owner func(pid int) uint64
	// pids returns the pids of the running node processes.
	pids func() []int

	unattributed atomic.Int64 // connections from a source the proxy could not find

	mu struct {
		sync.Mutex
		rules   map[link]rule
		changed chan struct{}
		conns   map[*pconn]struct{}
		proxies map[uint64]*proxy
	}
}

func newNetwork(logf func(string, ...any), pids func() []int, owner func(int) uint64) *network {
	nw := &network{logf: logf, pids: pids, owner: owner}
	nw.mu.rules = map[link]rule{}
	nw.mu.changed = make(chan struct{})
	nw.mu.conns = map[*pconn]struct{}{}
	nw.mu.proxies = map[uint64]*proxy{}
	return nw
}

// proxyHost is the loopback address a node's proxy listens on and the node
// advertises as its raft_advertise_host. Every 127/8 address is local on
// Linux, so no setup is needed.
func proxyHost(id uint64) string {
	return fmt.Sprintf("127.100.%d.%d", id/250, id%250+1)
}

// proxy forwards connections to one node's raft port.
type proxy struct {
	nw     *network
	id     uint64
	ln     net.Listener
	target string // the node's real raft address
	wg     sync.WaitGroup
}

// addProxy starts the proxy of node id: it listens on proxyHost(id):port
// and forwards to 127.0.0.1:port, where the node listens.
func (nw *network) addProxy(id uint64, port int) (*proxy, error) {
	addr := net.JoinHostPort(proxyHost(id), strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("proxy of node %d: %w", id, err)
	}
	p := &proxy{nw: nw, id: id, ln: ln, target: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	nw.mu.Lock()
	nw.mu.proxies[id] = p
	nw.mu.Unlock()
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// close stops every proxy and closes every connection.
func (nw *network) close() {
	nw.mu.Lock()
	proxies := nw.mu.proxies
	nw.mu.proxies = map[uint64]*proxy{}
	var conns []*pconn
	for c := range nw.mu.conns {
		conns = append(conns, c)
	}
	nw.mu.Unlock()
	for _, p := range proxies {
		p.ln.Close()
	}
	for _, c := range conns {
		c.close()
	}
	for _, p := range proxies {
		p.wg.Wait()
	}
}

// set sets the rule of each link and wakes every pump; a cut closes the
// link's open connections.
func (nw *network) set(r rule, links ...link) {
	nw.mu.Lock()
	var doomed []*pconn
	for _, l := range links {
		if r == (rule{}) {
			delete(nw.mu.rules, l)
		} else {
			nw.mu.rules[l] = r
		}
		if r.mode == cut {
			for c := range nw.mu.conns {
				if c.link == l {
					doomed = append(doomed, c)
				}
			}
		}
	}
	close(nw.mu.changed)
	nw.mu.changed = make(chan struct{})
	nw.mu.Unlock()
	for _, c := range doomed {
		c.close()
	}
}

// heal removes every rule.
func (nw *network) heal() {
	nw.mu.Lock()
	nw.mu.rules = map[link]rule{}
	close(nw.mu.changed)
	nw.mu.changed = make(chan struct{})
	nw.mu.Unlock()
}

// reset closes every open connection to or from node id (a connection
// reset, as by a flaky switch); the nodes reconnect.
func (nw *network) reset(id uint64) int {
	nw.mu.Lock()
	var doomed []*pconn
	for c := range nw.mu.conns {
		if c.link.from == id || c.link.to == id {
			doomed = append(doomed, c)
		}
	}
	nw.mu.Unlock()
	for _, c := range doomed {
		c.close()
	}
	return len(doomed)
}

// rule returns the rule of l and a channel closed at the next change.
func (nw *network) rule(l link) (rule, <-chan struct{}) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if l.from == external {
		return rule{}, nw.mu.changed
	}
	return nw.mu.rules[l], nw.mu.changed
}

func (p *proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.handle(c)
		}()
	}
}

// handle attributes c to its source node and forwards it to the node.
func (p *proxy) handle(c net.Conn) {
	src := p.nw.source(c)
	l := link{from: src, to: p.id}
	if r, _ := p.nw.rule(l); r.mode == cut {
		c.Close()
		return
	}
	u, err := net.DialTimeout("tcp", p.target, time.Second)
	if err != nil {
		c.Close() // the node is down: the dialer sees a reset, as without a proxy
		return
	}
	pc := &pconn{nw: p.nw, link: l, down: c, up: u, done: make(chan struct{}), opened: time.Now()}
	p.nw.mu.Lock()
	p.nw.mu.conns[pc] = struct{}{}
	p.nw.mu.Unlock()
	// A cut set between the check above and the registration.
	if r, _ := p.nw.rule(l); r.mode == cut {
		pc.close()
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pc.pump(u, c, &pc.sentUp) }()
	go func() { defer wg.Done(); pc.pump(c, u, &pc.sentDown) }()
	wg.Wait()
}

// pconn is one proxied connection: down is the dialing node's side, up
// the receiving node's.
type pconn struct {
	nw       *network
	link     link
	down, up net.Conn
	once     sync.Once
	done     chan struct{}
	opened   time.Time
	// Bytes written each way, and the time of the last write (UnixNano).
	sentUp, sentDown atomic.Int64
	lastWrite        atomic.Int64
}

func (pc *pconn) String() string {
	last := "never"
	if l := pc.lastWrite.Load(); l != 0 {
		last = time.Since(time.Unix(0, l)).Round(time.Millisecond).String() + " ago"
	}
	return fmt.Sprintf("%v %v->%v opened %v ago: %d bytes to the receiver, %d back; last forwarded %s",
		pc.link, pc.down.RemoteAddr(), pc.up.RemoteAddr(), time.Since(pc.opened).Round(time.Millisecond), pc.sentUp.Load(), pc.sentDown.Load(), last)
}

// describe lists the open connections and the rules, for a failure report.
func (nw *network) describe() string {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	var lines []string
	for l, r := range nw.mu.rules {
		lines = append(lines, fmt.Sprintf("rule %v: %v delay %v", l, r.mode, r.delay))
	}
	for c := range nw.mu.conns {
		lines = append(lines, "conn "+c.String())
	}
	slices.Sort(lines)
	lines = append(lines, fmt.Sprintf("%d connections could not be attributed", nw.unattributed.Load()))
	return strings.Join(lines, "\n")
}

func (pc *pconn) close() {
	pc.once.Do(func() {
		close(pc.done)
		pc.down.Close()
		pc.up.Close()
		pc.nw.mu.Lock()
		delete(pc.nw.mu.conns, pc)
		pc.nw.mu.Unlock()
	})
}

// chunk is bytes read at a time.
type chunk struct {
	b  []byte
	at time.Time
}

// pump copies from src to dst, one direction of the connection, applying
// the link's rule to each chunk when it is due to be written: a reader
// goroutine queues what it reads (a small queue, so that a stalled link
// pushes back on the sender like a full TCP window) and this goroutine
// writes each chunk once its delay has passed and the link does not stall.
func (pc *pconn) pump(dst, src net.Conn, sent *atomic.Int64) {
	defer pc.close()
	q := make(chan chunk, 16)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				select {
				case q <- chunk{b: buf[:n], at: time.Now()}:
				case <-pc.done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	for ch := range q {
		for {
			r, changed := pc.nw.rule(pc.link)
			if r.mode == cut {
				return
			}
			if r.mode == stall {
				select {
				case <-changed:
					continue
				case <-pc.done:
					return
				}
			}
			if wait := time.Until(ch.at.Add(r.delay)); wait > 0 {
				select {
				case <-time.After(wait):
					continue // the rule may have changed meanwhile
				case <-changed:
					continue
				case <-pc.done:
					return
				}
			}
			break
		}
		if _, err := dst.Write(ch.b); err != nil {
			return
		}
		sent.Add(int64(len(ch.b)))
		pc.lastWrite.Store(time.Now().UnixNano())
	}
	// src ended: pass the half-close on, so that a graceful close works.
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	<-pc.done
}

// source returns the id of the node whose process owns the other end of
// c, or external. On Linux an accepted loopback connection's peer is a
// socket of this host: /proc/net/tcp maps its address to an inode, and
// /proc/PID/fd of the node processes to the process holding it.
func (nw *network) source(c net.Conn) uint64 {
	ra, ok1 := c.RemoteAddr().(*net.TCPAddr)
	la, ok2 := c.LocalAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return external
	}
	for attempt := range 3 {
		if attempt > 0 {
			time.Sleep(5 * time.Millisecond)
		}
		inode, err := socketInode(ra, la)
		if err != nil {
			continue
		}
		for _, pid := range nw.pids() {
			if ownsSocket(pid, inode) {
				return nw.owner(pid)
			}
		}
	}
	nw.unattributed.Add(1)
	nw.logf("proxy: could not attribute connection from %v to %v; treated as external", ra, la)
	return external
}

// procAddr is how /proc/net/tcp prints an IPv4 address and port on a
// little-endian host: 127.0.0.1:8080 is "0100007F:1F90".
func procAddr(a *net.TCPAddr) string {
	ip := a.IP.To4()
	if ip == nil {
		return ""
	}
	return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], a.Port)
}

// socketInode returns the inode of the socket whose local address is
// local and remote address remote.
func socketInode(local, remote *net.TCPAddr) (string, error) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return "", err
	}
	defer f.Close()
	want1, want2 := procAddr(local), procAddr(remote)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		if len(fs) < 10 || fs[1] != want1 || fs[2] != want2 || fs[9] == "0" {
			continue
		}
		return fs[9], nil
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", errors.New("socket not found")
}

// ownsSocket reports whether process pid has a descriptor on the socket.
func ownsSocket(pid int, inode string) bool {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	want := "socket:[" + inode + "]"
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && l == want {
			return true
		}
	}
	return false
}
