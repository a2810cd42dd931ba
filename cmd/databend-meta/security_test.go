package main

import (
	"errors"
	"io"
	"log/slog"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/metasrv/metasrv/internal/auth"
	"github.com/metasrv/metasrv/internal/config"
)

// Databend's face gets an Authenticator either way: the users of [auth],
// or root with any password (as databend-meta) without it.
func TestDatabendAuth(t *testing.T) {
	lg := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := config.Default()
	s, err := newSecurity(cfg, lg)
	if err != nil {
		t.Fatal(err)
	}
	if s.auth != nil || s.databendAuth == nil {
		t.Fatalf("without [auth]: auth %v, databendAuth %v; want none and an open one", s.auth, s.databendAuth)
	}
	if _, err := s.databendAuth.Handshake("root", "anything"); err != nil {
		t.Fatalf("without [auth], root: %v", err)
	}
	if _, err := s.databendAuth.Handshake("bob", "anything"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("without [auth], bob: %v, want ErrBadCredentials", err)
	}

	hash, err := auth.HashPassword("pw", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Auth.Enabled = true
	cfg.Auth.Users = []config.UserConfig{{Name: "root", PasswordHash: hash}}
	s, err = newSecurity(cfg, lg)
	if err != nil {
		t.Fatal(err)
	}
	if s.databendAuth != s.auth {
		t.Fatal("with [auth], Databend's face must check the same users")
	}
	if _, err := s.databendAuth.Handshake("root", "anything"); !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("with [auth], a wrong password: %v, want ErrBadCredentials", err)
	}
}
