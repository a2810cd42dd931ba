package client

import (
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Defaults of Config fields left zero.
const (
	DefaultDialTimeout    = 2 * time.Second
	DefaultMaxMessageSize = 32 << 20 // the server's grpc_api_max_message_size default
)

// Flow-control windows of a connection to a node, in bytes: the server's
// (a stream's window bounds how fast one reply of many megabytes arrives:
// 4 MiB a round trip).
const (
	streamWindow = 4 << 20
	connWindow   = 16 << 20
)

// Config configures a Client.
type Config struct {
	// Endpoints are the host:port grpc_api_address of one or more metasrv
	// nodes. Requests go to one endpoint at a time and move to the next
	// when it is down. Required.
	Endpoints []string

	// DialTimeout bounds how long one attempt waits for a connection to
	// an endpoint to become ready before the client moves on to the next
	// endpoint; a refused connection moves on at once. It also bounds each
	// TCP+HTTP/2 handshake. Default DefaultDialTimeout (2s). Keep it well
	// below the deadlines you put on calls, or a silent endpoint (a host
	// that drops packets) eats the whole deadline.
	DialTimeout time.Duration

	// MaxMessageSize is the largest gRPC message, in bytes, the client
	// sends or accepts: it bounds the largest value, MGet reply and List
	// chunk. Default DefaultMaxMessageSize (32 MiB), the server's
	// grpc_api_max_message_size default; raise the two together. A larger
	// reply fails with codes.ResourceExhausted.
	MaxMessageSize int

	// TLS, when set, connects over TLS with this configuration: RootCAs
	// verify the servers (nil: the system's roots), Certificates are
	// presented to a server that requires client certificates
	// (grpc_tls_client_ca). LoadTLS builds one from PEM files. The server
	// name checked is the endpoint's host unless ServerName is set.
	// Default nil: plaintext.
	TLS *tls.Config

	// User and Password authenticate with nodes that have auth enabled:
	// the client exchanges them for a token on each endpoint (the
	// Handshake call), sends the token with every call and renews it
	// before it expires or when a node refuses it (see auth.go). Use them
	// with TLS: the password travels in the Handshake. Default "": no
	// credentials.
	User, Password string

	// Token is a token from a Handshake made elsewhere, sent as is with
	// every call and never renewed; it works on every node only if they
	// share auth.token_secret. Not with User.
	Token string

	// DisableLeaderWrites, when true, sends writes to the endpoints like
	// every other call. By default (false) the client sends the calls
	// that propose (Upsert, Txn) to the leader once a follower's answer
	// named it (the LeaderTrailer), which saves the follower's forward:
	// two network hops a write. The leader need not be one of Endpoints;
	// it is dialed with the same TLS and credentials. When it fails, the
	// client falls back to the endpoints (see leader.go). Set it when the
	// nodes' advertised grpc addresses cannot be reached from the client
	// (the endpoints are a proxy or a NAT's addresses).
	DisableLeaderWrites bool

	// OnRetry, when set, is called each time an attempt of a call finds
	// its endpoint down (the connection refused, not ready within
	// DialTimeout, or codes.Unavailable) and the call goes on: with the
	// next endpoint, or after a backoff with the same. A caller that may
	// wait for a cluster to come up can say what it waits for (see
	// RetryInfo). It is called on the goroutine of the call, must not
	// block, and must be safe for concurrent use. Default nil.
	OnRetry func(RetryInfo)

	// Arbitrary grpc.DialOptions are deliberately not accepted: a gRPC
	// retry policy or a changed stats handler would break the client's
	// rule of never sending a write twice (see retry.go).
}

// Client is a metasrv client. It is safe for concurrent use. Create it with
// New and Close it when done.
type Client struct {
	endpoints      []string
	dialTimeout    time.Duration
	maxMessageSize int
	timing         retryTiming
	tls            *tls.Config
	user, password string
	token          string
	leaderWrites   bool // !Config.DisableLeaderWrites
	onRetry        func(RetryInfo)

	// leader is where the calls that propose go, when known (leader.go).
	leader leaderHint

	// cur is the index in endpoints of the endpoint requests go to; it
	// moves on when that endpoint fails (see advance).
	cur atomic.Uint32

	mu struct {
		sync.Mutex
		closed bool
		// conns holds one connection per address, created on first
		// use: the endpoints, the leaders learnt, and addresses passed
		// to Status.
		conns map[string]*grpc.ClientConn
		// creds holds the credentials of each connection, when the
		// client has some.
		creds map[string]*tokenCreds
	}
}

// New validates cfg and returns a Client. It does not connect: each
// endpoint is dialed when a request first needs it, and the connection is
// reused afterwards (gRPC reconnects it in the background when it breaks).
func New(cfg Config) (*Client, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, ErrNoEndpoints
	}
	seen := make(map[string]bool, len(cfg.Endpoints))
	eps := make([]string, 0, len(cfg.Endpoints))
	for _, ep := range cfg.Endpoints {
		if err := validateEndpoint(ep); err != nil {
			return nil, err
		}
		if !seen[ep] {
			seen[ep] = true
			eps = append(eps, ep)
		}
	}
	if cfg.DialTimeout < 0 {
		return nil, fmt.Errorf("%w: negative DialTimeout %v", ErrInvalidArgument, cfg.DialTimeout)
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.MaxMessageSize < 0 {
		return nil, fmt.Errorf("%w: negative MaxMessageSize %d", ErrInvalidArgument, cfg.MaxMessageSize)
	}
	if cfg.MaxMessageSize == 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if cfg.User != "" && cfg.Token != "" {
		return nil, fmt.Errorf("%w: both User and Token are set: give a user and password, or a token", ErrInvalidArgument)
	}
	if cfg.User == "" && cfg.Password != "" {
		return nil, fmt.Errorf("%w: Password without User", ErrInvalidArgument)
	}
	// Credentials are text: the server's users are TOML strings, which are
	// UTF-8, so a user that is not cannot log in (keys, unlike them, are
	// bytes). The password is not quoted in the error.
	if !utf8.ValidString(cfg.User) {
		return nil, fmt.Errorf("%w: User %q is not valid UTF-8", ErrInvalidArgument, cfg.User)
	}
	if !utf8.ValidString(cfg.Password) {
		return nil, fmt.Errorf("%w: Password is not valid UTF-8", ErrInvalidArgument)
	}
	c := &Client{
		endpoints:      eps,
		dialTimeout:    cfg.DialTimeout,
		maxMessageSize: cfg.MaxMessageSize,
		timing:         defaultRetryTiming,
		user:           cfg.User,
		password:       cfg.Password,
		token:          cfg.Token,
		leaderWrites:   !cfg.DisableLeaderWrites,
		onRetry:        cfg.OnRetry,
	}
	if cfg.TLS != nil {
		c.tls = cfg.TLS.Clone()
	}
	c.mu.conns = make(map[string]*grpc.ClientConn)
	c.mu.creds = make(map[string]*tokenCreds)
	return c, nil
}

// validateEndpoint checks that ep is host:port with a non-empty host and a
// port in 1..65535.
func validateEndpoint(ep string) error {
	host, port, err := net.SplitHostPort(ep)
	if err != nil {
		return fmt.Errorf("%w %q: %v: want host:port, e.g. 127.0.0.1:9191", ErrInvalidEndpoint, ep, err)
	}
	if host == "" || strings.ContainsAny(host, " ,/") {
		return fmt.Errorf("%w %q: bad host %q: want host:port, e.g. 127.0.0.1:9191", ErrInvalidEndpoint, ep, host)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("%w %q: bad port %q: want a number in 1..65535", ErrInvalidEndpoint, ep, port)
	}
	return nil
}

// Endpoints returns a copy of the endpoints, in the order they are tried
// (duplicates removed).
func (c *Client) Endpoints() []string {
	return append([]string(nil), c.endpoints...)
}

// Close closes every connection. Calls in flight fail with codes.Canceled;
// later calls fail with ErrClosed. Close is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return nil
	}
	c.mu.closed = true
	var firstErr error
	for addr, cc := range c.mu.conns {
		if err := cc.Close(); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("close connection to %s: %w", addr, err)
		}
	}
	c.mu.conns = nil
	return firstErr
}

