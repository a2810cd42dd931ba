package client

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/client/clienttest"
)

// newClient returns a client on endpoints with short timings, closed when
// the test ends.
func newClient(t *testing.T, endpoints ...string) *Client {
	t.Helper()
	c, err := New(Config{Endpoints: endpoints, DialTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.timing = retryTiming{initialBackoff: 10 * time.Millisecond, maxBackoff: 50 * time.Millisecond, maxRounds: 3, watchIdleMin: 10 * time.Second}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// refusedAddr returns a loopback address nobody listens on.
func refusedAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	return addr
}

// silentAddr returns a loopback address whose listener never accepts: TCP
// connects, the HTTP/2 handshake never completes.
func silentAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lis.Close() })
	return lis.Addr().String()
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// failOn returns a hook that fails method at stage with code.
func failOn(method string, stage clienttest.Stage, code codes.Code) clienttest.Hook {
	return func(_ context.Context, m string, s clienttest.Stage) error {
		if m == method && s == stage {
			return status.Errorf(code, "injected %v %s %s", code, stage, m)
		}
		return nil
	}
}

func TestNewValidatesEndpoints(t *testing.T) {
	tests := []struct {
		name      string
		endpoints []string
		want      error
	}{
		{"none", nil, ErrNoEndpoints},
		{"ipv4", []string{"127.0.0.1:9191"}, nil},
		{"ipv6", []string{"[::1]:9191"}, nil},
		{"hostname", []string{"meta-0.meta:9191", "meta-1.meta:9191"}, nil},
		{"duplicates", []string{"a:1", "a:1"}, nil},
		{"no port", []string{"127.0.0.1"}, ErrInvalidEndpoint},
		{"empty port", []string{"127.0.0.1:"}, ErrInvalidEndpoint},
		{"empty host", []string{":9191"}, ErrInvalidEndpoint},
		{"named port", []string{"h:http"}, ErrInvalidEndpoint},
		{"port 0", []string{"h:0"}, ErrInvalidEndpoint},
		{"port too big", []string{"h:65536"}, ErrInvalidEndpoint},
		{"comma list in one", []string{"a:1,b:2"}, ErrInvalidEndpoint},
		{"url", []string{"http://a:1"}, ErrInvalidEndpoint},
		{"empty", []string{""}, ErrInvalidEndpoint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(Config{Endpoints: tt.endpoints})
			if !errors.Is(err, tt.want) {
				t.Fatalf("New(%q) = %v, want %v", tt.endpoints, err, tt.want)
			}
			if err == nil {
				_ = c.Close()
			}
		})
	}
}

func TestEndpointsDeduplicated(t *testing.T) {
	c := newClient(t, "a:1", "b:2", "a:1")
	if got := c.Endpoints(); strings.Join(got, ",") != "a:1,b:2" {
		t.Fatalf("Endpoints() = %v", got)
	}
}

func TestOperations(t *testing.T) {
	cl := clienttest.Start(t, 1)
	c := newClient(t, cl.Addrs()...)
	ctx := ctxTimeout(t, 5*time.Second)

	kv, err := c.Get(ctx, "k")
	if err != nil || kv.Seq != 0 || kv.Exists() || kv.Data != nil || kv.Key != "k" {
		t.Fatalf("Get absent = %+v, %v", kv, err)
	}

	res, err := c.Upsert(ctx, Upsert{Key: "k", Value: []byte("v1"), Match: Exact(0)})
	if err != nil || !res.Applied || res.Prev.Seq != 0 || res.Result.Seq != 1 || string(res.Result.Data) != "v1" || res.Retried {
		t.Fatalf("create = %+v, %v", res, err)
	}
	res, err = c.Upsert(ctx, Upsert{Key: "k", Value: []byte("v2"), Match: Exact(0)})
	if err != nil || res.Applied || res.Result.Seq != 1 || res.Prev.Seq != 1 {
		t.Fatalf("create again = %+v, %v; want not applied", res, err)
	}
	res, err = c.Upsert(ctx, Upsert{Key: "k", Value: []byte("v2"), Match: GE(1), TTL: time.Hour})
	if err != nil || !res.Applied || res.Result.Version != 2 || res.Result.CreateSeq != 1 || res.Result.ExpireAtMs == 0 {
		t.Fatalf("update GE = %+v, %v", res, err)
	}

	kv, err = c.Get(ctx, "k", Serializable())
	if err != nil || kv.Seq != 2 || string(kv.Data) != "v2" || kv.Version != 2 {
		t.Fatalf("Get = %+v, %v", kv, err)
	}

	kvs, err := c.MGet(ctx, []string{"k", "absent"})
	if err != nil || len(kvs) != 2 || kvs[0].Seq != 2 || kvs[1].Key != "absent" || kvs[1].Seq != 0 {
		t.Fatalf("MGet = %+v, %v", kvs, err)
	}

	res, err = c.Delete(ctx, "k")
	if err != nil || !res.Applied || res.Prev.Seq != 2 || res.Result.Seq != 0 {
		t.Fatalf("Delete = %+v, %v", res, err)
	}
	if kv, _ := c.Get(ctx, "k"); kv.Exists() {
		t.Fatalf("Get after delete = %+v", kv)
	}

	nodes, err := c.MemberList(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].GetGrpcAddress() != cl.Servers[0].Addr {
		t.Fatalf("MemberList = %v, %v", nodes, err)
	}
}

