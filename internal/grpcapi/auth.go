package grpcapi

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/auth"
)

// Authenticator checks the credentials of callers of the public API
// (implemented by *auth.Authenticator). Called concurrently from gRPC
// goroutines. Every error wraps one of auth's sentinels.
type Authenticator interface {
	// Handshake checks user's password and issues a token.
	Handshake(user, password string) (auth.Token, error)
	// Authenticate checks an authorization value: "Bearer <token>" or
	// "Basic base64(user:password)". It returns the user.
	Authenticate(authorization string) (string, error)
}

// AuthorizationKey is the gRPC metadata key that carries credentials:
// "Bearer <token>" from Handshake, or "Basic base64(user:password)".
const AuthorizationKey = "authorization"

// unauthenticatedHint ends every refusal of the interceptors.
const unauthenticatedHint = "call Handshake with a user and password and send the token as the metadata \"authorization: Bearer <token>\"; with databend-metactl give --user and --password (or --token)"

// exempt reports whether a method is served without credentials:
// Handshake, which is how credentials are obtained, the gRPC health
// service, which load balancers and orchestrators probe, and the methods
// of otherFaces, whose own interceptors check them.
func exempt(fullMethod string, otherFaces []string) bool {
	if fullMethod == metapb.Meta_Handshake_FullMethodName || strings.HasPrefix(fullMethod, "/grpc.health.v1.Health/") {
		return true
	}
	for _, svc := range otherFaces {
		if strings.HasPrefix(fullMethod, "/"+svc+"/") {
			return true
		}
	}
	return false
}

// AuthServerOptions returns the options of the public gRPC server that
// refuse every call without valid credentials (see Authenticator) with
// codes.Unauthenticated, before its handler runs, except Handshake, the
// health service and the services named in otherFaces (full names, such
// as "meta.MetaService"), which carry credentials their own way and are
// checked by their own interceptors. Chain it after the metrics
// interceptors, so that refused calls are counted.
func AuthServerOptions(a Authenticator, otherFaces ...string) []grpc.ServerOption {
	return CheckServerOptions(func(ctx context.Context, fullMethod string) error {
		if exempt(fullMethod, otherFaces) {
			return nil
		}
		return checkCall(ctx, a)
	})
}

// CheckServerOptions returns a unary and a stream server interceptor that
// call check with each call's context and full method name before its
// handler runs; when check returns an error (a status error), the call
// fails with it and the handler does not run. Each face of the public API
// builds its authentication on it.
func CheckServerOptions(check func(ctx context.Context, fullMethod string) error) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			if err := check(ctx, info.FullMethod); err != nil {
				return nil, err
			}
			return handler(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			if err := check(ss.Context(), info.FullMethod); err != nil {
				return err
			}
			return handler(srv, ss)
		}),
	}
}

// checkCall authenticates one call from its incoming metadata.
func checkCall(ctx context.Context, a Authenticator) error {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(AuthorizationKey)
	value := ""
	if len(vals) > 0 {
		value = vals[0]
	}
	if _, err := a.Authenticate(value); err != nil {
		return status.Errorf(codes.Unauthenticated, "%v: %s", err, unauthenticatedHint)
	}
	return nil
}

// Handshake exchanges a user's password for a token. A node without
// authentication answers an empty token: the client sends nothing.
func (m *Meta) Handshake(_ context.Context, req *metapb.HandshakeRequest) (*metapb.HandshakeReply, error) {
	if m.auth == nil {
		return &metapb.HandshakeReply{}, nil
	}
	tok, err := m.auth.Handshake(req.GetUser(), req.GetPassword())
	if err != nil {
		return nil, toStatus(err)
	}
	return &metapb.HandshakeReply{
		Token:       tok.Token,
		ExpiresAtMs: uint64(tok.ExpiresAt.UnixMilli()),
		TtlMs:       uint64(tok.TTL.Milliseconds()),
	}, nil
}
