package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/metasrv/metasrv/internal/auth"
	"github.com/metasrv/metasrv/internal/config"
	"github.com/metasrv/metasrv/internal/publicapi"
	"github.com/metasrv/metasrv/internal/tlsfiles"
	"github.com/metasrv/metasrv/internal/transport"
)

// security is what the TLS, raft_secret and auth settings turn into. Every
// file is read by newSecurity, so a bad one stops the node at start-up.
type security struct {
	// publicServer are the public gRPC server's options: TLS credentials
	// (publicapi adds the authentication interceptors of auth).
	publicServer []grpc.ServerOption
	// adminTLS serves the admin API over HTTPS; nil: plain HTTP.
	adminTLS *tls.Config
	// raftServer are the raft port's server options: mutual TLS and the
	// raft_secret check.
	raftServer []grpc.ServerOption
	// raftDial dial peers: the transport and the membership client.
	raftDial []grpc.DialOption
	// auth authenticates users; nil when auth is disabled.
	auth *auth.Authenticator
	// summary describes the settings in a few words, for the start-up line.
	summary string
}

// newSecurity builds the security settings of cfg. Errors are one line
// naming the config keys involved.
func newSecurity(cfg config.Config, lg *slog.Logger) (*security, error) {
	s := &security{}
	var words []string

	if cfg.GrpcTLSServerCert != "" {
		t, err := tlsfiles.Server(cfg.GrpcTLSServerCert, cfg.GrpcTLSServerKey, cfg.GrpcTLSClientCA, tlsfiles.WithLogger(lg))
		if err != nil {
			return nil, fmt.Errorf("grpc_tls_server_cert, grpc_tls_server_key, grpc_tls_client_ca: %w", err)
		}
		s.publicServer = append(s.publicServer, grpc.Creds(credentials.NewTLS(t)))
		if cfg.GrpcTLSClientCA != "" {
			words = append(words, "grpc mutual TLS")
		} else {
			words = append(words, "grpc TLS")
		}
	}
	if cfg.AdminTLSServerCert != "" {
		t, err := tlsfiles.Server(cfg.AdminTLSServerCert, cfg.AdminTLSServerKey, "", tlsfiles.WithLogger(lg))
		if err != nil {
			return nil, fmt.Errorf("admin_tls_server_cert, admin_tls_server_key: %w", err)
		}
		s.adminTLS = t
		words = append(words, "admin TLS")
	}

	raftTLS, raftDial, err := raftSecurity(cfg, tlsfiles.WithLogger(lg))
	if err != nil {
		return nil, err
	}
	s.raftDial = raftDial
	s.raftServer = append(s.raftServer, transport.SecretServerOptions(cfg.Raft.RaftSecret, lg)...)
	if raftTLS != nil {
		s.raftServer = append(s.raftServer, grpc.Creds(credentials.NewTLS(raftTLS)))
		words = append(words, "raft mutual TLS")
	}
	if cfg.Raft.RaftSecret != "" {
		words = append(words, "raft secret")
	}

	if cfg.Auth.Enabled {
		users := make([]auth.User, len(cfg.Auth.Users))
		for i, u := range cfg.Auth.Users {
			users[i] = auth.User{Name: u.Name, PasswordHash: u.PasswordHash}
		}
		a, err := auth.New(auth.Config{Users: users, TokenSecret: []byte(cfg.Auth.TokenSecret), TokenTTL: cfg.TokenTTL()})
		if err != nil {
			return nil, fmt.Errorf("[auth]: %w", err)
		}
		s.auth = a
		if len(users) == 1 {
			words = append(words, "auth (1 user)")
		} else {
			words = append(words, fmt.Sprintf("auth (%d users)", len(users)))
		}
		if cfg.GrpcTLSServerCert == "" {
			lg.Warn("auth is enabled but the gRPC API is plaintext: passwords and tokens can be read off the network; set grpc_tls_server_cert and grpc_tls_server_key")
		}
		if cfg.Auth.TokenSecret == "" {
			lg.Info("auth.token_secret is not set: tokens are valid on this node only and until it restarts; clients renew them by themselves")
		}
	}
	if cfg.Raft.RaftSecret != "" && raftTLS == nil {
		lg.Info("raft_secret is set without raft TLS: it travels in the clear on the raft port; set raft_tls_cert, raft_tls_key and raft_tls_ca to encrypt peer traffic")
	}

	if len(words) == 0 {
		s.summary = "no TLS, no auth"
	} else {
		s.summary = strings.Join(words, ", ")
	}
	return s, nil
}

// raftSecurity returns the raft port's server TLS configuration (nil:
// plaintext) and the options to dial peers with: mutual TLS and
// raft_secret. --leave-via uses it too. opts go to tlsfiles.
func raftSecurity(cfg config.Config, opts ...tlsfiles.Option) (*tls.Config, []grpc.DialOption, error) {
	var dial []grpc.DialOption
	var serverTLS *tls.Config
	if r := cfg.Raft; r.RaftTLSCert != "" {
		srv, cli, err := tlsfiles.Mutual(r.RaftTLSCert, r.RaftTLSKey, r.RaftTLSCA, opts...)
		if err != nil {
			return nil, nil, fmt.Errorf("raft_config.raft_tls_cert, raft_tls_key, raft_tls_ca: %w", err)
		}
		serverTLS = srv
		dial = append(dial, grpc.WithTransportCredentials(credentials.NewTLS(cli)))
	}
	if cfg.Raft.RaftSecret != "" {
		dial = append(dial, grpc.WithPerRPCCredentials(transport.SecretCredentials(cfg.Raft.RaftSecret)))
	}
	return serverTLS, dial, nil
}

// adminAuthorize is admin.Options.Authorize: nil when auth is disabled.
func (s *security) adminAuthorize() func(*http.Request) error {
	if s.auth == nil {
		return nil
	}
	return func(r *http.Request) error {
		_, err := s.auth.Authenticate(r.Header.Get("Authorization"))
		return err
	}
}

// publicAuth is the Authenticator of the public faces; nil when auth is
// disabled.
func (s *security) publicAuth() publicapi.Authenticator {
	if s.auth == nil {
		return nil
	}
	return s.auth
}