func TestUpsertValidation(t *testing.T) {
	cl := clienttest.Start(t, 1)
	c := newClient(t, cl.Addrs()...)
	ctx := ctxTimeout(t, 5*time.Second)
	for _, u := range []Upsert{
		{Key: ""},
		{Key: "k", TTL: -time.Second},
		{Key: "k", TTL: time.Microsecond},
		{Key: "k", TTL: time.Second, ExpireAtMs: 1},
		{Key: "k", Delete: true, Value: []byte("x")},
	} {
		if _, err := c.Upsert(ctx, u); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Upsert(%+v) = %v, want ErrInvalidArgument", u, err)
		}
	}
	if _, err := c.Get(ctx, ""); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Get empty key = %v", err)
	}
	if n := cl.Servers[0].Calls("Upsert"); n != 0 {
		t.Errorf("%d invalid upserts reached the server", n)
	}
}

func TestListCollectsChunks(t *testing.T) {
	cl := clienttest.Start(t, 1) // 2 keys per chunk
	for _, k := range []string{"a/3", "a/1", "b/1", "a/2", "a/5", "a/4", "ab"} {
		cl.Store.Put(k, []byte("v-"+k))
	}
	c := newClient(t, cl.Addrs()...)
	ctx := ctxTimeout(t, 5*time.Second)

	tests := []struct {
		prefix string
		limit  uint64
		want   string
	}{
		{"a/", 0, "a/1,a/2,a/3,a/4,a/5"},
		{"a/", 3, "a/1,a/2,a/3"},
		{"a", 0, "a/1,a/2,a/3,a/4,a/5,ab"},
		{"", 0, "a/1,a/2,a/3,a/4,a/5,ab,b/1"},
		{"zz", 0, ""},
	}
	for _, tt := range tests {
		kvs, err := c.List(ctx, tt.prefix, tt.limit)
		if err != nil {
			t.Fatalf("List(%q, %d): %v", tt.prefix, tt.limit, err)
		}
		var keys []string
		for _, kv := range kvs {
			if string(kv.Data) != "v-"+kv.Key || kv.Seq == 0 {
				t.Errorf("List(%q): bad kv %+v", tt.prefix, kv)
			}
			keys = append(keys, kv.Key)
		}
		if got := strings.Join(keys, ","); got != tt.want {
			t.Errorf("List(%q, %d) = %s, want %s", tt.prefix, tt.limit, got, tt.want)
		}
	}
}

func TestFailoverWhenFirstEndpointDown(t *testing.T) {
	tests := []struct {
		name string
		down func(t *testing.T) string
	}{
		{"refused", refusedAddr},
		{"silent", silentAddr}, // costs one DialTimeout
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := clienttest.Start(t, 1)
			down := tt.down(t)
			c := newClient(t, down, cl.Servers[0].Addr)
			ctx := ctxTimeout(t, 10*time.Second)

			// A write that could apply twice is retried: the request was
			// never sent to the down endpoint.
			res, err := c.Upsert(ctx, Upsert{Key: "k", Value: []byte("v")})
			if err != nil || !res.Applied || res.Retried {
				t.Fatalf("Upsert = %+v, %v", res, err)
			}
			if kv, err := c.Get(ctx, "k"); err != nil || string(kv.Data) != "v" {
				t.Fatalf("Get = %+v, %v", kv, err)
			}
			// The client stays on the endpoint that works.
			if cur := c.Endpoints()[c.current()]; cur != cl.Servers[0].Addr {
				t.Fatalf("current endpoint = %s, want %s", cur, cl.Servers[0].Addr)
			}
			if n := cl.Servers[0].Calls("Upsert"); n != 1 {
				t.Fatalf("server saw %d upserts, want 1", n)
			}
		})
	}
}

