package client

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/internal/auth"
	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/tlsfiles"
	"github.com/metasrv/metasrv/internal/tlstest"
)

// countingAuth is an Authenticator that counts handshakes and runs on a
// clock the test moves.
type countingAuth struct {
	*auth.Authenticator
	handshakes atomic.Int64
}

func (a *countingAuth) Handshake(user, password string) (auth.Token, error) {
	a.handshakes.Add(1)
	return a.Authenticator.Handshake(user, password)
}

// testClock is a clock the test moves forward.
type testClock struct{ ns atomic.Int64 }

func (c *testClock) now() time.Time { return time.Unix(0, c.ns.Load()) }

func newAuthenticator(t *testing.T, clock *testClock, ttl time.Duration) *countingAuth {
	t.Helper()
	h, err := auth.HashPassword("pw", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(auth.Config{Users: []auth.User{{Name: "root", PasswordHash: h}}, TokenTTL: ttl, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	return &countingAuth{Authenticator: a}
}

func newAuthClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	cfg.DialTimeout = time.Second
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.timing = retryTiming{initialBackoff: 10 * time.Millisecond, maxBackoff: 50 * time.Millisecond, maxRounds: 3, watchIdleMin: 10 * time.Second}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestAuthHandshakeAndRenewal(t *testing.T) {
	clock := &testClock{}
	clock.ns.Store(time.Now().UnixNano())
	a := newAuthenticator(t, clock, time.Hour)
	cl := clustertest.New(t, 1, clustertest.Options{ManualTicks: true})
	addr := cl.ServePublic(cl.Node(1), clustertest.ServeOptions{Auth: a})
	ctx := ctxTimeout(t, 20*time.Second)

	// Without credentials, and with a wrong password: refused at once, not
	// retried on and on.
	for name, cfg := range map[string]Config{
		"none":           {Endpoints: []string{addr}},
		"wrong password": {Endpoints: []string{addr}, User: "root", Password: "nope"},
		"static garbage": {Endpoints: []string{addr}, Token: "mt1.garbage"},
	} {
		t.Run(name, func(t *testing.T) {
			c := newAuthClient(t, cfg)
			var retries []RetryInfo
			c.onRetry = func(i RetryInfo) { retries = append(retries, i) }
			_, err := c.Upsert(ctx, Upsert{Key: "k", Value: []byte("v")})
			if status.Code(err) != codes.Unauthenticated || errors.Is(err, ErrMaybeApplied) {
				t.Fatalf("Upsert: %v, want Unauthenticated, not maybe applied", err)
			}
			if len(retries) != 0 {
				t.Fatalf("refused, then retried: %+v", retries)
			}
		})
	}
	if kv, err := cl.Node(1).Server.Get(ctx, "k", 0); err != nil || kv != nil {
		t.Fatalf("key k after refused writes: %v, %v; want absent", kv, err)
	}

	c := newAuthClient(t, Config{Endpoints: []string{addr}, User: "root", Password: "pw"})
	a.handshakes.Store(0)
	for i := range 5 {
		if _, err := c.Upsert(ctx, Upsert{Key: "k", Value: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := a.handshakes.Load(); n != 1 {
		t.Fatalf("%d handshakes for 5 calls, want 1 (the token is cached)", n)
	}

	// The node's clock passes the token's expiry (as after a long pause):
	// the refused call renews the token and goes through, once.
	clock.ns.Add(int64(2 * time.Hour))
	res, err := c.Upsert(ctx, Upsert{Key: "k", Value: []byte("after expiry")})
	if err != nil || !res.Applied {
		t.Fatalf("Upsert after expiry: %+v, %v", res, err)
	}
	if n := a.handshakes.Load(); n != 2 {
		t.Fatalf("%d handshakes, want 2 (one renewal)", n)
	}
	kv, err := c.Get(ctx, "k")
	if err != nil || string(kv.Data) != "after expiry" || kv.Version != 6 {
		t.Fatalf("Get: %+v, %v; want the last write, version 6 (no write applied twice)", kv, err)
	}

	// A watch opened after expiry renews too.
	clock.ns.Add(int64(2 * time.Hour))
	w, err := c.Watch(ctx, WatchOptions{Key: "k", InitialFlush: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if ev, err := w.Next(); err != nil || string(ev.Current.Data) != "after expiry" {
		t.Fatalf("watch: %+v, %v", ev, err)
	}
	if n := a.handshakes.Load(); n != 3 {
		t.Fatalf("%d handshakes, want 3", n)
	}

	// A static token works until it expires, and is not renewed.
	tok, err := a.Authenticator.Handshake("root", "pw")
	if err != nil {
		t.Fatal(err)
	}
	sc := newAuthClient(t, Config{Endpoints: []string{addr}, Token: tok.Token})
	if _, err := sc.Get(ctx, "k"); err != nil {
		t.Fatalf("static token: %v", err)
	}
	clock.ns.Add(int64(2 * time.Hour))
	if _, err := sc.Get(ctx, "k"); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("expired static token: %v, want Unauthenticated", err)
	}
}

// TestAuthPerEndpointTokens: nodes without a shared token_secret each
// accept only their own tokens; the client keeps one per endpoint.
func TestAuthPerEndpointTokens(t *testing.T) {
	clock := &testClock{}
	clock.ns.Store(time.Now().UnixNano())
	cl := clustertest.New(t, 2, clustertest.Options{ManualTicks: true})
	a1, a2 := newAuthenticator(t, clock, time.Hour), newAuthenticator(t, clock, time.Hour)
	addr1 := cl.ServePublic(cl.Node(1), clustertest.ServeOptions{Auth: a1})
	addr2 := cl.ServePublic(cl.Node(2), clustertest.ServeOptions{Auth: a2})
	ctx := ctxTimeout(t, 20*time.Second)
	c := newAuthClient(t, Config{Endpoints: []string{addr1, addr2}, User: "root", Password: "pw"})
	if _, err := c.Upsert(ctx, Upsert{Key: "a", Value: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	for _, ep := range []string{addr1, addr2} {
		if _, err := c.Status(ctx, ep); err != nil {
			t.Fatalf("status of %s: %v", ep, err)
		}
	}
	if a1.handshakes.Load() != 1 || a2.handshakes.Load() != 1 {
		t.Fatalf("handshakes %d and %d, want one per node", a1.handshakes.Load(), a2.handshakes.Load())
	}
}

func TestTLS(t *testing.T) {
	ca := tlstest.NewCA(t)
	srvPair, cliPair := ca.Issue(t, "server"), ca.Issue(t, "client")
	serverTLS, err := tlsfiles.Server(srvPair.CertFile, srvPair.KeyFile, ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	cl := clustertest.New(t, 1, clustertest.Options{ManualTicks: true})
	addr := cl.ServePublic(cl.Node(1), clustertest.ServeOptions{TLS: serverTLS})
	ctx := ctxTimeout(t, 20*time.Second)

	good, err := LoadTLS(ca.CertFile, cliPair.CertFile, cliPair.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	c := newAuthClient(t, Config{Endpoints: []string{addr}, TLS: good})
	if _, err := c.Upsert(ctx, Upsert{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatalf("mutual TLS: %v", err)
	}

	noCert, err := LoadTLS(ca.CertFile, "", "")
	if err != nil {
		t.Fatal(err)
	}
	stranger := tlstest.NewCA(t)
	sp := stranger.Issue(t, "stranger")
	strangerCert, err := LoadTLS(ca.CertFile, sp.CertFile, sp.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	wrongCA, err := LoadTLS(stranger.CertFile, cliPair.CertFile, cliPair.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]Config{
		"plaintext":                 {Endpoints: []string{addr}},
		"no client certificate":     {Endpoints: []string{addr}, TLS: noCert},
		"certificate of another CA": {Endpoints: []string{addr}, TLS: strangerCert},
		"server of another CA":      {Endpoints: []string{addr}, TLS: wrongCA},
	} {
		t.Run(name, func(t *testing.T) {
			c := newAuthClient(t, cfg)
			cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			if _, err := c.Upsert(cctx, Upsert{Key: "k", Value: []byte("bad")}); err == nil {
				t.Fatal("served")
			}
		})
	}
	kv, err := c.Get(ctx, "k")
	if err != nil || string(kv.Data) != "v" || kv.Version != 1 {
		t.Fatalf("Get: %+v, %v; want the one good write", kv, err)
	}

	if _, err := LoadTLS(ca.CertFile, cliPair.CertFile, ""); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("LoadTLS with a certificate but no key: %v", err)
	}
	if _, err := New(Config{Endpoints: []string{addr}, User: "u", Token: "t"}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("New with User and Token: %v", err)
	}
}

// TestAuthRenewsBeforeExpiry: a token is renewed once three quarters of its
// lifetime have passed, before any call is refused.
func TestAuthRenewsBeforeExpiry(t *testing.T) {
	clock := &testClock{}
	clock.ns.Store(time.Now().UnixNano())
	a := newAuthenticator(t, clock, 400*time.Millisecond)
	cl := clustertest.New(t, 1, clustertest.Options{ManualTicks: true})
	addr := cl.ServePublic(cl.Node(1), clustertest.ServeOptions{Auth: a})
	ctx := ctxTimeout(t, 20*time.Second)
	c := newAuthClient(t, Config{Endpoints: []string{addr}, User: "root", Password: "pw"})
	clientClock := &testClock{}
	clientClock.ns.Store(clock.ns.Load())
	c.timing.now = clientClock.now
	if _, err := c.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	// Past 3/4 of the lifetime on the client's clock; the node's clock
	// stays, so the token is still valid there.
	clientClock.ns.Add(int64(350 * time.Millisecond))
	if _, err := c.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if n := a.handshakes.Load(); n != 2 {
		t.Fatalf("%d handshakes, want 2: renewed at 3/4 of the lifetime", n)
	}
}

// User and Password are text (the server's users are UTF-8); New refuses
// them when they are not UTF-8, without quoting the password.
func TestNewRefusesInvalidUTF8Credentials(t *testing.T) {
	if _, err := New(Config{Endpoints: []string{"127.0.0.1:1"}, User: "r\xfft", Password: "pw"}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("user: %v, want ErrInvalidArgument", err)
	}
	_, err := New(Config{Endpoints: []string{"127.0.0.1:1"}, User: "root", Password: "se\xffcret"})
	if !errors.Is(err, ErrInvalidArgument) || strings.Contains(err.Error(), "cret") {
		t.Errorf("password: %v, want ErrInvalidArgument without the password", err)
	}
}
