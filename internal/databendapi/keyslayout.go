package databendapi

import (
	"math"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/api/databendpb"
	"github.com/metasrv/metasrv/api/metapb"
)

// allKeysEnd is the end of a Range over every key ("" to the end).
const allKeysEnd = "\x00"

// SnapshotKeysLayout counts the keys under each '/'-separated directory
// prefix, as databend-meta's count_prefix does (prefixCounter), and
// streams one KeysCount per directory, inner ones first, then the total
// with the prefix "". depth N lists only the directories with fewer than
// N '/' (unset: all).
//
// The keys are those of the state after a read barrier (bounded by the
// default timeout when the client sets no deadline), as in an export:
// every key the state machine holds, an expired one not yet removed
// included, but those that are not UTF-8 (databendKey). databend-meta
// counts those of its last persisted snapshot, and sends nothing when it
// has none; metasrv has no separate snapshot to count, and always sends
// at least the total.
func (s *Service) SnapshotKeysLayout(req *databendpb.KeysLayoutRequest, stream grpc.ServerStreamingServer[databendpb.KeysCount]) error {
	ex, ok := s.srv.(Exporter)
	if !ok {
		return status.Error(codes.Unimplemented, "SnapshotKeysLayout is not available on this server")
	}
	ctx, cancel := s.withDeadline(stream.Context())
	sm, _, _, err := ex.ExportSource(ctx)
	cancel()
	if err != nil {
		return toStatus(err)
	}
	depth := math.MaxInt
	if req.Depth != nil {
		depth = int(req.GetDepth())
	}
	c := prefixCounter{maxDepth: depth, emit: func(prefix string, count uint64) error {
		return stream.Send(&databendpb.KeysCount{Prefix: prefix, Count: count})
	}}
	var sendErr error
	sm.View().Range("", allKeysEnd, 0, func(kv *metapb.KV) bool {
		if !databendKey(kv.GetKey()) {
			return true
		}
		sendErr = c.add(kv.GetKey())
		return sendErr == nil
	})
	if sendErr != nil {
		return sendErr // the stream broke; its status says why
	}
	return c.finish()
}

// prefixCounter groups keys, given in key order, by their directories:
// a key's directories are the prefixes ending before each of its '/'
// ("a/b/k": "a" and "a/b"). Each directory is counted with every key
// under it and emitted once its last key has passed, so that a directory
// comes after those inside it; finish emits the total last, with the
// prefix "". Only the directories with fewer than maxDepth '/' are
// emitted. This is databend-meta's count_prefix.
type prefixCounter struct {
	maxDepth int
	emit     func(prefix string, count uint64) error

	total uint64
	last  string    // the last key added
	open  []openDir // the directories of last, outermost first
}

type openDir struct {
	end   int // the directory is last[:end]
	count uint64
}

// add counts one key, which sorts after the previous one.
func (c *prefixCounter) add(key string) error {
	c.total++
	var ends []int
	for i := range len(key) {
		if key[i] == '/' {
			ends = append(ends, i)
		}
	}
	common := min(len(c.open), len(ends))
	for common > 0 && c.last[:c.open[common-1].end] != key[:ends[common-1]] {
		common--
	}
	if err := c.closeTo(common); err != nil {
		return err
	}
	for _, e := range ends[len(c.open):] {
		c.open = append(c.open, openDir{end: e})
	}
	for i := range c.open {
		c.open[i].count++
	}
	c.last = key
	return nil
}

// closeTo emits the directories of the last key deeper than n.
func (c *prefixCounter) closeTo(n int) error {
	for len(c.open) > n {
		d := c.open[len(c.open)-1]
		c.open = c.open[:len(c.open)-1]
		if len(c.open) < c.maxDepth {
			if err := c.emit(c.last[:d.end], d.count); err != nil {
				return err
			}
		}
	}
	return nil
}

// finish emits the directories still open, then the total.
func (c *prefixCounter) finish() error {
	if err := c.closeTo(0); err != nil {
		return err
	}
	return c.emit("", c.total)
}
