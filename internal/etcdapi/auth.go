package etcdapi

import (
	"context"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/internal/auth"
	"github.com/metasrv/metasrv/internal/grpcapi"
)

// Authenticator holds the users of [auth] (implemented by
// *auth.Authenticator). Called concurrently from gRPC goroutines; every
// error wraps one of auth's sentinels.
type Authenticator interface {
	// Handshake checks user's password and issues a token.
	Handshake(user, password string) (auth.Token, error)
	// VerifyToken returns the user a token was issued to.
	VerifyToken(token string) (string, error)
	// Authenticate checks an authorization value, "Bearer <token>" or
	// "Basic base64(user:password)", and returns the user.
	Authenticate(authorization string) (string, error)
}

// TokenKey is the metadata etcd's clients send the token of
// Authenticate in (rpctypes.TokenFieldNameGRPC).
var TokenKey = rpctypes.TokenFieldNameGRPC

// usersHint says where metasrv's users come from, in the refusals of the
// Auth calls that manage them in etcd.
const usersHint = "metasrv's users are configured in the config file ([auth] users, with password hashes from `databend-metactl hash-password`) and all have full rights; there are no roles"

// authService serves etcdserverpb.Auth's Authenticate and AuthStatus on
// metasrv's users; the rest (users, roles, enabling auth) answer
// Unimplemented with usersHint.
type authService struct {
	pb.UnimplementedAuthServer
	s *Service
}

// Authenticate exchanges a user's password for a token, which etcd's
// clients send in the metadata "token". Without [auth] it answers etcd's
// ErrAuthNotEnabled, which clientv3 takes as "send no token".
func (a *authService) Authenticate(_ context.Context, req *pb.AuthenticateRequest) (*pb.AuthenticateResponse, error) {
	if a.s.cfg.Auth == nil {
		return nil, rpctypes.ErrGRPCAuthNotEnabled
	}
	tok, err := a.s.cfg.Auth.Handshake(req.GetName(), req.GetPassword())
	if err != nil {
		return nil, rpctypes.ErrGRPCAuthFailed
	}
	return &pb.AuthenticateResponse{Header: a.s.header(a.s.srv.Status().GetRevision()), Token: tok.Token}, nil
}

// AuthStatus says whether [auth] is enabled. Users and their rights
// change only with the config file, so the auth revision is always 1.
func (a *authService) AuthStatus(context.Context, *pb.AuthStatusRequest) (*pb.AuthStatusResponse, error) {
	out := &pb.AuthStatusResponse{Header: a.s.header(a.s.srv.Status().GetRevision())}
	if a.s.cfg.Auth != nil {
		out.Enabled, out.AuthRevision = true, 1
	}
	return out, nil
}

// ServerOptions returns the interceptors that authenticate every call of
// etcd's services, with [auth] enabled, before its handler runs, except
// Authenticate and AuthStatus: from the metadata "token" (TokenKey: a
// token from Authenticate or from the native Handshake, as clientv3 and
// etcdctl --user send it), else "authorization" as on the native face.
// A call with neither is refused with etcd's ErrUserEmpty and a token
// that is not valid (expired, or signed by another node) with
// ErrInvalidAuthToken: clientv3 with a user and password then
// authenticates again and retries. They leave every other service alone:
// serve the native face with grpcapi.AuthServerOptions(a, ServiceNames...)
// beside them.
func ServerOptions(a Authenticator) []grpc.ServerOption {
	return grpcapi.CheckServerOptions(func(ctx context.Context, fullMethod string) error {
		if !needsAuth(fullMethod) {
			return nil
		}
		return checkCall(ctx, a)
	})
}

// needsAuth reports whether a method is one of etcd's that needs
// credentials.
func needsAuth(fullMethod string) bool {
	switch fullMethod {
	case pb.Auth_Authenticate_FullMethodName, pb.Auth_AuthStatus_FullMethodName:
		return false
	}
	for _, svc := range ServiceNames {
		if strings.HasPrefix(fullMethod, "/"+svc+"/") {
			return true
		}
	}
	return false
}

// checkCall authenticates one call from its incoming metadata.
func checkCall(ctx context.Context, a Authenticator) error {
	md, _ := metadata.FromIncomingContext(ctx)
	if vals := md.Get(TokenKey); len(vals) > 0 && vals[0] != "" {
		if _, err := a.VerifyToken(vals[0]); err != nil {
			return rpctypes.ErrGRPCInvalidAuthToken
		}
		return nil
	}
	vals := md.Get(grpcapi.AuthorizationKey)
	if len(vals) == 0 || vals[0] == "" {
		return rpctypes.ErrGRPCUserEmpty
	}
	if _, err := a.Authenticate(vals[0]); err != nil {
		return status.Errorf(codes.Unauthenticated, "%v: give etcdctl --user NAME:PASSWORD, or clientv3 a Username and Password, or send the metadata \"authorization: Bearer <token>\"", err)
	}
	return nil
}
