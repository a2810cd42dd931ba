package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Environment variables that set a secret instead of the config file or a
// flag, which other users of the machine can see in the process list. A
// flag wins over the environment, the environment over the file.
const (
	EnvRaftSecret  = "METASRV_RAFT_SECRET"
	EnvTokenSecret = "METASRV_AUTH_TOKEN_SECRET"
)

// envKeys lists the keys an environment variable can set.
var envKeys = []struct{ env, key string }{
	{EnvRaftSecret, "raft_config.raft_secret"},
	{EnvTokenSecret, "auth.token_secret"},
}

// minSecretLen is the shortest raft_secret or auth.token_secret accepted.
const minSecretLen = 16

// AuthConfig is the [auth] table: who may use the gRPC API and the admin
// API's control endpoints.
//
//	[auth]
//	enabled = true
//	token_secret = "..."       # or METASRV_AUTH_TOKEN_SECRET
//	token_ttl = 3600000        # ms
//
//	[[auth.users]]
//	name = "root"
//	password_hash = "$2a$10$..." # databend-metactl hash-password
//
// With auth enabled every gRPC call but Handshake and the health service
// needs a token (from Handshake) or the user's password, and so do the
// admin API's /v1/ctrl/*, /v1/config and /debug/pprof/. Users live in the
// config file only: change them by editing it and restarting the node.
type AuthConfig struct {
	// Enabled turns authentication on. Default false: anyone who reaches
	// the ports may read and write. Needs at least one user.
	Enabled bool `toml:"enabled"`

	// TokenSecret signs the tokens Handshake returns (HMAC-SHA256); at
	// least 16 characters. Default "": a random key per process, so a
	// token is valid only on the node that issued it and only until it
	// restarts (the Go client and databend-metactl renew tokens by
	// themselves and still work). Set the same secret on every node for
	// tokens that work cluster-wide. Prefer METASRV_AUTH_TOKEN_SECRET.
	TokenSecret string `toml:"token_secret"`

	// TokenTTLMs is how long a token is valid, in milliseconds; at least
	// 1000. Default 3600000 (1h). Clients renew tokens before they expire.
	TokenTTLMs uint64 `toml:"token_ttl"`

	// Users are the [[auth.users]] entries. This key has no flag.
	Users []UserConfig `toml:"users"`
}

// UserConfig is one [[auth.users]] entry.
type UserConfig struct {
	// Name is the user name: not empty, no ':', unique.
	Name string `toml:"name"`
	// PasswordHash is the bcrypt hash of the password, as printed by
	// `databend-metactl hash-password`.
	PasswordHash string `toml:"password_hash"`
}

func defaultAuthConfig() AuthConfig {
	return AuthConfig{Enabled: false, TokenSecret: "", TokenTTLMs: 3_600_000}
}

// TokenTTL returns auth.token_ttl as a duration.
func (c *Config) TokenTTL() time.Duration {
	return time.Duration(c.Auth.TokenTTLMs) * time.Millisecond
}

// authKeyDefs are the keys of [auth] that have a flag; keyDefs ends with
// them. auth.users has none: see usersKey.
var authKeyDefs = []keyDef{
	{"auth.enabled", "auth-enabled", "require a user's token or password on the gRPC API and the admin API's control endpoints",
		func(c *Config) any { return &c.Auth.Enabled }},
	{"auth.token_secret", "auth-token-secret", "key signing tokens, >= 16 characters; same on every node, or tokens work on their node only (env " + EnvTokenSecret + ")",
		func(c *Config) any { return &c.Auth.TokenSecret }},
	{"auth.token_ttl", "auth-token-ttl", "how long a token is valid, in ms, >= 1000",
		func(c *Config) any { return &c.Auth.TokenTTLMs }},
}

// usersKey is the one key outside keyDefs: an array of tables, with these
// fields.
const usersKey = "auth.users"

var userFields = []string{"name", "password_hash"}

// isUsersKey reports whether name is auth.users or one of its fields.
func isUsersKey(name string) bool {
	if name == usersKey {
		return true
	}
	f, ok := strings.CutPrefix(name, usersKey+".")
	return ok && (f == userFields[0] || f == userFields[1])
}

// isSecretKey reports whether a key holds a secret, which error messages
// must not quote.
func isSecretKey(name string) bool {
	return strings.HasSuffix(name, "_secret") || strings.HasSuffix(name, "password_hash")
}

// fileAuthConfig mirrors AuthConfig for decoding (see fileConfig).
type fileAuthConfig struct {
	Enabled     fileValue `toml:"enabled"`
	TokenSecret fileValue `toml:"token_secret"`
	TokenTTLMs  fileValue `toml:"token_ttl"`
	Users       fileUsers `toml:"users"`
}

func newFileAuthConfig(c *Config, st *decodeState) fileAuthConfig {
	v := func(ptr any) fileValue { return fileValue{ptr: ptr, st: st} }
	return fileAuthConfig{
		Enabled:     v(&c.Auth.Enabled),
		TokenSecret: v(&c.Auth.TokenSecret),
		TokenTTLMs:  v(&c.Auth.TokenTTLMs),
		Users:       fileUsers{ptr: &c.Auth.Users, st: st},
	}
}

// fileUsers decodes auth.users: [[auth.users]] tables or an array of
// inline tables. Unknown fields are left to decodeTOML's key check.
type fileUsers struct {
	ptr *[]UserConfig
	st  *decodeState
}

