package client

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/client/clienttest"
)

// leaderCluster starts 3 fake servers whose leader is the second
// (Servers[1]): the others name it on their answers to writes.
func leaderCluster(t *testing.T) *clienttest.Cluster {
	t.Helper()
	cl := clienttest.Start(t, 3)
	cl.SetLeader(cl.Servers[1].ID())
	return cl
}

// stopSeen stops s and waits until c's connection to it has seen it close,
// so that the next request to s fails unsent (one sent in the meantime
// would be ambiguous).
func stopSeen(t *testing.T, c *Client, s *clienttest.Server) {
	t.Helper()
	cc, err := c.conn(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	s.Stop()
	ctx := ctxTimeout(t, 10*time.Second)
	for cc.GetState() == connectivity.Ready {
		cc.WaitForStateChange(ctx, connectivity.Ready)
	}
}

// writeCalls returns the Upserts and Txns each server received.
func writeCalls(cl *clienttest.Cluster) []int {
	n := make([]int, len(cl.Servers))
	for i, s := range cl.Servers {
		n[i] = s.Calls("Upsert") + s.Calls("Txn")
	}
	return n
}

// TestLeaderWrites: a write through a follower teaches the client the
// leader, and the calls that propose go there from then on, even though
// the leader is not one of the endpoints; reads stay on the current
// endpoint. With DisableLeaderWrites every call stays on the endpoint.
func TestLeaderWrites(t *testing.T) {
	writes := []struct {
		name string
		do   func(ctx context.Context, c *Client, i int) error
	}{
		{"upsert", func(ctx context.Context, c *Client, i int) error {
			_, err := c.Upsert(ctx, Upsert{Key: "k", Value: []byte{byte(i)}})
			return err
		}},
		{"exact upsert", func(ctx context.Context, c *Client, i int) error {
			res, err := c.Upsert(ctx, Upsert{Key: fmt.Sprintf("k%d", i), Value: []byte("v"), Match: Exact(0)})
			if err == nil && !res.Applied {
				return errors.New("not applied")
			}
			return err
		}},
		{"delete", func(ctx context.Context, c *Client, i int) error {
			_, err := c.Delete(ctx, "k")
			return err
		}},
		{"txn", func(ctx context.Context, c *Client, i int) error {
			req, err := NewTxn().Then(OpPut("t", []byte{byte(i)})).Build()
			if err == nil {
				_, err = c.Txn(ctx, req)
			}
			return err
		}},
		// The server runs every Txn through raft: a follower forwards
		// one of gets only too.
		{"read-only txn", func(ctx context.Context, c *Client, i int) error {
			req, err := NewTxn().Then(OpGet("t")).Build()
			if err == nil {
				_, err = c.Txn(ctx, req)
			}
			return err
		}},
	}
	for _, disabled := range []bool{false, true} {
		for _, w := range writes {
			t.Run(fmt.Sprintf("%s/disabled=%v", w.name, disabled), func(t *testing.T) {
				cl := leaderCluster(t)
				follower, leader := cl.Servers[0], cl.Servers[1]
				c := newClient(t, follower.Addr, cl.Servers[2].Addr)
				c.leaderWrites = !disabled
				ctx := ctxTimeout(t, 10*time.Second)

				for i := range 3 {
					if err := w.do(ctx, c, i); err != nil {
						t.Fatalf("write %d: %v", i, err)
					}
				}
				want := []int{1, 2, 0} // the first through the follower, then to the leader
				wantHint := leader.Addr
				if disabled {
					want, wantHint = []int{3, 0, 0}, ""
				}
				if got := writeCalls(cl); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("writes per server %v, want %v", got, want)
				}
				if got := c.leader.get(); got != wantHint {
					t.Fatalf("leader learnt %q, want %q", got, wantHint)
				}

				// Reads, and the calls that are not writes, stay on the
				// current endpoint.
				if _, err := c.Get(ctx, "k"); err != nil {
					t.Fatal(err)
				}
				if _, err := c.MemberList(ctx); err != nil {
					t.Fatal(err)
				}
				if follower.Calls("Get") != 1 || follower.Calls("MemberList") != 1 || leader.Calls("Get")+leader.Calls("MemberList") != 0 {
					t.Fatalf("reads went to the leader: follower %d gets %d member lists, leader %d, %d",
						follower.Calls("Get"), follower.Calls("MemberList"), leader.Calls("Get"), leader.Calls("MemberList"))
				}
			})
		}
	}
}

