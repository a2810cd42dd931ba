package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// testHash is a bcrypt hash (cost 4) of "pw".
const testHash = "$2a$04$LUYEc6DPu4MALY5WDYUJs.UsiZ.QV5Lf7DrF0UwKkes86V2kdK/62"

const securityFile = `grpc_tls_server_cert = "grpc.pem"
grpc_tls_server_key = "grpc-key.pem"
grpc_tls_client_ca = "clients.pem"
admin_tls_server_cert = "admin.pem"
admin_tls_server_key = "admin-key.pem"

[raft_config]
raft_secret = "0123456789abcdef0123"
raft_tls_cert = "node.pem"
raft_tls_key = "node-key.pem"
raft_tls_ca = "ca.pem"

[auth]
enabled = true
token_secret = "fedcba9876543210fedc"
token_ttl = 60000

[[auth.users]]
name = "root"
password_hash = "` + testHash + `"

[[auth.users]]
name = "app"
password_hash = "` + testHash + `"
`

func securityConfig() Config {
	c := Default()
	c.GrpcTLSServerCert, c.GrpcTLSServerKey, c.GrpcTLSClientCA = "grpc.pem", "grpc-key.pem", "clients.pem"
	c.AdminTLSServerCert, c.AdminTLSServerKey = "admin.pem", "admin-key.pem"
	c.Raft.RaftSecret = "0123456789abcdef0123"
	c.Raft.RaftTLSCert, c.Raft.RaftTLSKey, c.Raft.RaftTLSCA = "node.pem", "node-key.pem", "ca.pem"
	c.Auth = AuthConfig{Enabled: true, TokenSecret: "fedcba9876543210fedc", TokenTTLMs: 60000,
		Users: []UserConfig{{"root", testHash}, {"app", testHash}}}
	return c
}

func TestLoadSecurity(t *testing.T) {
	got, _ := mustLoad(t, "-c", writeFile(t, "sec.toml", securityFile))
	want := securityConfig()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("mismatch (-want +got):\n%s", diff)
	}
	// Inline tables are the same.
	inline := strings.Replace(securityFile[:strings.Index(securityFile, "[[auth.users]]")], "[auth]", "[auth]\nusers = [{name = \"root\", password_hash = \""+testHash+"\"}, {name = \"app\", password_hash = \""+testHash+"\"}]", 1)
	got, _ = mustLoad(t, "-c", writeFile(t, "inline.toml", inline))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("inline users: mismatch (-want +got):\n%s", diff)
	}
	if got.TokenTTL().Milliseconds() != 60000 {
		t.Fatalf("TokenTTL() = %v", got.TokenTTL())
	}

	// The round trip through TOML() keeps users and secrets.
	text := want.TOML()
	if !strings.Contains(text, "\n[[auth.users]]\nname = \"app\"\n") {
		t.Fatalf("TOML() lacks the users:\n%s", text)
	}
	back, _ := mustLoad(t, "-c", writeFile(t, "show.toml", text))
	if diff := cmp.Diff(want, back); diff != "" {
		t.Fatalf("round trip mismatch (-want +got):\n%s", diff)
	}
}

func TestLoadSecurityFlagsAndEnv(t *testing.T) {
	t.Setenv(EnvRaftSecret, "from-the-environment")
	t.Setenv(EnvTokenSecret, "token-from-the-environment")
	c, _ := mustLoad(t, "--grpc-tls-server-cert", "a.pem", "--grpc-tls-server-key", "a-key.pem",
		"--raft-tls-cert", "n.pem", "--raft-tls-key", "n-key.pem", "--raft-tls-ca", "ca.pem",
		"--auth-token-ttl", "5000")
	if c.GrpcTLSServerCert != "a.pem" || c.Raft.RaftTLSCA != "ca.pem" || c.Auth.TokenTTLMs != 5000 {
		t.Fatalf("flags not applied: %+v", c)
	}
	if c.Raft.RaftSecret != "from-the-environment" || c.Auth.TokenSecret != "token-from-the-environment" {
		t.Fatalf("environment not applied: raft_secret %q, token_secret %q", c.Raft.RaftSecret, c.Auth.TokenSecret)
	}
	// The environment wins over the file, a flag over the environment.
	c, _ = mustLoad(t, "-c", writeFile(t, "f.toml", "[raft_config]\nraft_secret = \"secret-in-the-file!\"\n"))
	if c.Raft.RaftSecret != "from-the-environment" {
		t.Fatalf("file won over the environment: %q", c.Raft.RaftSecret)
	}
	c, _ = mustLoad(t, "--raft-secret", "secret-from-the-flag")
	if c.Raft.RaftSecret != "secret-from-the-flag" {
		t.Fatalf("environment won over the flag: %q", c.Raft.RaftSecret)
	}
	// A bad value from the environment names it, without the secret.
	t.Setenv(EnvRaftSecret, "tiny1")
	_, _, err := Load(nil)
	if !errors.Is(err, ErrInvalidValue) || !strings.Contains(err.Error(), "environment variable "+EnvRaftSecret) || strings.Contains(err.Error(), "tiny1") {
		t.Fatalf("Load with a short secret in the environment: %v", err)
	}
}

