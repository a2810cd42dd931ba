package tlsfiles

import (
	"crypto/tls"
	"os"
	"sync"
	"time"
)

// reloadCheckInterval is how often, at most, a handshake checks whether a
// certificate or key file changed.
const reloadCheckInterval = time.Second

// keyPair is a certificate and its private key, read from their files
// and read again, on a handshake, once either file changed (its size or
// modification time). A pair that fails to load (a file half written, a
// key that does not match yet, a certificate not valid yet or expired) is
// logged once and the previous one is kept; it is tried again at every
// check until it loads or the files change back, so that writing the
// certificate and then the key, or a certificate valid from a minute
// ahead of this clock, ends in the new pair.
type keyPair struct {
	certFile, keyFile string
	o                 options

	mu      sync.Mutex
	cert    *tls.Certificate
	loaded  [2]fileStamp // the files' when cert was loaded
	failed  [2]fileStamp // the files' at the last failure logged
	checked time.Time
}

// fileStamp tells a changed file: its size and modification time (zero
// when it cannot be read).
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}
}

func (p *keyPair) stampsNow() [2]fileStamp {
	return [2]fileStamp{stampOf(p.certFile), stampOf(p.keyFile)}
}

// newKeyPair loads the pair: an error here stops the node at start-up.
func newKeyPair(certFile, keyFile string, o options) (*keyPair, error) {
	p := &keyPair{certFile: certFile, keyFile: keyFile, o: o}
	p.loaded = p.stampsNow() // before reading: a change meanwhile is seen later
	now := o.now()
	cert, err := loadPair(certFile, keyFile, now)
	if err != nil {
		return nil, err
	}
	p.cert, p.checked = &cert, now
	return p, nil
}

// current returns the pair to present, reloading it first when its files
// changed since the last check (at most every o.every).
func (p *keyPair) current() *tls.Certificate {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.o.now()
	if now.Sub(p.checked) < p.o.every {
		return p.cert
	}
	p.checked = now
	stamps := p.stampsNow()
	if stamps == p.loaded {
		return p.cert
	}
	cert, err := loadPair(p.certFile, p.keyFile, now)
	if err != nil {
		if stamps != p.failed {
			p.failed = stamps
			p.o.lg.Warn("TLS certificate files changed but cannot be loaded; still presenting the previous certificate",
				"cert", p.certFile, "key", p.keyFile, "err", err)
		}
		return p.cert
	}
	p.cert, p.loaded, p.failed = &cert, stamps, [2]fileStamp{}
	p.o.lg.Info("TLS certificate reloaded", "cert", p.certFile, "not_after", cert.Leaf.NotAfter.UTC())
	return p.cert
}

// serverCert is tls.Config.GetCertificate.
func (p *keyPair) serverCert(*tls.ClientHelloInfo) (*tls.Certificate, error) { return p.current(), nil }

// clientCert is tls.Config.GetClientCertificate.
func (p *keyPair) clientCert(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return p.current(), nil
}
