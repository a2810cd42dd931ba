package etcdapi

import (
	"context"
	"fmt"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/grpcapi"
)

// writingServer serves Range over fixed keys, and its store's revision
// moves on after each read, as if a write came between two chunks of a
// stream. It records each Range it served. Only Range, Status and
// RaftTerm are called.
type writingServer struct {
	Server
	keys  []string
	rev   uint64
	reads []rangeRead
}

type rangeRead struct {
	req *metapb.TxnRange
	c   metapb.ReadConsistency
}

func (s *writingServer) Status() *metapb.StatusReply { return &metapb.StatusReply{Id: 1} }
func (s *writingServer) RaftTerm() uint64            { return 1 }

func (s *writingServer) Range(_ context.Context, req *metapb.TxnRange, c metapb.ReadConsistency) (*metapb.TxnRangeResponse, uint64, error) {
	s.reads = append(s.reads, rangeRead{req: copyRange(req), c: c})
	resp := &metapb.TxnRangeResponse{}
	for _, k := range s.keys {
		if k < req.GetKey() || k >= string(req.GetRangeEnd()) {
			continue
		}
		resp.Count++
		switch {
		case req.GetCountOnly():
		case req.GetLimit() > 0 && uint64(len(resp.Kvs)) == req.GetLimit():
			resp.More = true
		default:
			resp.Kvs = append(resp.Kvs, &metapb.KV{Key: k, Value: &metapb.SeqV{Data: []byte("v")}})
		}
	}
	rev := s.rev
	s.rev++
	return resp, rev, nil
}

// copyRange copies req as it was read (rangeStream reuses its request).
func copyRange(req *metapb.TxnRange) *metapb.TxnRange {
	return &metapb.TxnRange{Key: req.Key, RangeEnd: req.RangeEnd, Limit: req.Limit, Revision: req.Revision, CountOnly: req.CountOnly}
}

// TestRangeStreamPinsRevision: the first chunk is read with the
// request's consistency at the store's revision, every later chunk (and
// the count of the keys after a limit) serializable at that revision,
// which the last chunk's header carries (etcd's
// TestV3RangeStreamWriteBetweenChunks); chunk limits start at 10 and
// double while chunks are small (etcd's adjustChunkLimit).
func TestRangeStreamPinsRevision(t *testing.T) {
	var keys []string
	for i := range 100 {
		keys = append(keys, fmt.Sprintf("k%03d", i))
	}
	for _, tt := range []struct {
		name       string
		limit      int64
		wantLimits []uint64
		wantCount  bool
	}{
		{"no limit", 0, []uint64{10, 20, 40, 80}, false},
		{"a limit", 50, []uint64{10, 20, 20}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := &writingServer{keys: keys, rev: 7}
			s := New(srv, Config{Limits: grpcapi.DefaultLimits(4 << 20)})
			var chunks []*pb.RangeResponse
			err := s.rangeStream(context.Background(), &pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), Limit: tt.limit},
				func(r *pb.RangeStreamResponse) error { chunks = append(chunks, r.GetRangeResponse()); return nil })
			if err != nil {
				t.Fatal(err)
			}
			reads := srv.reads
			if tt.wantCount {
				last := reads[len(reads)-1]
				if !last.req.GetCountOnly() || last.req.GetKey() != "k049\x00" || last.req.GetRevision() != 7 || last.c != metapb.ReadConsistency_SERIALIZABLE {
					t.Errorf("count of the rest: %v %v, want count only from k049\\x00 at 7, serializable", last.req, last.c)
				}
				reads = reads[:len(reads)-1]
			}
			var limits []uint64
			for i, r := range reads {
				limits = append(limits, r.req.GetLimit())
				wantRev, wantC := uint64(7), metapb.ReadConsistency_SERIALIZABLE
				if i == 0 {
					wantRev, wantC = 0, metapb.ReadConsistency_LINEARIZABLE
				}
				if r.req.GetRevision() != wantRev || r.c != wantC {
					t.Errorf("read %d: revision %d, %v; want %d, %v", i, r.req.GetRevision(), r.c, wantRev, wantC)
				}
			}
			if fmt.Sprint(limits) != fmt.Sprint(tt.wantLimits) {
				t.Errorf("chunk limits %v, want %v", limits, tt.wantLimits)
			}
			var got []string
			for i, c := range chunks {
				for _, kv := range c.Kvs {
					got = append(got, string(kv.Key))
				}
				if last := i == len(chunks)-1; (c.Header != nil) != last || (c.Count != 0) != last {
					t.Errorf("chunk %d of %d: header %v, count %d; want them on the last chunk only", i, len(chunks), c.Header, c.Count)
				}
			}
			n := len(keys)
			if tt.limit > 0 {
				n = int(tt.limit)
			}
			if want := strings.Join(keys[:n], ","); strings.Join(got, ",") != want {
				t.Errorf("keys %v, want %v", got, want)
			}
			last := chunks[len(chunks)-1]
			if last.Header.Revision != 7 || last.Count != 100 || last.More != (tt.limit > 0) {
				t.Errorf("last chunk: revision %d, count %d, more %v; want 7, 100, %v", last.Header.Revision, last.Count, last.More, tt.limit > 0)
			}
		})
	}
}
