package main

import (
	"os"
	"unicode/utf8"

	"github.com/spf13/pflag"

	"github.com/metasrv/metasrv/client"
)

// EnvPassword is the environment variable --password defaults to: a flag
// shows in the process list, the environment does not.
const EnvPassword = "METASRV_PASSWORD"

// addSecurityFlags adds the global TLS and authentication flags.
func addSecurityFlags(pf *pflag.FlagSet, a *app) {
	pf.StringVar(&a.user, "user", "", "user name, for a cluster with auth enabled; the password comes from --password or "+EnvPassword)
	pf.StringVar(&a.password, "password", "", "password of --user (default: $"+EnvPassword+"; prefer it, flags show in the process list)")
	pf.StringVar(&a.token, "token", "", "a token from a Handshake, instead of --user and --password")
	pf.BoolVar(&a.useTLS, "tls", false, "connect with TLS, verifying the nodes with the system's CAs (implied by --tls-ca and --tls-cert)")
	pf.StringVar(&a.tlsCA, "tls-ca", "", "PEM file of the CA that signs the nodes' certificates; turns TLS on")
	pf.StringVar(&a.tlsCert, "tls-cert", "", "PEM client certificate, for nodes that require one (grpc_tls_client_ca); with --tls-key")
	pf.StringVar(&a.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
}

// prepareSecurity checks the security flags and loads the TLS files.
func (a *app) prepareSecurity() error {
	if a.user != "" && a.password == "" {
		a.password = os.Getenv(EnvPassword)
	}
	switch {
	case a.user != "" && a.token != "":
		return usagef("give --user (with a password) or --token, not both")
	case a.password != "" && a.user == "" && a.token == "":
		return usagef("--password needs --user")
	case a.user != "" && a.password == "":
		return usagef("--user %s needs a password: give --password or set %s", a.user, EnvPassword)
	case !utf8.ValidString(a.user):
		return usagef("--user %q is not valid UTF-8", a.user)
	case !utf8.ValidString(a.password):
		return usagef("the password (--password or %s) is not valid UTF-8", EnvPassword)
	}
	if a.useTLS || a.tlsCA != "" || a.tlsCert != "" || a.tlsKey != "" {
		cfg, err := client.LoadTLS(a.tlsCA, a.tlsCert, a.tlsKey)
		if err != nil {
			return usagef("--tls-ca, --tls-cert, --tls-key: %w", err)
		}
		a.tls = cfg
	}
	return nil
}
