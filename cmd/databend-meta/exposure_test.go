package main

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/metasrv/metasrv/internal/config"
)

// TestOpenPorts checks which ports the start-up warning names: those on
// an address other machines reach, that no setting guards.
func TestOpenPorts(t *testing.T) {
	tcp := func(s string) net.Addr {
		a, err := net.ResolveTCPAddr("tcp", s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	const grpcKey, adminKey, raftKey = "grpc_api_address", "admin_api_address", "raft_config.raft_listen_host"
	tests := []struct {
		name              string
		mut               func(c *config.Config)
		grpc, admin, raft string
		want              []string // keys named
	}{
		{"loopback", func(c *config.Config) {}, "127.0.0.1:9191", "127.0.0.1:28002", "127.0.0.1:28004", nil},
		{"IPv6 loopback", func(c *config.Config) {}, "[::1]:9191", "[::1]:28002", "[::1]:28004", nil},
		{"the guide's config", func(c *config.Config) {}, "0.0.0.0:9191", "0.0.0.0:28101", "127.0.0.1:28103",
			[]string{grpcKey, adminKey}},
		{"every interface", func(c *config.Config) {}, "[::]:9191", "0.0.0.0:28101", "0.0.0.0:28103",
			[]string{grpcKey, adminKey, raftKey}},
		{"one address", func(c *config.Config) {}, "10.0.0.1:9191", "127.0.0.1:28101", "127.0.0.1:28103",
			[]string{grpcKey}},
		{"auth", func(c *config.Config) { c.Auth.Enabled = true }, "0.0.0.0:9191", "0.0.0.0:28101", "0.0.0.0:28103",
			[]string{raftKey}},
		{"client certificates close gRPC only", func(c *config.Config) { c.GrpcTLSClientCA = "ca.pem" },
			"0.0.0.0:9191", "0.0.0.0:28101", "127.0.0.1:28103", []string{adminKey}},
		{"TLS without client certificates closes nothing", func(c *config.Config) { c.GrpcTLSServerCert = "cert.pem" },
			"0.0.0.0:9191", "127.0.0.1:28101", "127.0.0.1:28103", []string{grpcKey}},
		{"raft secret", func(c *config.Config) { c.Raft.RaftSecret = "0123456789abcdef" },
			"127.0.0.1:9191", "127.0.0.1:28101", "0.0.0.0:28103", nil},
		{"raft TLS", func(c *config.Config) { c.Raft.RaftTLSCert = "node.pem" },
			"127.0.0.1:9191", "127.0.0.1:28101", "0.0.0.0:28103", nil},
		{"everything closed", func(c *config.Config) { c.Auth.Enabled, c.Raft.RaftSecret = true, "0123456789abcdef" },
			"0.0.0.0:9191", "0.0.0.0:28101", "0.0.0.0:28103", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.GrpcAPIAddress, cfg.AdminAPIAddress = tt.grpc, tt.admin
			host, port, _ := net.SplitHostPort(tt.raft)
			cfg.Raft.RaftListenHost = host
			p, _ := strconv.ParseUint(port, 10, 32)
			cfg.Raft.RaftAPIPort = uint32(p)
			tt.mut(&cfg)
			open := openPorts(cfg, tcp(tt.grpc), tcp(tt.admin), tcp(tt.raft))
			var got []string
			for _, p := range open {
				got = append(got, p.key)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("open ports %v, want %v", got, tt.want)
			}
			w := openPortsWarning(open)
			if len(tt.want) == 0 {
				if w != "" {
					t.Errorf("warning %q with no open port", w)
				}
				return
			}
			if strings.Contains(w, "\n") || !strings.Contains(w, "127.0.0.1") {
				t.Errorf("warning %q is not one line saying to listen on 127.0.0.1", w)
			}
			configured := map[string]string{grpcKey: tt.grpc, adminKey: tt.admin, raftKey: tt.raft}
			for _, key := range tt.want {
				if !strings.Contains(w, key+" "+configured[key]+" (") {
					t.Errorf("warning %q does not name %s %s", w, key, configured[key])
				}
			}
			for key, closers := range map[string][]string{
				grpcKey: {"auth.enabled", "[[auth.users]]", "grpc_tls_client_ca"}, adminKey: {"auth.enabled", "/debug/pprof/"},
				raftKey: {"raft_config.raft_secret", "raft_tls_cert"},
			} {
				for _, c := range closers {
					if slices.Contains(got, key) && !strings.Contains(w, c) {
						t.Errorf("warning %q names %s but not %s", w, key, c)
					}
				}
			}
		})
	}
}

// TestShownAddr checks that a configured port 0 is shown as the port the
// listener got.
func TestShownAddr(t *testing.T) {
	bound := &net.TCPAddr{IP: net.IPv6unspecified, Port: 4321}
	for _, tt := range []struct{ configured, want string }{
		{"0.0.0.0:9191", "0.0.0.0:9191"},
		{"0.0.0.0:0", "0.0.0.0:4321"},
		{":0", ":4321"},
		{"[::]:0", "[::]:4321"},
	} {
		if got := shownAddr(tt.configured, bound); got != tt.want {
			t.Errorf("shownAddr(%q) = %q, want %q", tt.configured, got, tt.want)
		}
	}
}