func TestReadRetriedOnUnavailable(t *testing.T) {
	cl := clienttest.Start(t, 2)
	cl.Store.Put("k", []byte("v"))
	a, b := cl.Servers[0], cl.Servers[1]
	a.SetHook(failOn("Get", clienttest.Before, codes.Unavailable))
	c := newClient(t, cl.Addrs()...)

	kv, err := c.Get(ctxTimeout(t, 5*time.Second), "k")
	if err != nil || string(kv.Data) != "v" {
		t.Fatalf("Get = %+v, %v", kv, err)
	}
	if a.Calls("Get") != 1 || b.Calls("Get") != 1 {
		t.Fatalf("Get calls: a=%d b=%d, want 1 and 1", a.Calls("Get"), b.Calls("Get"))
	}
}

func TestListRestartedAfterBrokenStream(t *testing.T) {
	cl := clienttest.Start(t, 2)
	for _, k := range []string{"p/1", "p/2", "p/3", "p/4", "p/5"} {
		cl.Store.Put(k, []byte(k))
	}
	// Server a sends every chunk, then fails the stream.
	cl.Servers[0].SetHook(failOn("List", clienttest.After, codes.Unavailable))
	c := newClient(t, cl.Addrs()...)

	kvs, err := c.List(ctxTimeout(t, 5*time.Second), "p/", 0)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(kvs) != 5 || kvs[0].Key != "p/1" || kvs[4].Key != "p/5" {
		t.Fatalf("List = %+v; want p/1..p/5 once each", kvs)
	}
	if cl.Servers[1].Calls("List") != 1 {
		t.Fatalf("List not retried on the second endpoint")
	}
}

func TestAmbiguousWriteNotRetried(t *testing.T) {
	tests := []struct {
		name string
		// fail makes server a fail an Upsert after it received it.
		fail func(a *clienttest.Server) clienttest.Hook
	}{
		{"server applied then said unavailable", func(*clienttest.Server) clienttest.Hook {
			return failOn("Upsert", clienttest.After, codes.Unavailable)
		}},
		{"server said unavailable before applying", func(*clienttest.Server) clienttest.Hook {
			// The client cannot tell this from the case above.
			return failOn("Upsert", clienttest.Before, codes.Unavailable)
		}},
		{"connection lost in flight", func(a *clienttest.Server) clienttest.Hook {
			return func(ctx context.Context, m string, s clienttest.Stage) error {
				if m == "Upsert" && s == clienttest.Before {
					go a.Stop()
					<-ctx.Done()
					return ctx.Err()
				}
				return nil
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := clienttest.Start(t, 2)
			a, b := cl.Servers[0], cl.Servers[1]
			a.SetHook(tt.fail(a))
			c := newClient(t, cl.Addrs()...)

			for _, u := range []Upsert{
				{Key: "k", Value: []byte("v")},
				{Key: "k", Value: []byte("v"), Match: GE(0)},
				{Key: "k", Delete: true},
			} {
				_, err := c.Upsert(ctxTimeout(t, 5*time.Second), u)
				if !errors.Is(err, ErrMaybeApplied) {
					t.Fatalf("Upsert(%+v) = %v, want ErrMaybeApplied", u, err)
				}
				if code := status.Code(err); code != codes.Unavailable {
					t.Errorf("status.Code = %v, want Unavailable (err %v)", code, err)
				}
				if !strings.Contains(err.Error(), a.Addr) {
					t.Errorf("error does not name the endpoint %s: %v", a.Addr, err)
				}
				if n := b.Calls("Upsert"); n != 0 {
					t.Fatalf("ambiguous write retried on the second endpoint (%d calls)", n)
				}
				if tt.name == "connection lost in flight" {
					break // a is down now; the next write goes elsewhere
				}
			}
		})
	}
}

func TestExactWriteRetried(t *testing.T) {
	tests := []struct {
		name        string
		stage       clienttest.Stage
		wantApplied bool
	}{
		// a applied it and failed: the retry on b fails its seq check.
		{"applied on first endpoint", clienttest.After, false},
		// a failed before applying: the retry on b applies it.
		{"not applied on first endpoint", clienttest.Before, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := clienttest.Start(t, 2)
			a, b := cl.Servers[0], cl.Servers[1]
			a.SetHook(failOn("Upsert", tt.stage, codes.Unavailable))
			c := newClient(t, cl.Addrs()...)

			res, err := c.Upsert(ctxTimeout(t, 5*time.Second), Upsert{Key: "k", Value: []byte("v"), Match: Exact(0)})
			if err != nil {
				t.Fatalf("Upsert: %v", err)
			}
			if res.Applied != tt.wantApplied || !res.Retried || string(res.Result.Data) != "v" || res.Result.Seq != 1 {
				t.Fatalf("Upsert = %+v, want Applied=%v Retried=true result v@1", res, tt.wantApplied)
			}
			if a.Calls("Upsert") != 1 || b.Calls("Upsert") != 1 {
				t.Fatalf("calls a=%d b=%d, want 1 and 1", a.Calls("Upsert"), b.Calls("Upsert"))
			}
			if seq := cl.Store.Seq(); seq != 1 {
				t.Fatalf("store seq = %d: the write applied more than once", seq)
			}
		})
	}
}

