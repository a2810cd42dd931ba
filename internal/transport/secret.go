package transport

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	grpcpeer "google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// SecretMetadataKey is the gRPC metadata key that carries raft_secret on
// every call to the raft port.
const SecretMetadataKey = "metasrv-raft-secret"

// SecretCredentials returns per-call credentials that send secret with
// every call; dial peers with grpc.WithPerRPCCredentials(it). It does not
// require TLS: without raft TLS the secret travels in the clear.
func SecretCredentials(secret string) credentials.PerRPCCredentials {
	return secretCreds(secret)
}

type secretCreds string

func (s secretCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{SecretMetadataKey: string(s)}, nil
}

func (secretCreds) RequireTransportSecurity() bool { return false }

// SecretServerOptions returns the options of a gRPC server on the raft
// port that refuse, with codes.Unauthenticated, every call (unary or
// stream) not carrying secret, before its handler runs: nothing such a
// caller sends reaches raft or changes membership. The comparison takes
// the same time whatever the secret sent. Refusals are logged at WARN with
// the caller's address. An empty secret checks nothing (no options).
func SecretServerOptions(secret string, lg *slog.Logger) []grpc.ServerOption {
	if secret == "" {
		return nil
	}
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	c := secretChecker{want: sha256.Sum256([]byte(secret)), lg: lg}
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			if err := c.check(ctx, info.FullMethod); err != nil {
				return nil, err
			}
			return handler(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			if err := c.check(ss.Context(), info.FullMethod); err != nil {
				return err
			}
			return handler(srv, ss)
		}),
	}
}

type secretChecker struct {
	want [sha256.Size]byte
	lg   *slog.Logger
}

// check returns nil if the call's metadata carries the secret, else a
// codes.Unauthenticated status.
func (c secretChecker) check(ctx context.Context, method string) error {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(SecretMetadataKey)
	if len(vals) == 1 {
		// Hashing first makes the comparison independent of the length
		// of what was sent.
		got := sha256.Sum256([]byte(vals[0]))
		if subtle.ConstantTimeCompare(got[:], c.want[:]) == 1 {
			return nil
		}
	}
	addr := ""
	if p, ok := grpcpeer.FromContext(ctx); ok && p.Addr != nil {
		addr = p.Addr.String()
		if host, _, err := net.SplitHostPort(addr); err == nil {
			addr = host
		}
	}
	c.lg.Warn("refused a call on the raft port without this cluster's raft_secret", "method", method, "from", addr, "sent_secret", len(vals) > 0)
	return status.Errorf(codes.Unauthenticated, "%v: give every node the same raft_config.raft_secret (or METASRV_RAFT_SECRET)", ErrBadSecret)
}
