package main

import (
	"bytes"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/metasrv/metasrv/internal/admin"
	"github.com/metasrv/metasrv/internal/auth"
	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/tlsfiles"
	"github.com/metasrv/metasrv/internal/tlstest"
)

// runWithStdin runs the command line in-process with stdin; it returns
// stdout and the command's error.
func runWithStdin(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	a := &app{}
	root := newRootCmd(a)
	var out bytes.Buffer
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	a.close()
	return out.String(), err
}

func TestHashPassword(t *testing.T) {
	for _, in := range []string{"s3cret", "s3cret\n", "s3cret\r\n"} {
		out, err := runWithStdin(t, in, "hash-password", "--cost", "4")
		if err != nil {
			t.Fatalf("stdin %q: %v", in, err)
		}
		hash := strings.TrimSpace(out)
		if bcrypt.CompareHashAndPassword([]byte(hash), []byte("s3cret")) != nil {
			t.Fatalf("stdin %q: %q is not the hash of s3cret", in, hash)
		}
	}
	for _, tt := range []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"empty", "", nil, "no password on stdin"},
		{"two lines", "a\nb\n", nil, "several lines"},
		{"too long", strings.Repeat("x", 73), nil, "at most 72"},
		{"cost too low", "pw", []string{"--cost", "3"}, "invalid --cost"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runWithStdin(t, tt.stdin, append([]string{"hash-password"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestSecurityFlags(t *testing.T) {
	ca := tlstest.NewCA(t)
	srv, cli := ca.Issue(t, "server"), ca.Issue(t, "client")
	serverTLS, err := tlsfiles.Server(srv.CertFile, srv.KeyFile, ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := auth.HashPassword("pw", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(auth.Config{Users: []auth.User{{Name: "root", PasswordHash: hash}}})
	if err != nil {
		t.Fatal(err)
	}
	c := clustertest.New(t, 1, clustertest.Options{ManualTicks: true})
	grpcAddr := c.ServePublic(c.Node(1), clustertest.ServeOptions{TLS: serverTLS, Auth: a})
	// Served as databend-meta serves it, not by httptest's StartTLS, which
	// would present its own certificate to clients that send no server
	// name (tlsfiles hands out the certificate from GetCertificate).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adm := &http.Server{Handler: admin.Handler(c.Node(1).Server, nil, admin.Options{
		Authorize: func(r *http.Request) error { _, err := a.Authenticate(r.Header.Get("Authorization")); return err },
	}), TLSConfig: serverTLS.Clone(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = adm.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = adm.Close() })
	adminAddr := ln.Addr().String()
	admURL := "https://" + adminAddr

	tlsFlags := []string{"--tls-ca", ca.CertFile, "--tls-cert", cli.CertFile, "--tls-key", cli.KeyFile, "--timeout", "5s"}
	for _, tt := range []struct {
		name string
		env  string // METASRV_PASSWORD
		args []string
		code int
		want string // in stdout (code 0) or stderr
	}{
		{"user without password", "", []string{"--user", "root", "get", "--key", "k"}, exitUsage, "needs a password"},
		{"password without user", "", []string{"--password", "pw", "get", "--key", "k"}, exitUsage, "--password needs --user"},
		{"user and token", "", []string{"--user", "root", "--password", "pw", "--token", "t", "get", "--key", "k"}, exitUsage, "not both"},
		{"cert without key", "", []string{"--tls-ca", ca.CertFile, "--tls-cert", cli.CertFile, "get", "--key", "k"}, exitUsage, "--tls-key"},
		{"missing CA file", "", []string{"--tls-ca", "/nonexistent.pem", "get", "--key", "k"}, exitUsage, "/nonexistent.pem"},
		{"no credentials", "", append(slices.Clone(tlsFlags), "--grpc-api-address", grpcAddr, "get", "--key", "k"), exitError, "--user"},
		{"wrong password", "", append(slices.Clone(tlsFlags), "--grpc-api-address", grpcAddr, "--user", "root", "--password", "no", "upsert", "--key", "k", "--value", "v"), exitError, "wrong user name or password"},
		{"password from the environment", "pw", append(slices.Clone(tlsFlags), "--grpc-api-address", grpcAddr, "--user", "root", "upsert", "--key", "k", "--value", "v"), exitOK, "applied: true"},
		// keys-layout calls Databend's service, with the same token.
		{"keys-layout with credentials", "pw", append(slices.Clone(tlsFlags), "--grpc-api-address", grpcAddr, "--user", "root", "keys-layout"), exitOK, " 1\n"},
		{"keys-layout without credentials", "", append(slices.Clone(tlsFlags), "--grpc-api-address", grpcAddr, "keys-layout"), exitError, "Unauthenticated"},
		{"admin without credentials", "", append(slices.Clone(tlsFlags), "trigger-snapshot", "--admin-api-address", adminAddr), exitError, "HTTP 401"},
		{"admin with credentials", "pw", append(slices.Clone(tlsFlags), "--user", "root", "trigger-snapshot", "--admin-api-address", adminAddr), exitOK, "triggered snapshot successfully."},
		{"admin with an https URL", "pw", append(slices.Clone(tlsFlags), "--user", "root", "trigger-snapshot", "--admin-api-address", admURL), exitOK, "triggered snapshot successfully."},
		{"admin over plain http", "pw", append(slices.Clone(tlsFlags), "--user", "root", "trigger-snapshot", "--admin-api-address", "http://"+adminAddr), exitError, "admin API"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvPassword, tt.env)
			stdout, stderr, code := runCLI(t, tt.args...)
			got := stderr
			if tt.code == exitOK {
				got = stdout
			}
			if code != tt.code || !strings.Contains(got, tt.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d with %q", code, stdout, stderr, tt.code, tt.want)
			}
		})
	}
}
