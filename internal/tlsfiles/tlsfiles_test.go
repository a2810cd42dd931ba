package tlsfiles

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/metasrv/metasrv/internal/tlstest"
)

func TestLoad(t *testing.T) {
	ca := tlstest.NewCA(t)
	srv := ca.Issue(t, "server")
	other := ca.Issue(t, "other")
	expired := ca.IssueValid(t, "expired", time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a pem file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unreadable := filepath.Join(dir, "unreadable.pem")
	if err := os.WriteFile(unreadable, []byte("x"), 0o000); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name string
		load func() error
		want string // "" = no error
	}{
		{"server", func() error { _, err := Server(srv.CertFile, srv.KeyFile, ""); return err }, ""},
		{"server mutual", func() error { _, err := Server(srv.CertFile, srv.KeyFile, ca.CertFile); return err }, ""},
		{"client", func() error { _, err := Client(ca.CertFile, srv.CertFile, srv.KeyFile); return err }, ""},
		{"client CA only", func() error { _, err := Client(ca.CertFile, "", ""); return err }, ""},
		{"mutual", func() error { _, _, err := Mutual(srv.CertFile, srv.KeyFile, ca.CertFile); return err }, ""},
		{"missing cert", func() error { _, err := Server(missing, srv.KeyFile, ""); return err }, `certificate file "` + missing + `": no such file or directory`},
		{"missing key", func() error { _, err := Server(srv.CertFile, missing, ""); return err }, `private key file "` + missing + `": no such file`},
		{"unreadable key", func() error { _, err := Server(srv.CertFile, unreadable, ""); return err }, "permission denied"},
		{"missing CA", func() error { _, err := Server(srv.CertFile, srv.KeyFile, missing); return err }, `CA certificate file "` + missing + `"`},
		{"garbage cert", func() error { _, err := Server(garbage, srv.KeyFile, ""); return err }, "holds no PEM CERTIFICATE block"},
		{"garbage CA", func() error { _, err := Client(garbage, "", ""); return err }, "holds no PEM certificate"},
		{"mismatched key", func() error { _, err := Server(srv.CertFile, other.KeyFile, ""); return err }, "private key does not match public key"},
		{"expired", func() error { _, err := Server(expired.CertFile, expired.KeyFile, ""); return err }, "expired at"},
		{"mutual without CA", func() error { _, _, err := Mutual(srv.CertFile, srv.KeyFile, ""); return err }, "needs a CA file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "unreadable key" && os.Geteuid() == 0 {
				t.Skip("root reads any file")
			}
			err := tt.load()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			case err != nil && (!errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), "\n")):
				t.Fatalf("error %q: want one line wrapping ErrInvalid", err)
			}
		})
	}
}

// TestMutualHandshake checks that the configurations work together and
// refuse a client without a certificate or with one of another CA.
func TestMutualHandshake(t *testing.T) {
	ca := tlstest.NewCA(t)
	node := ca.Issue(t, "node")
	serverCfg, clientCfg, err := Mutual(node.CertFile, node.KeyFile, ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.(*tls.Conn).Handshake()
				_, _ = c.Write([]byte("ok"))
				c.Close()
			}()
		}
	}()
	dial := func(cfg *tls.Config) error {
		c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 2)
		_, err = c.Read(buf) // TLS 1.3: a refused client cert shows on read
		return err
	}
	if err := dial(clientCfg); err != nil {
		t.Fatalf("member: %v", err)
	}
	noCert, err := Client(ca.CertFile, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := dial(noCert); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	stranger := tlstest.NewCA(t)
	s := stranger.Issue(t, "stranger")
	strangerCfg, err := Client(ca.CertFile, s.CertFile, s.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := dial(strangerCfg); err == nil {
		t.Fatal("a client with a certificate of another CA was served")
	}
}
