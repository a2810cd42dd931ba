package grpcapi

import (
	"context"
	"sync"

	"google.golang.org/grpc/peer"

	"github.com/metasrv/metasrv/api/metapb"
)

// Bounds of progress_interval_ms (0 = the server default).
const (
	minProgressIntervalMs = 10
	maxProgressIntervalMs = 3_600_000
)

// Watch validates a watch request and serves its stream until the client
// cancels it or the server cuts it off (see server.Server.Watch). It has no
// default deadline: a watch lasts as long as the client wants.
func (m *Meta) Watch(req *metapb.WatchRequest, stream metapb.Meta_WatchServer) error {
	if err := m.checkWatch(req); err != nil {
		return toStatus(err)
	}
	release, err := m.watches.acquire(stream.Context(), m.limits.MaxWatchesPerConn)
	if err != nil {
		return toStatus(err)
	}
	defer release()
	return toStatus(m.kv.Watch(stream.Context(), req, stream.Send))
}

// connWatches counts the watch streams of each client connection, known by
// its remote address (host and port: one per TCP connection).
type connWatches struct {
	mu struct {
		sync.Mutex
		n map[string]int
	}
}

// acquire counts one more watch on ctx's connection, or refuses it when the
// connection already has limit of them (0 = no limit).
func (c *connWatches) acquire(ctx context.Context, limit int) (release func(), err error) {
	p, ok := peer.FromContext(ctx)
	if limit <= 0 || !ok || p.Addr == nil {
		return func() {}, nil
	}
	conn := p.Addr.String()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.n == nil {
		c.mu.n = make(map[string]int)
	}
	if c.mu.n[conn] >= limit {
		return nil, tooManyf("connection %s already has %d watch streams, the limit: watch a wider key range with one stream, or open another connection",
			conn, limit)
	}
	c.mu.n[conn]++
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.mu.n[conn]--; c.mu.n[conn] <= 0 {
			delete(c.mu.n, conn)
		}
	}, nil
}

func (m *Meta) checkWatch(req *metapb.WatchRequest) error {
	if req.GetKey() == "" {
		return invalidf("empty key: give the key to watch, or the start of the range with key_end")
	}
	if err := m.checkKey(req.GetKey()); err != nil {
		return err
	}
	// key_end "\x00" is every key >= key, as etcd's range_end: the only
	// way to watch the keys after a key that ends in 0xff bytes.
	if end := req.GetKeyEnd(); end != "" && end != "\x00" {
		if len(end) > m.limits.MaxKeyBytes {
			return invalidf("key_end of %d bytes is longer than the limit of %d bytes: use a shorter key_end", len(end), m.limits.MaxKeyBytes)
		}
		if end <= req.GetKey() {
			return invalidf("key_end %q is not after key %q, so the range [key, key_end) is empty: give a larger key_end, \"\\x00\" for every key from key, or leave it empty to watch key alone",
				end, req.GetKey())
		}
	}
	if _, ok := metapb.WatchRequest_Filter_name[int32(req.GetFilter())]; !ok {
		return invalidf("unknown filter %d: use ALL, UPDATE or DELETE", req.GetFilter())
	}
	if req.GetInitialFlush() && req.GetStartRevision() > 0 {
		return invalidf("initial_flush and start_revision %d are both set: use initial_flush for the current values and then the changes, or start_revision to resume after a revision you have seen",
			req.GetStartRevision())
	}
	if ms := req.GetProgressIntervalMs(); ms != 0 && (ms < minProgressIntervalMs || ms > maxProgressIntervalMs) {
		return invalidf("progress_interval_ms %d is out of range: use 0 for the default (1000), or %d..%d",
			ms, minProgressIntervalMs, maxProgressIntervalMs)
	}
	return nil
}