func TestValidateSecurity(t *testing.T) {
	tests := []struct {
		name string
		mut  func(c *Config)
		want error
		key  string
	}{
		{"all set", func(c *Config) {}, nil, ""},
		{"grpc cert without key", func(c *Config) { c.GrpcTLSServerKey = "" }, ErrIncompleteTLS, "grpc_tls_server_key"},
		{"grpc key without cert", func(c *Config) { c.GrpcTLSServerCert = "" }, ErrIncompleteTLS, "grpc_tls_server_cert"},
		{"client CA without TLS", func(c *Config) { c.GrpcTLSServerCert, c.GrpcTLSServerKey = "", "" }, ErrIncompleteTLS, "grpc_tls_client_ca"},
		{"grpc TLS without client CA", func(c *Config) { c.GrpcTLSClientCA = "" }, nil, ""},
		{"admin cert without key", func(c *Config) { c.AdminTLSServerKey = "" }, ErrIncompleteTLS, "admin_tls_server_key"},
		{"raft key without cert", func(c *Config) { c.Raft.RaftTLSCert = "" }, ErrIncompleteTLS, "raft_config.raft_tls_cert"},
		{"raft TLS without CA", func(c *Config) { c.Raft.RaftTLSCA = "" }, ErrIncompleteTLS, "raft_config.raft_tls_ca"},
		{"raft CA alone", func(c *Config) { c.Raft.RaftTLSCert, c.Raft.RaftTLSKey = "", "" }, ErrIncompleteTLS, "raft_config.raft_tls_ca"},
		{"no raft TLS", func(c *Config) { c.Raft.RaftTLSCert, c.Raft.RaftTLSKey, c.Raft.RaftTLSCA = "", "", "" }, nil, ""},
		{"short raft secret", func(c *Config) { c.Raft.RaftSecret = "123456789012345" }, ErrInvalidValue, "raft_config.raft_secret"},
		{"no raft secret", func(c *Config) { c.Raft.RaftSecret = "" }, nil, ""},
		{"short token secret", func(c *Config) { c.Auth.TokenSecret = "abc" }, ErrInvalidValue, "auth.token_secret"},
		{"no token secret", func(c *Config) { c.Auth.TokenSecret = "" }, nil, ""},
		{"token ttl 999", func(c *Config) { c.Auth.TokenTTLMs = 999 }, ErrInvalidValue, "auth.token_ttl"},
		{"enabled without users", func(c *Config) { c.Auth.Users = nil }, ErrNoUsers, "auth.enabled"},
		{"users while disabled", func(c *Config) { c.Auth.Enabled = false }, nil, ""},
		{"empty user name", func(c *Config) { c.Auth.Users[1].Name = "" }, ErrInvalidUser, "auth.users[2].name"},
		{"colon in user name", func(c *Config) { c.Auth.Users[0].Name = "a:b" }, ErrInvalidUser, "auth.users[1].name"},
		{"duplicate user", func(c *Config) { c.Auth.Users[1].Name = "root" }, ErrInvalidUser, "auth.users[2].name"},
		{"plain password", func(c *Config) { c.Auth.Users[0].PasswordHash = "hunter2" }, ErrInvalidUser, "auth.users[1].password_hash"},
		{"disabled user with a bad hash", func(c *Config) { c.Auth.Enabled = false; c.Auth.Users[0].PasswordHash = "x" }, ErrInvalidUser, "auth.users[1].password_hash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := securityConfig()
			tt.mut(&c)
			err := c.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.HasPrefix(err.Error(), tt.key+": ") {
				t.Fatalf("Validate() = %v; want %v about %s", err, tt.want, tt.key)
			}
			for _, secret := range []string{c.Raft.RaftSecret, c.Auth.TokenSecret} {
				if secret != "" && strings.Contains(err.Error(), secret) {
					t.Fatalf("the error shows a secret: %v", err)
				}
			}
		})
	}
}

func TestLoadSecurityErrors(t *testing.T) {
	user := "[[auth.users]]\nname = \"root\"\npassword_hash = \"" + testHash + "\"\n"
	tests := []struct {
		name, file string
		want       error
		msg        []string
	}{
		{"unknown user field", user + "pasword = \"x\"\n", ErrUnknownKey, []string{"auth.users.pasword"}},
		{"user field typo", user + "password_hsh = \"x\"\n", ErrUnknownKey, []string{"did you mean auth.users.password_hash?"}},
		{"users not a table", "[auth]\nusers = 3\n", ErrType, []string{"auth.users", "[[auth.users]]"}},
		{"user name a number", "[[auth.users]]\nname = 1\n", ErrType, []string{"name", "string"}},
		{"users a list of strings", "[auth]\nusers = [\"root\"]\n", ErrType, []string{"auth.users"}},
		{"bad hash in the file", "[auth]\nenabled = true\n[[auth.users]]\nname = \"root\"\npassword_hash = \"x\"\n", ErrInvalidUser,
			[]string{`config file "FILE"`, "auth.users[1].password_hash", "hash-password"}},
		{"half a TLS pair", "grpc_tls_server_cert = \"a.pem\"\n", ErrIncompleteTLS, []string{"grpc_tls_server_key", "set both"}},
		{"enabled without users", "[auth]\nenabled = true\n", ErrNoUsers, []string{`config file "FILE"`, "auth.enabled", "hash-password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "c.toml", tt.file)
			_, _, err := Load([]string{"-c", path})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Load = %v, want %v", err, tt.want)
			}
			for _, m := range tt.msg {
				if m = strings.ReplaceAll(m, "FILE", path); !strings.Contains(err.Error(), m) {
					t.Errorf("error %q lacks %q", err, m)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is not one line", err)
			}
		})
	}
}
