package tlsfiles

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/metasrv/metasrv/internal/tlstest"
)

// install copies pair's files to cert and key, with a modification time
// that differs from any earlier one (the file system's clock may not
// tick between two writes).
func install(t *testing.T, p tlstest.Pair, cert, key string, n int) {
	t.Helper()
	for _, f := range [][2]string{{p.CertFile, cert}, {p.KeyFile, key}} {
		b, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
		mod := time.Now().Add(time.Duration(n) * time.Minute)
		if err := os.Chtimes(f[1], mod, mod); err != nil {
			t.Fatal(err)
		}
	}
}

// serial of the leaf certificate of pair's files.
func serial(t *testing.T, p tlstest.Pair) string {
	t.Helper()
	return p.TLS(t).Leaf.SerialNumber.String()
}

// handshake runs one TLS handshake between the two configurations and
// returns the serials of the certificates each side presented (the
// client's is "" when it presented none).
func handshake(t *testing.T, server, client *tls.Config) (serverSerial, clientSerial string) {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	sc, cc := tls.Server(a, server), tls.Client(b, client)
	errC := make(chan error, 1)
	go func() { errC <- sc.Handshake() }()
	if err := cc.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-errC; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	serverSerial = cc.ConnectionState().PeerCertificates[0].SerialNumber.String()
	if pc := sc.ConnectionState().PeerCertificates; len(pc) > 0 {
		clientSerial = pc[0].SerialNumber.String()
	}
	return serverSerial, clientSerial
}

// A rotated certificate is presented from the next handshake on, on both
// sides of mutual TLS; files that do not make a valid pair leave the
// previous one in use until they do.
func TestReload(t *testing.T) {
	ca := tlstest.NewCA(t)
	first, second, third := ca.Issue(t, "first"), ca.Issue(t, "second"), ca.Issue(t, "third")
	expired := ca.IssueValid(t, "expired", time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "node.pem"), filepath.Join(dir, "node-key.pem")
	install(t, first, cert, key, 0)

	o := func(o *options) { o.every = 0 } // check on every handshake
	server, client, err := Mutual(cert, key, ca.CertFile, o)
	if err != nil {
		t.Fatal(err)
	}
	client.ServerName = "localhost"
	check := func(step string, want tlstest.Pair) {
		t.Helper()
		s, c := handshake(t, server, client)
		if w := serial(t, want); s != w || c != w {
			t.Fatalf("%s: server presented %s, client %s; want %s on both", step, s, c, w)
		}
	}
	check("at start", first)

	install(t, second, cert, key, 1)
	check("after the rotation", second)

	// A certificate with the old key: not a pair. The previous one stays.
	b, err := os.ReadFile(third.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cert, b, 0o600); err != nil {
		t.Fatal(err)
	}
	mod := time.Now().Add(2 * time.Minute)
	if err := os.Chtimes(cert, mod, mod); err != nil {
		t.Fatal(err)
	}
	check("with the certificate written but not its key yet", second)
	// Then its key: the new pair.
	b, err = os.ReadFile(third.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(key, mod, mod); err != nil {
		t.Fatal(err)
	}
	check("once the key follows", third)

	install(t, expired, cert, key, 3)
	check("after an expired certificate was installed", third)
	if err := os.Remove(cert); err != nil {
		t.Fatal(err)
	}
	check("after the certificate file was removed", third)
}

// Without the test's interval, files are checked at most once a second.
func TestReloadInterval(t *testing.T) {
	ca := tlstest.NewCA(t)
	first, second := ca.Issue(t, "first"), ca.Issue(t, "second")
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	install(t, first, cert, key, 0)
	p, err := newKeyPair(cert, key, newOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	install(t, second, cert, key, 1)
	leaf := func() string { return p.current().Leaf.SerialNumber.String() }
	if got := leaf(); got != serial(t, first) {
		t.Fatalf("right after the rotation: %s, want the first pair %s (checked at most every %v)", got, serial(t, first), reloadCheckInterval)
	}
	p.mu.Lock()
	p.checked = p.checked.Add(-reloadCheckInterval)
	p.mu.Unlock()
	if got := leaf(); got != serial(t, second) {
		t.Fatalf("a check interval later: %s, want the second pair %s", got, serial(t, second))
	}
}

// A rotated certificate that is not valid yet (its issuer's clock is a
// little ahead) is presented once it is, without another change to the
// files.
func TestReloadNotValidYet(t *testing.T) {
	ca := tlstest.NewCA(t)
	first := ca.Issue(t, "first")
	soon := ca.IssueValid(t, "soon", time.Now().Add(1500*time.Millisecond), time.Now().Add(time.Hour))
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	install(t, first, cert, key, 0)
	var clock atomic.Int64 // the reload's clock, moved by the test
	clock.Store(time.Now().UnixNano())
	o := newOptions(nil)
	o.every = 0
	o.now = func() time.Time { return time.Unix(0, clock.Load()) }
	p, err := newKeyPair(cert, key, o)
	if err != nil {
		t.Fatal(err)
	}
	install(t, soon, cert, key, 1)
	leaf := func() string { return p.current().Leaf.SerialNumber.String() }
	if got := leaf(); got != serial(t, first) {
		t.Fatalf("before the new certificate is valid: %s, want the first pair %s", got, serial(t, first))
	}
	clock.Add(int64(1600 * time.Millisecond))
	if got := leaf(); got != serial(t, soon) {
		t.Fatalf("once the new certificate is valid: %s, want %s", got, serial(t, soon))
	}
}
