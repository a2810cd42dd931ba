package databendapi

import (
	"context"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/api/databendpb"
	"github.com/metasrv/metasrv/internal/auth"
	"github.com/metasrv/metasrv/internal/grpcapi"
)

// Authenticator issues and checks the tokens of the Databend face
// (implemented by *auth.Authenticator). Called concurrently from gRPC
// goroutines. Every error wraps one of auth's sentinels.
type Authenticator interface {
	// Handshake checks user's password and issues a token.
	Handshake(user, password string) (auth.Token, error)
	// VerifyToken returns the user a token was issued to.
	VerifyToken(token string) (string, error)
}

// TokenKey is the binary gRPC metadata in which Databend's client sends
// the token of its Handshake with every later call.
const TokenKey = "auth-token-bin"

// OpenTokenTTL is the lifetime of the tokens of a node without [auth]:
// 3650 days, as databend-meta's. Databend's client never renews a token:
// it handshakes again on each new connection, and replaces its
// connections every 20 seconds by default.
const OpenTokenTTL = 3650 * 24 * time.Hour

// NewOpenAuthenticator returns the Authenticator of a node without
// [auth]. As databend-meta does, its Handshake gives user root a token
// whatever the password and refuses every other user; its tokens are
// signed with a key drawn now, so they are valid on this node until it
// restarts (a new connection handshakes again).
func NewOpenAuthenticator() (*auth.Authenticator, error) {
	return auth.New(auth.Config{OpenUsers: []string{"root"}, TokenTTL: OpenTokenTTL})
}

// TokenPolicy says which calls of meta.MetaService need a token.
type TokenPolicy int

const (
	// TokenAsDatabend asks for a token where databend-meta does: KvApi,
	// KvReadV1, KvList, KvGetMany, Transaction, KvTransaction and
	// MemberList. Watch, Export, ExportV1, SnapshotKeysLayout,
	// GetClusterStatus and GetClientInfo need none. For a node without
	// [auth].
	TokenAsDatabend TokenPolicy = iota
	// TokenEveryCall asks for a token on every call but Handshake. For a
	// node with [auth]: no data leaves it unauthenticated.
	TokenEveryCall
)

// databendChecked are the methods databend-meta checks the token of.
var databendChecked = map[string]bool{
	databendpb.MetaService_KvApi_FullMethodName:         true,
	databendpb.MetaService_KvReadV1_FullMethodName:      true,
	databendpb.MetaService_KvList_FullMethodName:        true,
	databendpb.MetaService_KvGetMany_FullMethodName:     true,
	databendpb.MetaService_Transaction_FullMethodName:   true,
	databendpb.MetaService_KvTransaction_FullMethodName: true,
	databendpb.MetaService_MemberList_FullMethodName:    true,
}

// ServiceName is the full name of Databend's service, meta.MetaService.
var ServiceName = databendpb.MetaService_ServiceDesc.ServiceName

// servicePrefix starts the full method name of every call of the face.
var servicePrefix = "/" + ServiceName + "/"

// ServerOptions returns the interceptors that refuse, with
// codes.Unauthenticated and before the handler runs, the calls of
// meta.MetaService that policy says need a token and carry no valid one
// in TokenKey. They leave every other service alone: serve the native
// face with grpcapi.AuthServerOptions(a, ServiceName) beside them. a must
// be the Authenticator of the Service that issues the tokens.
func ServerOptions(a Authenticator, policy TokenPolicy) []grpc.ServerOption {
	return grpcapi.CheckServerOptions(func(ctx context.Context, fullMethod string) error {
		if !needsToken(fullMethod, policy) {
			return nil
		}
		return checkToken(ctx, a)
	})
}

func needsToken(fullMethod string, policy TokenPolicy) bool {
	switch {
	case !strings.HasPrefix(fullMethod, servicePrefix), fullMethod == databendpb.MetaService_Handshake_FullMethodName:
		return false
	case policy == TokenEveryCall:
		return true
	}
	return databendChecked[fullMethod]
}

// checkToken verifies the token of one call.
func checkToken(ctx context.Context, a Authenticator) error {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(TokenKey) // gRPC has decoded the binary value
	if len(vals) == 0 || vals[0] == "" {
		return status.Errorf(codes.Unauthenticated, "%s is empty: call Handshake first and send the token it returns as the binary metadata %s of every call", TokenKey, TokenKey)
	}
	if _, err := a.VerifyToken(vals[0]); err != nil {
		return status.Errorf(codes.Unauthenticated, "%s refused: %v: call Handshake for a new token", TokenKey, err)
	}
	return nil
}
