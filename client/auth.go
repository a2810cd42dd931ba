package client

// How the client authenticates.
//
// A node with auth enabled refuses every call but Handshake without
// credentials (codes.Unauthenticated). With Config.User and
// Config.Password, each connection (one per endpoint) carries a tokenCreds,
// gRPC per-call credentials that attach "authorization: Bearer <token>" to
// every call. The token is obtained on first use by calling Handshake on
// the same connection, and cached; it is renewed by a new Handshake once
// three quarters of its lifetime have passed (measured on this machine's
// clock from the moment it was requested, so clock skew does not matter).
// Concurrent calls wait for one Handshake in flight rather than each
// making their own.
//
// Tokens are per endpoint because a node without auth.token_secret signs
// them with a key of its own: a token from one node is worth nothing on
// another. The node may also restart (new key) or the token expire early
// for another reason. So a call refused with Unauthenticated although it
// carried a cached token forgets that token and is made once more, on the
// same endpoint, with a new one; the server refuses before any handler
// runs, so the first attempt did nothing and a write may be repeated. If
// the Handshake itself fails (a wrong password), the call fails with its
// Unauthenticated error at once.
//
// A node with auth disabled answers Handshake with an empty token: the
// client then sends nothing, and finds out by the same retry if the node
// starts requiring credentials.
//
// Config.Token is sent as is with every call and never renewed.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/api/databendpb"
	"github.com/metasrv/metasrv/api/metapb"
)

// AuthorizationKey is the gRPC metadata key that carries credentials.
const AuthorizationKey = "authorization"

// handshakeTimeout bounds one Handshake when the call has no deadline.
const handshakeTimeout = 10 * time.Second

// noAuthRecheck is how long the client believes a node that needs no
// credentials before it asks again (a refused call asks at once).
const noAuthRecheck = time.Hour

// LoadTLS returns a TLS configuration for Config.TLS from PEM files: the
// CA that signs the servers' certificates (caFile; empty: the system's
// roots) and, for a server that requires client certificates, this
// client's certificate and key (both or neither).
func LoadTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("%w: TLS CA file: %v", ErrInvalidArgument, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: TLS CA file %q holds no PEM certificate", ErrInvalidArgument, caFile)
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("%w: a TLS client certificate needs its key and the other way round: give both files or neither", ErrInvalidArgument)
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: TLS client certificate %q with key %q: %v", ErrInvalidArgument, certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// tokenCreds is the credentials.PerRPCCredentials of one connection: see
// the top of this file.
type tokenCreds struct {
	user, password string
	static         string // Config.Token; then user is empty
	now            func() time.Time
	cc             atomic.Pointer[grpc.ClientConn]

	mu struct {
		sync.Mutex
		valid    bool   // token holds what the node last answered
		token    string // "": the node needs no credentials
		renewAt  time.Time
		expireAt time.Time
		inflight chan struct{} // closed when the Handshake in flight ends
	}
}

var _ credentials.PerRPCCredentials = (*tokenCreds)(nil)

// GetRequestMetadata implements credentials.PerRPCCredentials. gRPC calls
// it for every call on the connection, with the call's context, before
// anything is sent.
func (t *tokenCreds) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	ri, _ := credentials.RequestInfoFromContext(ctx)
	if ri.Method == metapb.Meta_Handshake_FullMethodName {
		return nil, nil
	}
	if t.user == "" {
		return tokenMetadata(ri.Method, t.static), nil
	}
	tok, err := t.get(ctx)
	if err != nil {
		return nil, err
	}
	if f, ok := ctx.Value(sendFlagKey{}).(*sendFlag); ok {
		f.token.Store(&tok)
	}
	if tok == "" {
		return nil, nil
	}
	return tokenMetadata(ri.Method, tok), nil
}

// databendTokenKey is the binary metadata in which Databend's service
// meta.MetaService takes a token. A node checks the tokens of both of its
// services with the same users, so the token of the native Handshake is
// good for both.
const databendTokenKey = "auth-token-bin"

// databendMethodPrefix starts the full name of every method of
// meta.MetaService (KeysLayout calls one).
var databendMethodPrefix = "/" + databendpb.MetaService_ServiceDesc.ServiceName + "/"

