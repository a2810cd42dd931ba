// Package tlsfiles builds TLS configurations from PEM files named in the
// configuration (grpc_tls_*, admin_tls_*, raft_config.raft_tls_*). Every
// file is read and checked when the configuration is built, at start-up,
// so that a missing, unreadable, malformed, mismatched or expired file
// stops the node with one line naming the file, instead of failing the
// first handshake.
//
// A certificate and its key are read again when either file changes
// (checked on a handshake, at most once a second; see keyPair), so that
// rotating them needs no restart, as with etcd. A pair that fails to load
// then is logged and the previous one goes on being presented. CA files
// are read once: to change a CA, restart the node.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"
)

// ErrInvalid is wrapped by every error of this package.
var ErrInvalid = errors.New("invalid TLS file")

// Option configures what Server, Client and Mutual build.
type Option func(*options)

type options struct {
	lg    *slog.Logger
	every time.Duration // how often, at most, a pair's files are checked
	// now is the clock that says whether a certificate is valid yet and
	// when a pair's files are due for a check: time.Now; tests set
	// another.
	now func() time.Time
}

// WithLogger has reloads of certificates logged to lg (default: discarded).
func WithLogger(lg *slog.Logger) Option { return func(o *options) { o.lg = lg } }

func newOptions(opts []Option) options {
	o := options{lg: slog.New(slog.DiscardHandler), every: reloadCheckInterval, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Server returns the configuration of a TLS server presenting the
// certificate in certFile with the private key in keyFile. If clientCAFile
// is not empty, the server requires every client to present a certificate
// signed by a CA in that file (mutual TLS).
func Server(certFile, keyFile, clientCAFile string, opts ...Option) (*tls.Config, error) {
	pair, err := newKeyPair(certFile, keyFile, newOptions(opts))
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: pair.serverCert}
	if clientCAFile != "" {
		pool, err := loadPool(clientCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// Client returns the configuration of a TLS client that verifies servers
// with the CAs in caFile (empty: the system's roots) and, if certFile is
// not empty, presents that certificate with keyFile (for mutual TLS).
func Client(caFile, certFile, keyFile string, opts ...Option) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := loadPool(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		pair, err := newKeyPair(certFile, keyFile, newOptions(opts))
		if err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = pair.clientCert
	}
	return cfg, nil
}

// Mutual returns both sides of mutual TLS with one CA, as between the
// nodes of a cluster: the server requires a client certificate signed by
// caFile, the client verifies the server with caFile, and both present
// certFile with keyFile.
func Mutual(certFile, keyFile, caFile string, opts ...Option) (server, client *tls.Config, err error) {
	if caFile == "" {
		return nil, nil, fmt.Errorf("%w: mutual TLS needs a CA file", ErrInvalid)
	}
	if server, err = Server(certFile, keyFile, caFile, opts...); err != nil {
		return nil, nil, err
	}
	if client, err = Client(caFile, certFile, keyFile, opts...); err != nil {
		return nil, nil, err
	}
	return server, client, nil
}

// readFile reads a file, with an error naming what it should hold.
func readFile(what, path string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: no %s file given", ErrInvalid, what)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%w: %s file %q: %v", ErrInvalid, what, path, err)
	}
	return b, nil
}

// loadPair loads a certificate and its key and checks that they match and
// that the certificate is valid now.
func loadPair(certFile, keyFile string, now time.Time) (tls.Certificate, error) {
	certPEM, err := readFile("certificate", certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := readFile("private key", keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	if !hasBlock(certPEM, "CERTIFICATE") {
		return tls.Certificate{}, fmt.Errorf("%w: certificate file %q holds no PEM CERTIFICATE block", ErrInvalid, certFile)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: certificate %q with key %q: %v: give the PEM certificate and the private key it was issued for",
			ErrInvalid, certFile, keyFile, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return tls.Certificate{}, fmt.Errorf("%w: certificate %q: %v", ErrInvalid, certFile, err)
		}
		cert.Leaf = leaf
	}
	if err := checkValidity(certFile, leaf, now); err != nil {
		return tls.Certificate{}, err
	}
	return cert, nil
}

// loadPool loads the CA certificates of a file.
func loadPool(caFile string) (*x509.CertPool, error) {
	b, err := readFile("CA certificate", caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%w: CA file %q holds no PEM certificate", ErrInvalid, caFile)
	}
	return pool, nil
}

func checkValidity(file string, c *x509.Certificate, now time.Time) error {
	switch {
	case now.After(c.NotAfter):
		return fmt.Errorf("%w: certificate %q expired at %s: renew it", ErrInvalid, file, c.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(c.NotBefore):
		return fmt.Errorf("%w: certificate %q is not valid before %s: check the clock or the certificate", ErrInvalid, file, c.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

func hasBlock(b []byte, typ string) bool {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return false
		}
		if blk.Type == typ {
			return true
		}
	}
}