func TestOtherErrorsNotRetried(t *testing.T) {
	cl := clienttest.Start(t, 2)
	a, b := cl.Servers[0], cl.Servers[1]
	a.SetHook(failOn("Get", clienttest.Before, codes.InvalidArgument))
	c := newClient(t, cl.Addrs()...)

	_, err := c.Get(ctxTimeout(t, 5*time.Second), "k")
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), a.Addr) {
		t.Fatalf("Get = %v, want InvalidArgument naming %s", err, a.Addr)
	}
	if b.Calls("Get") != 0 {
		t.Fatalf("InvalidArgument was retried on another endpoint")
	}
}

// TestDeadlineRespected: a call ends with the context's deadline, whether
// the endpoints refuse (without the deadline the retries would end sooner,
// with ErrUnavailable) or the server hangs (until the deadline, which it
// got with the call, ends it).
func TestDeadlineRespected(t *testing.T) {
	const deadline = 300 * time.Millisecond

	hang := func(method string) clienttest.Hook {
		return func(ctx context.Context, m string, s clienttest.Stage) error {
			if m == method && s == clienttest.Before {
				<-ctx.Done()
				return ctx.Err()
			}
			return nil
		}
	}
	tests := []struct {
		name          string
		setup         func(t *testing.T) []string
		call          func(ctx context.Context, c *Client) error
		wantMaybeDone bool
	}{
		{"all endpoints refused, read", func(t *testing.T) []string {
			return []string{refusedAddr(t), refusedAddr(t)}
		}, func(ctx context.Context, c *Client) error {
			_, err := c.Get(ctx, "k")
			return err
		}, false},
		{"all endpoints refused, write", func(t *testing.T) []string {
			return []string{refusedAddr(t), refusedAddr(t)}
		}, func(ctx context.Context, c *Client) error {
			_, err := c.Upsert(ctx, Upsert{Key: "k"})
			return err
		}, false},
		{"silent endpoint", func(t *testing.T) []string {
			return []string{silentAddr(t)}
		}, func(ctx context.Context, c *Client) error {
			_, err := c.List(ctx, "", 0)
			return err
		}, false},
		{"server hangs on a read", func(t *testing.T) []string {
			cl := clienttest.Start(t, 1)
			cl.Servers[0].SetHook(hang("Get"))
			return cl.Addrs()
		}, func(ctx context.Context, c *Client) error {
			_, err := c.Get(ctx, "k")
			return err
		}, false},
		{"server hangs on a write", func(t *testing.T) []string {
			cl := clienttest.Start(t, 1)
			cl.Servers[0].SetHook(hang("Upsert"))
			return cl.Addrs()
		}, func(ctx context.Context, c *Client) error {
			_, err := c.Upsert(ctx, Upsert{Key: "k"})
			return err
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, tt.setup(t)...)
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			err := tt.call(ctx, c)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want DeadlineExceeded", err)
			}
			if got := errors.Is(err, ErrMaybeApplied); got != tt.wantMaybeDone {
				t.Fatalf("errors.Is(err, ErrMaybeApplied) = %v, want %v (err %v)", got, tt.wantMaybeDone, err)
			}
		})
	}
}