// conn returns the connection to addr, creating it (without dialing) on
// first use.
func (c *Client) conn(addr string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return nil, ErrClosed
	}
	if cc, ok := c.mu.conns[addr]; ok {
		return cc, nil
	}
	transportCreds := insecure.NewCredentials()
	if c.tls != nil {
		transportCreds = credentials.NewTLS(c.tls)
	}
	var opts []grpc.DialOption
	var tc *tokenCreds
	if c.user != "" || c.token != "" {
		tc = &tokenCreds{user: c.user, password: c.password, static: c.token, now: c.timing.clock()}
		opts = append(opts, grpc.WithPerRPCCredentials(tc))
	}
	cc, err := grpc.NewClient(addr, append(opts,
		grpc.WithTransportCredentials(transportCreds),
		// The client decides itself what may be retried (retry.go);
		// gRPC must never re-send a request on its own. Transparent
		// retries of streams the server provably did not process stay
		// on; they cannot apply a write twice.
		grpc.WithDisableRetry(),
		// Static flow-control windows, as the server's: gRPC's default
		// window estimate pings the server for nearly every reply that
		// arrives on an idle connection.
		grpc.WithStaticStreamWindowSize(streamWindow),
		grpc.WithStaticConnWindowSize(connWindow),
		grpc.WithStatsHandler(sendObserver{}),
		grpc.WithUnaryInterceptor(trailerInterceptor),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(c.maxMessageSize),
			grpc.MaxCallSendMsgSize(c.maxMessageSize),
		),
		grpc.WithConnectParams(grpc.ConnectParams{
			// Reconnect to a down node soon after it comes back:
			// gRPC's default backoff grows to 120s.
			Backoff: backoff.Config{
				BaseDelay:  100 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   2 * time.Second,
			},
			MinConnectTimeout: c.dialTimeout,
		}),
	)...)
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: create connection: %w", addr, err)
	}
	if tc != nil {
		tc.cc.Store(cc)
		c.mu.creds[addr] = tc
	}
	c.mu.conns[addr] = cc
	return cc, nil
}

// current returns the index of the endpoint requests go to.
func (c *Client) current() int { return int(c.cur.Load()) }

// advance moves requests from endpoint i to the next one, unless another
// goroutine has moved them already (so that two concurrent failures on the
// same endpoint skip one endpoint, not two).
func (c *Client) advance(i int) {
	next := (i + 1) % len(c.endpoints)
	c.cur.CompareAndSwap(uint32(i), uint32(next))
}