// TestLeaderWriteFailures: a failure of a write sent to the learnt leader
// is handled by the rules of retry.go, unchanged: a write that may have
// been applied is never sent again. A failure that counts as the endpoint
// being down also makes the client forget the leader; any other keeps it.
func TestLeaderWriteFailures(t *testing.T) {
	tests := []struct {
		name string
		// fail makes the leader fail the next Upsert; nil: the leader
		// stops.
		fail  func(leader *clienttest.Server)
		match MatchSeq
		// check checks the write's outcome.
		check func(res UpsertResult, err error) error
		// resent: the write was sent again to the endpoint.
		resent bool
		// forgotten: the client forgot the leader.
		forgotten bool
	}{
		{"leader down before the request was sent", nil, Any(),
			wantApplied, true, true},
		{"not proposed", func(l *clienttest.Server) { l.SetHook(notProposed("Upsert", codes.Unavailable)) }, Any(),
			wantApplied, true, true},
		{"unavailable after applying", func(l *clienttest.Server) { l.SetHook(failOn("Upsert", clienttest.After, codes.Unavailable)) }, Any(),
			func(_ UpsertResult, err error) error {
				if !errors.Is(err, ErrMaybeApplied) || status.Code(err) != codes.Unavailable {
					return fmt.Errorf("err %v, want ErrMaybeApplied, Unavailable", err)
				}
				return nil
			}, false, true},
		{"exact, unavailable after applying", func(l *clienttest.Server) { l.SetHook(failOn("Upsert", clienttest.After, codes.Unavailable)) }, Exact(0),
			func(res UpsertResult, err error) error {
				// The retry on the endpoint fails its seq check: the
				// leader applied it.
				if err != nil || res.Applied || !res.Retried || res.Result.Seq == 0 {
					return fmt.Errorf("%+v, %v; want not applied, retried, the key written", res, err)
				}
				return nil
			}, true, true},
		{"refused", func(l *clienttest.Server) { l.SetHook(failOn("Upsert", clienttest.Before, codes.FailedPrecondition)) }, Any(),
			func(_ UpsertResult, err error) error {
				if status.Code(err) != codes.FailedPrecondition || errors.Is(err, ErrMaybeApplied) {
					return fmt.Errorf("err %v, want FailedPrecondition, not maybe applied", err)
				}
				return nil
			}, false, false},
		{"server timeout", func(l *clienttest.Server) {
			l.SetHook(failOn("Upsert", clienttest.Before, codes.DeadlineExceeded))
		}, Any(),
			func(_ UpsertResult, err error) error {
				if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrMaybeApplied) {
					return fmt.Errorf("err %v, want DeadlineExceeded, maybe applied", err)
				}
				return nil
			}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := leaderCluster(t)
			follower, leader := cl.Servers[0], cl.Servers[1]
			c := newClient(t, follower.Addr, cl.Servers[2].Addr)
			c.timing.leaderPause = time.Hour
			ctx := ctxTimeout(t, 10*time.Second)
			if _, err := c.Upsert(ctx, Upsert{Key: "warm", Value: []byte("v")}); err != nil {
				t.Fatal(err)
			}
			if c.leader.get() != leader.Addr {
				t.Fatalf("leader learnt %q, want %q", c.leader.get(), leader.Addr)
			}

			if tt.fail == nil {
				stopSeen(t, c, leader)
			} else {
				tt.fail(leader)
			}
			before := follower.Calls("Upsert")
			res, err := c.Upsert(ctx, Upsert{Key: "k", Value: []byte("v"), Match: tt.match})
			if cerr := tt.check(res, err); cerr != nil {
				t.Fatal(cerr)
			}
			if resent := follower.Calls("Upsert") > before; resent != tt.resent {
				t.Fatalf("sent again to the endpoint: %v, want %v", resent, tt.resent)
			}
			if kv := cl.Store.Get("k"); kv.GetVersion() > 1 {
				t.Fatalf("key k written %d times", kv.GetVersion())
			}
			hint := c.leader.get()
			if forgotten := hint == ""; forgotten != tt.forgotten {
				t.Fatalf("leader after the failure %q, want forgotten %v", hint, tt.forgotten)
			}
			// The follower's answer named the leader again, but one that
			// just failed is not learnt again until leaderPause passed.
			if tt.resent && hint != "" {
				t.Fatalf("leader %q learnt again within leaderPause", hint)
			}
		})
	}
}