func TestNoDeadlineGivesUp(t *testing.T) {
	down := refusedAddr(t)
	c := newClient(t, down)
	_, err := c.Get(context.Background(), "k")
	if !errors.Is(err, ErrUnavailable) || status.Code(err) != codes.Unavailable {
		t.Fatalf("Get = %v, want ErrUnavailable", err)
	}
	if msg := err.Error(); !strings.Contains(msg, down) || !strings.Contains(msg, "connection refused") {
		t.Fatalf("error does not name the endpoint and the cause: %v", err)
	}
}

func TestReconnectsWhenServerComesBack(t *testing.T) {
	cl := clienttest.Start(t, 1)
	s := cl.Servers[0]
	c := newClient(t, s.Addr)
	ctx := ctxTimeout(t, 10*time.Second)
	if _, err := c.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	// Once the client has seen the connection close, a write is not sent
	// while the server is down, so it may be retried until it is back.
	cc, err := c.conn(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	for cc.GetState() == connectivity.Ready {
		cc.WaitForStateChange(ctx, connectivity.Ready)
	}
	// The server comes back once the call has found it down.
	var retried atomic.Pointer[chan struct{}]
	c.onRetry = func(RetryInfo) {
		if ch := retried.Swap(nil); ch != nil {
			close(*ch)
		}
	}
	restarted := make(chan error, 1)
	restartOnRetry := func() {
		ch := make(chan struct{})
		retried.Store(&ch)
		go func() {
			select {
			case <-ch:
				restarted <- s.Restart()
			case <-ctx.Done():
				restarted <- ctx.Err()
			}
		}()
	}
	restartOnRetry()
	if _, err := c.Upsert(ctx, Upsert{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatalf("Upsert while the server restarts: %v", err)
	}
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	if n := s.Calls("Upsert"); n != 1 {
		t.Fatalf("server saw %d upserts, want 1", n)
	}

	// A read is retried even if it went out on the dying connection.
	s.Stop()
	restartOnRetry()
	if kv, err := c.Get(ctx, "k"); err != nil || string(kv.Data) != "v" {
		t.Fatalf("Get while the server restarts = %+v, %v", kv, err)
	}
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
}

func TestStatusAsksTheGivenEndpointOnly(t *testing.T) {
	cl := clienttest.Start(t, 2)
	c := newClient(t, cl.Servers[0].Addr)
	ctx := ctxTimeout(t, 5*time.Second)

	// Server 2 is not among the endpoints.
	st, err := c.Status(ctx, cl.Servers[1].Addr)
	if err != nil || st.GetId() != 2 || st.GetGrpcAddress() != cl.Servers[1].Addr {
		t.Fatalf("Status = %v, %v", st, err)
	}
	down := refusedAddr(t)
	if _, err := c.Status(ctx, down); err == nil || !strings.Contains(err.Error(), down) {
		t.Fatalf("Status of a down endpoint = %v, want an error naming it", err)
	}
	if cl.Servers[0].Calls("Status") != 0 {
		t.Fatalf("Status failed over to another endpoint")
	}
	if _, err := c.Status(ctx, "nonsense"); !errors.Is(err, ErrInvalidEndpoint) {
		t.Fatalf("Status(nonsense) = %v", err)
	}
}

func TestClosed(t *testing.T) {
	cl := clienttest.Start(t, 1)
	c := newClient(t, cl.Addrs()...)
	ctx := ctxTimeout(t, 5*time.Second)
	if _, err := c.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.Get(ctx, "k"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close = %v, want ErrClosed", err)
	}
	if _, err := c.Status(ctx, cl.Servers[0].Addr); !errors.Is(err, ErrClosed) {
		t.Fatalf("Status after Close = %v, want ErrClosed", err)
	}
}

// TestConcurrentFailover runs reads from many goroutines while the first
// endpoint goes down; run it with -race.
func TestConcurrentFailover(t *testing.T) {
	cl := clienttest.Start(t, 3)
	cl.Store.Put("k", []byte("v"))
	c := newClient(t, cl.Addrs()...)
	ctx := ctxTimeout(t, 10*time.Second)

	var wg sync.WaitGroup
	errs := make(chan error, 20*10)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				kv, err := c.Get(ctx, "k")
				if err == nil && !bytes.Equal(kv.Data, []byte("v")) {
					err = errors.New("wrong value " + string(kv.Data))
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	cl.Servers[0].Stop()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestSendObserver(t *testing.T) {
	f := new(sendFlag)
	ctx := context.WithValue(context.Background(), sendFlagKey{}, f)
	var h sendObserver
	steps := []struct {
		event stats.RPCStats
		want  bool
	}{
		{&stats.Begin{Client: true}, false},
		{&stats.OutHeader{Client: true}, false}, // headers alone run no handler
		{&stats.OutPayload{Client: true}, true},
		{&stats.Begin{Client: true, IsTransparentRetryAttempt: true}, false}, // first attempt unprocessed
		{&stats.OutPayload{Client: true}, true},
		{&stats.End{Client: true}, true},
	}
	for i, s := range steps {
		h.HandleRPC(ctx, s.event)
		if got := f.sent.Load(); got != s.want {
			t.Fatalf("step %d (%T): sent = %v, want %v", i, s.event, got, s.want)
		}
	}
	h.HandleRPC(context.Background(), &stats.OutPayload{}) // no flag: ignored
}

// A server that times out on its own (its default timeout, or a read index
// that never comes) is not failed over: the time is spent. The error keeps
// the server's message and wraps context.DeadlineExceeded.
func TestServerTimeoutNotRetried(t *testing.T) {
	cl := clienttest.Start(t, 2)
	a, b := cl.Servers[0], cl.Servers[1]
	a.SetHook(func(_ context.Context, m string, s clienttest.Stage) error {
		if s == clienttest.Before {
			return status.Error(codes.DeadlineExceeded, "request timed out: no read index from the leader")
		}
		return nil
	})
	c := newClient(t, cl.Addrs()...)

	_, err := c.Get(ctxTimeout(t, 5*time.Second), "k")
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrMaybeApplied) || !strings.Contains(err.Error(), "no read index") {
		t.Fatalf("Get = %v, want DeadlineExceeded with the server's message", err)
	}
	_, err = c.Upsert(ctxTimeout(t, 5*time.Second), Upsert{Key: "k", Value: []byte("v")})
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrMaybeApplied) {
		t.Fatalf("Upsert = %v, want DeadlineExceeded and ErrMaybeApplied", err)
	}
	if b.Calls("Get")+b.Calls("Upsert") != 0 {
		t.Fatalf("a server timeout was retried on another endpoint")
	}
}

func TestLargeValues(t *testing.T) {
	cl := clienttest.Start(t, 1)
	big := bytes.Repeat([]byte("x"), 5<<20) // above gRPC's 4 MiB default
	cl.Store.Put("big", big)
	c := newClient(t, cl.Addrs()...)
	ctx := ctxTimeout(t, 10*time.Second)
	if kv, err := c.Get(ctx, "big"); err != nil || !bytes.Equal(kv.Data, big) {
		t.Fatalf("Get of a 5 MiB value: %d bytes, %v", len(kv.Data), err)
	}

	small, err := New(Config{Endpoints: cl.Addrs(), MaxMessageSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	if _, err := small.Get(ctx, "big"); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("Get above MaxMessageSize = %v, want ResourceExhausted", err)
	}
	if _, err := small.Upsert(ctx, Upsert{Key: "k", Value: big}); status.Code(err) != codes.ResourceExhausted || errors.Is(err, ErrMaybeApplied) {
		t.Fatalf("Upsert above MaxMessageSize = %v, want ResourceExhausted, not sent", err)
	}
}

// OnRetry hears of each attempt that found an endpoint down, with the
// call, the endpoint, the error, the count and the call's deadline; a call
// that succeeds at once calls it never.
func TestOnRetry(t *testing.T) {
	cl := clienttest.Start(t, 1)
	down := refusedAddr(t)
	var mu sync.Mutex
	var got []RetryInfo
	c, err := New(Config{Endpoints: []string{down, cl.Addrs()[0]}, OnRetry: func(ri RetryInfo) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ri)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()

	// The first endpoint is down: one retry, then the second answers.
	if _, err := c.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	// The second is now the current one: no retry.
	if _, err := c.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("OnRetry called %d times, want once: %+v", len(got), got)
	}
	ri := got[0]
	if ri.What != `get "k"` || ri.Endpoint != down || status.Code(ri.Err) != codes.Unavailable ||
		!strings.Contains(ri.Err.Error(), "connection refused") || ri.Attempts != 1 || ri.Elapsed <= 0 || !ri.Deadline.Equal(deadline) {
		t.Errorf("OnRetry got %+v, want get \"k\" refused at %s, attempt 1, deadline %v", ri, down, deadline)
	}
}
