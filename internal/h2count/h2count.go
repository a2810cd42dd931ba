// Package h2count counts the HTTP/2 PING frames that open a round trip
// (not their acks) on the connections a gRPC client makes, in each
// direction: for tests of what gRPC puts on the wire, such as the pings of
// its flow-control window estimate. A Dialer counts on the connections it
// dials; a Proxy, for a client that cannot be given a dialer, on the
// connections it relays to a server.
//
//	var d h2count.Dialer
//	conn, err := grpc.NewClient(addr, grpc.WithContextDialer(d.Dial), ...)
//	// ... calls ...
//	sent, received := d.Pings()
package h2count

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// preface is the client connection preface, sent before the first frame.
const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// HTTP/2 frame type and flag (RFC 9113, 6.7).
const (
	framePing = 0x6
	flagAck   = 0x1
)

// Dialer dials TCP connections that count pings; the zero value is ready.
// Safe for concurrent use.
type Dialer struct {
	sent, received atomic.Int64
}

// Dial dials addr over TCP; use it with grpc.WithContextDialer.
func (d *Dialer) Dial(ctx context.Context, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, out: frames{skip: len(preface), pings: &d.sent}, in: frames{pings: &d.received}}, nil
}

// Pings returns the pings (not acks) sent to and received from the
// servers over every connection dialed so far.
func (d *Dialer) Pings() (sent, received int64) { return d.sent.Load(), d.received.Load() }

// Proxy relays the connections it accepts on a loopback port to a server
// and counts their pings, as a Dialer does for the connections the
// clients dial.
type Proxy struct {
	Dialer
	l net.Listener
}

// NewProxy listens on a loopback port and relays every connection to
// target until Close.
func NewProxy(target string) (*Proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{l: l}
	go p.serve(target)
	return p, nil
}

// Addr is the address the clients dial.
func (p *Proxy) Addr() string { return p.l.Addr().String() }

// Close stops accepting connections; relayed ones end with their client's.
func (p *Proxy) Close() error { return p.l.Close() }

func (p *Proxy) serve(target string) {
	for {
		client, err := p.l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer client.Close()
			server, err := p.Dial(context.Background(), target)
			if err != nil {
				return
			}
			defer server.Close()
			go func() {
				_, _ = io.Copy(server, client)
				server.Close()
			}()
			_, _ = io.Copy(client, server)
		}()
	}
}

type conn struct {
	net.Conn
	out, in frames
}

func (c *conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out.scan(p[:n])
	return n, err
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in.scan(p[:n])
	return n, err
}

// frames follows one direction of a connection frame by frame.
type frames struct {
	mu    sync.Mutex
	skip  int    // bytes of the preface or of a frame's payload still to pass
	hdr   []byte // the part of the next frame header seen so far
	pings *atomic.Int64
}

func (f *frames) scan(p []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(p) > 0 {
		if f.skip > 0 {
			n := min(f.skip, len(p))
			f.skip, p = f.skip-n, p[n:]
			continue
		}
		n := min(9-len(f.hdr), len(p))
		f.hdr, p = append(f.hdr, p[:n]...), p[n:]
		if len(f.hdr) < 9 {
			return
		}
		if f.hdr[3] == framePing && f.hdr[4]&flagAck == 0 {
			f.pings.Add(1)
		}
		f.skip = int(f.hdr[0])<<16 | int(f.hdr[1])<<8 | int(f.hdr[2])
		f.hdr = f.hdr[:0]
	}
}