func wantApplied(res UpsertResult, err error) error {
	if err != nil || !res.Applied || res.Retried {
		return fmt.Errorf("%+v, %v; want applied, not retried", res, err)
	}
	return nil
}

// TestLeaderWritesFailover: when the leader stops, writes go on through
// the endpoints; the client learns the new leader from the next follower
// that names it and sends its writes there.
func TestLeaderWritesFailover(t *testing.T) {
	cl := leaderCluster(t)
	s1, s2 := cl.Servers[1], cl.Servers[2]
	c := newClient(t, cl.Addrs()...)
	c.timing.leaderPause = time.Hour
	ctx := ctxTimeout(t, 10*time.Second)
	write := func(step string) {
		t.Helper()
		if _, err := c.Upsert(ctx, Upsert{Key: "k", Value: []byte(step)}); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	steps := []struct {
		name   string
		before func()
		// want is the writes per server after the step, hint the leader
		// the client knows.
		want []int
		hint string
	}{
		{"learn", nil, []int{1, 0, 0}, s1.Addr},
		{"to the leader", nil, []int{1, 1, 0}, s1.Addr},
		// The leader dies; the followers still name it (no election
		// yet): the write fails there unsent and goes to the endpoint,
		// and the dead leader is not learnt again.
		{"leader down", func() { stopSeen(t, c, s1) }, []int{2, 1, 0}, ""},
		{"no leader known", nil, []int{3, 1, 0}, ""},
		// A new leader is elected: the next follower's answer names it.
		{"new leader named", func() { cl.SetLeader(s2.ID()) }, []int{4, 1, 0}, s2.Addr},
		{"to the new leader", nil, []int{4, 1, 1}, s2.Addr},
		{"to the new leader again", nil, []int{4, 1, 2}, s2.Addr},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		write(st.name)
		if got := writeCalls(cl); fmt.Sprint(got) != fmt.Sprint(st.want) {
			t.Fatalf("%s: writes per server %v, want %v", st.name, got, st.want)
		}
		if got := c.leader.get(); got != st.hint {
			t.Fatalf("%s: leader %q, want %q", st.name, got, st.hint)
		}
	}
	if kv := cl.Store.Get("k"); kv.GetVersion() != uint64(len(steps)) {
		t.Fatalf("key version %d after %d writes: a write applied twice or lost", kv.GetVersion(), len(steps))
	}
}

func TestLeaderHintLearn(t *testing.T) {
	tests := []struct {
		name  string
		addr  string
		known string // the hint before
		// failed is forgotten (failed) right before, with pause.
		failed string
		pause  time.Duration
		want   string
	}{
		{"learnt", "10.0.0.2:9191", "", "", time.Hour, "10.0.0.2:9191"},
		{"replaces", "10.0.0.3:9191", "10.0.0.2:9191", "", time.Hour, "10.0.0.3:9191"},
		{"empty ignored", "", "10.0.0.2:9191", "", time.Hour, "10.0.0.2:9191"},
		{"no port ignored", "10.0.0.3", "10.0.0.2:9191", "", time.Hour, "10.0.0.2:9191"},
		{"bad port ignored", "10.0.0.3:0", "", "", time.Hour, ""},
		{"failed one paused", "10.0.0.2:9191", "", "10.0.0.2:9191", time.Hour, ""},
		{"other than the failed one", "10.0.0.3:9191", "", "10.0.0.2:9191", time.Hour, "10.0.0.3:9191"},
		{"failed one after the pause", "10.0.0.2:9191", "", "10.0.0.2:9191", 0, "10.0.0.2:9191"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h leaderHint
			if tt.failed != "" {
				h.learn(tt.failed, 0)
				h.forget(tt.failed)
			}
			h.learn(tt.known, 0)
			h.learn(tt.addr, tt.pause)
			if got := h.get(); got != tt.want {
				t.Fatalf("hint %q, want %q", got, tt.want)
			}
		})
	}
}