// tokenMetadata is the metadata that carries tok on a call of method.
func tokenMetadata(method, tok string) map[string]string {
	if strings.HasPrefix(method, databendMethodPrefix) {
		return map[string]string{databendTokenKey: tok}
	}
	return map[string]string{AuthorizationKey: "Bearer " + tok}
}

// RequireTransportSecurity implements credentials.PerRPCCredentials: the
// client may send credentials in the clear if it was told to connect
// without TLS.
func (t *tokenCreds) RequireTransportSecurity() bool { return false }

// get returns the cached token, after a Handshake if there is none or it is
// due for renewal.
func (t *tokenCreds) get(ctx context.Context) (string, error) {
	for {
		t.mu.Lock()
		now := t.now()
		if t.mu.valid && now.Before(t.mu.renewAt) {
			tok := t.mu.token
			t.mu.Unlock()
			return tok, nil
		}
		if ch := t.mu.inflight; ch != nil {
			t.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return "", status.FromContextError(ctx.Err()).Err()
			}
		}
		ch := make(chan struct{})
		t.mu.inflight = ch
		t.mu.Unlock()

		tok, ttl, err := t.handshake(ctx)

		t.mu.Lock()
		t.mu.inflight = nil
		close(ch)
		if err != nil {
			// A renewal that failed leaves a token still valid in use.
			if t.mu.valid && now.Before(t.mu.expireAt) {
				tok := t.mu.token
				t.mu.Unlock()
				return tok, nil
			}
			t.mu.valid = false
			t.mu.Unlock()
			return "", err
		}
		t.mu.valid, t.mu.token = true, tok
		if tok == "" {
			t.mu.renewAt, t.mu.expireAt = now.Add(noAuthRecheck), now.Add(noAuthRecheck)
		} else {
			t.mu.renewAt, t.mu.expireAt = now.Add(ttl*3/4), now.Add(ttl)
		}
		t.mu.Unlock()
		return tok, nil
	}
}

// handshake calls Handshake on the connection. Its context has ctx's
// deadline and cancellation but none of its values: the call's sendFlag
// must not see the Handshake's request go out.
func (t *tokenCreds) handshake(ctx context.Context) (string, time.Duration, error) {
	cc := t.cc.Load()
	if cc == nil {
		return "", 0, status.Error(codes.Internal, "client: connection not ready for a handshake")
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(handshakeTimeout)
	}
	hctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	reply, err := metapb.NewMetaClient(cc).Handshake(hctx, &metapb.HandshakeRequest{User: t.user, Password: t.password})
	if err != nil {
		st := status.Convert(err)
		if st.Code() == codes.Unauthenticated {
			return "", 0, status.Errorf(codes.Unauthenticated, "handshake as user %q: %s", t.user, st.Message())
		}
		return "", 0, status.Errorf(st.Code(), "handshake as user %q: %s", t.user, st.Message())
	}
	ttl := time.Duration(reply.GetTtlMs()) * time.Millisecond
	if reply.GetToken() != "" && ttl <= 0 {
		ttl = time.Minute // a node that does not say: renew soon
	}
	return reply.GetToken(), ttl, nil
}

// forget drops the cached token if it is still used, so that the next call
// makes a new Handshake.
func (t *tokenCreds) forget(used string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.valid && t.mu.token == used {
		t.mu.valid = false
	}
}

// creds returns the tokenCreds of the connection to addr; nil without
// user credentials.
func (c *Client) creds(addr string) *tokenCreds {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.creds[addr]
}

// renewAfter reports whether a call to ep that failed with err should be
// made once more: the node refused (Unauthenticated) a cached token, or
// the lack of one, that the call carried, and that token is now forgotten.
// See the top of this file.
func (c *Client) renewAfter(ep string, f *sendFlag, err error) bool {
	if f == nil || status.Code(err) != codes.Unauthenticated {
		return false
	}
	used := f.token.Load()
	tc := c.creds(ep)
	if used == nil || tc == nil {
		return false
	}
	tc.forget(*used)
	return true
}
