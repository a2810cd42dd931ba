package watch

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/metasrv/metasrv/api/metapb"
)

// TestEventTooLarge: a response over the hub's message limit is not sent;
// the stream ends with ErrEventTooLarge naming the seq to resume after it
// (a live event, a replayed one) or saying to watch without the flush,
// and the responses before it went out. Events that fit are sent whole.
func TestEventTooLarge(t *testing.T) {
	const limit = 1000
	value := func(n int) *metapb.SeqV { return &metapb.SeqV{Seq: 1, Data: make([]byte, n)} }
	fits := &metapb.Event{Key: "k", Seq: 1, Revision: 1, Prev: value(300), Current: value(300)}
	over := &metapb.Event{Key: "k", Seq: 2, Revision: 2, Prev: value(500), Current: value(500)}
	tests := []struct {
		name    string
		prelude func(*history) Prelude
		live    []*metapb.Event // published once the prelude was sent
		want    string
	}{
		{"live", func(*history) Prelude { return Prelude{} },
			[]*metapb.Event{fits, over}, "start_revision = 3"},
		{"replayed", func(h *history) Prelude {
			h.add(fits)
			h.add(over)
			return Prelude{ReplayFrom: 1, History: h}
		}, nil, "start_revision = 3"},
		{"initial flush", func(*history) Prelude {
			return Prelude{Flush: snapshot{{Key: "k", Value: value(limit)}}}
		}, nil, "without initial_flush"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := NewHub(WithMaxMessageBytes(limit))
			h := &history{}
			p := tt.prelude(h)
			w, err := hub.Register(Spec{Key: "k"}, uint64(len(h.events)))
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			c := newCollector()
			errC := serve(context.Background(), w, p, c, time.Hour)
			if tt.live != nil {
				c.waitFor(t, "the first marker", func(rs []*metapb.WatchResponse) bool { return len(rs) > 0 })
				hub.Publish(tt.live)
			}
			err = waitErr(t, errC)
			if !errors.Is(err, ErrEventTooLarge) || !strings.Contains(err.Error(), tt.want) ||
				!strings.Contains(err.Error(), "grpc_api_max_message_size") {
				t.Fatalf("Serve = %v, want ErrEventTooLarge saying %q", err, tt.want)
			}
			for _, r := range c.resps {
				if r.GetEvent().GetRevision() == over.GetRevision() && !r.GetIsInitialization() {
					t.Fatalf("sent the event over the limit")
				}
			}
			if tt.name != "initial flush" {
				if s := eventSeqs(c.resps); len(s) != 1 || s[0] != fits.GetRevision() {
					t.Fatalf("sent events %v, want the one that fits", s)
				}
			}
		})
	}
}