// UnmarshalTOML implements toml.Unmarshaler.
func (f *fileUsers) UnmarshalTOML(data any) error {
	data = f.st.unmark(data)
	var tables []map[string]any
	switch d := data.(type) {
	case []map[string]any:
		tables = d
	case []any:
		for _, e := range d {
			m, ok := e.(map[string]any)
			if !ok {
				f.st.typeErr = true
				return fmt.Errorf(`want [[auth.users]] tables with name and password_hash, got %s in the list`, describeValue(e))
			}
			tables = append(tables, m)
		}
	default:
		f.st.typeErr = true
		return wrongType(`[[auth.users]] tables with name and password_hash`, data)
	}
	users := make([]UserConfig, 0, len(tables))
	for i, m := range tables {
		var u UserConfig
		for _, fld := range []struct {
			name string
			dst  *string
		}{{"name", &u.Name}, {"password_hash", &u.PasswordHash}} {
			v, ok := m[fld.name]
			if !ok {
				continue // Validate reports it empty
			}
			s, ok := v.(string)
			if !ok {
				f.st.typeErr = true
				return fmt.Errorf("user %d: %s: want a string in double quotes, got %s", i+1, fld.name, describeValue(v))
			}
			*fld.dst = s
		}
		users = append(users, u)
	}
	if len(users) == 0 {
		users = nil // as when the key is absent: show-config writes no users either way
	}
	*f.ptr = users
	return nil
}

// validateSecurity checks the TLS files come in complete sets, the
// secrets' lengths and the users.
func (c *Config) validateSecurity() error {
	pairs := []struct {
		certKey, keyKey string
		cert, key       string
	}{
		{"grpc_tls_server_cert", "grpc_tls_server_key", c.GrpcTLSServerCert, c.GrpcTLSServerKey},
		{"admin_tls_server_cert", "admin_tls_server_key", c.AdminTLSServerCert, c.AdminTLSServerKey},
		{"raft_config.raft_tls_cert", "raft_config.raft_tls_key", c.Raft.RaftTLSCert, c.Raft.RaftTLSKey},
	}
	for _, p := range pairs {
		switch {
		case p.cert != "" && p.key == "":
			return keyErrorf(p.keyKey, "%w: %s is set but %s is empty: set both, the certificate and its private key, or neither", ErrIncompleteTLS, p.certKey, p.keyKey)
		case p.cert == "" && p.key != "":
			return keyErrorf(p.certKey, "%w: %s is set but %s is empty: set both, the certificate and its private key, or neither", ErrIncompleteTLS, p.keyKey, p.certKey)
		}
	}
	if c.GrpcTLSClientCA != "" && c.GrpcTLSServerCert == "" {
		return keyErrorf("grpc_tls_client_ca", "%w: client certificates need TLS: set grpc_tls_server_cert and grpc_tls_server_key too, or remove grpc_tls_client_ca", ErrIncompleteTLS)
	}
	if r := &c.Raft; (r.RaftTLSCert != "") != (r.RaftTLSCA != "") {
		return keyErrorf("raft_config.raft_tls_ca", "%w: mutual TLS between nodes needs raft_tls_cert, raft_tls_key and raft_tls_ca (the CA that signs every node's certificate): set all three or none", ErrIncompleteTLS)
	}
	for _, s := range []struct{ key, value string }{
		{"raft_config.raft_secret", c.Raft.RaftSecret},
		{"auth.token_secret", c.Auth.TokenSecret},
	} {
		if s.value != "" && len(s.value) < minSecretLen {
			return keyErrorf(s.key, "%w: %d characters is too short: use at least %d, e.g. the output of `openssl rand -hex 32`", ErrInvalidValue, len(s.value), minSecretLen)
		}
	}
	return c.validateAuth()
}

func (c *Config) validateAuth() error {
	a := &c.Auth
	if ms := a.TokenTTLMs; ms < 1000 || ms > maxMs {
		return keyErrorf("auth.token_ttl", "%w %d: use a lifetime in milliseconds in 1000..%d; the default is 3600000 (1h)", ErrInvalidValue, ms, maxMs)
	}
	if a.Enabled && len(a.Users) == 0 {
		return keyErrorf("auth.enabled", "%w: auth is enabled but no user is configured: add an [[auth.users]] table with name and password_hash (`databend-metactl hash-password` prints one), or set enabled = false", ErrNoUsers)
	}
	seen := make(map[string]int, len(a.Users))
	for i, u := range a.Users {
		key := usersKey + "[" + strconv.Itoa(i+1) + "]"
		if err := checkUserName(u.Name); err != nil {
			return keyErrorf(key+".name", "%w: %v", ErrInvalidUser, err)
		}
		if j, dup := seen[u.Name]; dup {
			return keyErrorf(key+".name", "%w: user %q is also user %d: give each user one entry", ErrInvalidUser, u.Name, j)
		}
		seen[u.Name] = i + 1
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			return keyErrorf(key+".password_hash", "%w: user %q: not a bcrypt hash (%v): generate one with `databend-metactl hash-password`", ErrInvalidUser, u.Name, err)
		}
	}
	return nil
}

// checkUserName matches auth.CheckUserName: not empty, no ':' (HTTP Basic
// uses it as the separator), no control characters.
func checkUserName(name string) error {
	if name == "" {
		return fmt.Errorf("the name is empty")
	}
	for _, r := range name {
		if r == ':' || r < 0x20 || r == 0x7f {
			return fmt.Errorf("name %q holds %q: use letters, digits and punctuation other than ':'", name, r)
		}
	}
	return nil
}

// usersTOML formats the users as [[auth.users]] tables, for TOML().
func (c *Config) usersTOML() string {
	var b strings.Builder
	if len(c.Auth.Users) == 0 {
		b.WriteString("\n# no users; add [[auth.users]] tables with name and password_hash (databend-metactl hash-password)\n")
	}
	for _, u := range c.Auth.Users {
		fmt.Fprintf(&b, "\n[[auth.users]]\nname = %s\npassword_hash = %s\n", quote(u.Name), quote(u.PasswordHash))
	}
	return b.String()
}
