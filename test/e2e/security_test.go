package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/api/peerpb"
	"github.com/metasrv/metasrv/client"
	"github.com/metasrv/metasrv/internal/tlstest"
	"github.com/metasrv/metasrv/internal/transport"
)

// The secure cluster's shared settings.
const (
	secRaftSecret  = "e2e-raft-secret-0123456789"
	secTokenSecret = "e2e-token-secret-0123456789"
	secPassword    = "correct horse battery staple"
)

// secureCluster is three nodes with every security setting on: TLS with
// client certificates on the gRPC API, HTTPS on the admin API, raft_secret
// and mutual TLS between nodes, and auth with one user.
type secureCluster struct {
	dir   string
	ca    *tlstest.CA
	cert  tlstest.Pair // every node's certificate, for 127.0.0.1 and localhost
	cli   tlstest.Pair // a client certificate of the same CA
	hash  string
	nodes []*node
}

// secureConfig returns node id's config file.
func (sc *secureCluster) secureConfig(id uint64, raftPort, grpcPort, adminPort, metricPort int, join []string, raftSecret string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "log_dir = \"./_logs%d\"\n", id)
	fmt.Fprintf(&b, "admin_api_address = \"127.0.0.1:%d\"\n", adminPort)
	fmt.Fprintf(&b, "grpc_api_address = \"127.0.0.1:%d\"\n", grpcPort)
	fmt.Fprintf(&b, "metric_api_address = \"127.0.0.1:%d\"\n", metricPort)
	fmt.Fprintf(&b, "grpc_tls_server_cert = %q\ngrpc_tls_server_key = %q\ngrpc_tls_client_ca = %q\n", sc.cert.CertFile, sc.cert.KeyFile, sc.ca.CertFile)
	fmt.Fprintf(&b, "admin_tls_server_cert = %q\nadmin_tls_server_key = %q\n", sc.cert.CertFile, sc.cert.KeyFile)
	fmt.Fprintf(&b, "\n[raft_config]\nid = %d\nraft_dir = \"./_meta%d\"\nraft_api_port = %d\nheartbeat_interval = %d\n", id, id, raftPort, heartbeatMs)
	fmt.Fprintf(&b, "raft_secret = %q\n", raftSecret)
	fmt.Fprintf(&b, "raft_tls_cert = %q\nraft_tls_key = %q\nraft_tls_ca = %q\n", sc.cert.CertFile, sc.cert.KeyFile, sc.ca.CertFile)
	if len(join) == 0 {
		b.WriteString("single = true\n")
	} else {
		fmt.Fprintf(&b, "join = [%q]\n", strings.Join(join, `", "`))
	}
	fmt.Fprintf(&b, "\n[auth]\nenabled = true\ntoken_secret = %q\n\n[[auth.users]]\nname = \"root\"\npassword_hash = %q\n", secTokenSecret, sc.hash)
	return b.String()
}

// newSecureNode writes node id's config and returns the (unstarted) node.
func (sc *secureCluster) newSecureNode(t *testing.T, id uint64, join []string, raftSecret string) (*node, int) {
	t.Helper()
	raftPort, grpcPort, adminPort, metricPort := freePort(t), freePort(t), freePort(t), freePort(t)
	name := fmt.Sprintf("node%d.toml", id)
	if err := os.WriteFile(filepath.Join(sc.dir, name), []byte(sc.secureConfig(id, raftPort, grpcPort, adminPort, metricPort, join, raftSecret)), 0o600); err != nil {
		t.Fatal(err)
	}
	return newNode(t, id, sc.dir, []string{"-c", name}, raftPort, grpcPort, adminPort), raftPort
}

// clientTLS is the TLS configuration of a client with the client
// certificate.
func (sc *secureCluster) clientTLS(t *testing.T) *tls.Config {
	t.Helper()
	cfg, err := client.LoadTLS(sc.ca.CertFile, sc.cli.CertFile, sc.cli.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// client returns a Go client of nodes with the right credentials.
func (sc *secureCluster) client(t *testing.T, nodes ...*node) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Endpoints: grpcAddrs(nodes...), TLS: sc.clientTLS(t), User: "root", Password: secPassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// runMetactl runs databend-metactl with stdin and the environment env added.
func runMetactl(t *testing.T, dir string, stdin string, env []string, args ...string) cmdResult {
	t.Helper()
	cmd := exec.Command(metactlBin(t), args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("databend-metactl %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return cmdResult{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// waitMembers waits until every one of via lists exactly ids as voters.
func (sc *secureCluster) waitMembers(t *testing.T, c *client.Client, via []*node, ids ...uint64) {
	t.Helper()
	waitFor(t, clusterTimeout, fmt.Sprintf("voters %v", ids), func() error {
		for _, n := range via {
			if err := n.alive(); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
			st, err := c.Status(ctx, n.grpcAddr())
			cancel()
			if err != nil {
				return err
			}
			if st.GetLeaderId() == 0 {
				return fmt.Errorf("%v knows no leader", n)
			}
			if got := voters(st); !slices.Equal(got, ids) {
				return fmt.Errorf("%v lists voters %v, want %v", n, got, ids)
			}
		}
		return nil
	})
}

// voters returns the ids of the voters a status lists, sorted.
func voters(st *metapb.StatusReply) []uint64 {
	var ids []uint64
	for _, m := range st.GetNodes() {
		if m.GetVoter() {
			ids = append(ids, m.GetId())
		}
	}
	slices.Sort(ids)
	return ids
}

// lastSeq returns the last seq node n reports.
func (sc *secureCluster) lastSeq(t *testing.T, c *client.Client, n *node) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	st, err := c.Status(ctx, n.grpcAddr())
	if err != nil {
		t.Fatal(err)
	}
	return st.GetLastSeq()
}

func TestSecureCluster(t *testing.T) {
	sc := &secureCluster{dir: t.TempDir(), ca: tlstest.NewCA(t)}
	sc.cert, sc.cli = sc.ca.Issue(t, "node"), sc.ca.Issue(t, "client")

	// The password hash comes from the CLI.
	r := runMetactl(t, sc.dir, secPassword+"\n", nil, "hash-password", "--cost", "4")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "$2a$04$") {
		t.Fatalf("hash-password: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	sc.hash = strings.TrimSpace(r.stdout)

	n1, raft1 := sc.newSecureNode(t, 1, nil, secRaftSecret)
	join := []string{fmt.Sprintf("localhost:%d", raft1)}
	n2, _ := sc.newSecureNode(t, 2, join, secRaftSecret)
	n3, _ := sc.newSecureNode(t, 3, join, secRaftSecret)
	sc.nodes = []*node{n1, n2, n3}
	n1.start()
	good := sc.client(t, sc.nodes...)
	sc.waitMembers(t, good, []*node{n1}, 1)
	startTogether(t, n2, n3)
	sc.waitMembers(t, good, sc.nodes, 1, 2, 3)

	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	if _, err := good.Upsert(ctx, client.Upsert{Key: "sec/a", Value: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, clusterTimeout, "every node at the same last_seq", func() error {
		want := sc.lastSeq(t, good, n1)
		for _, n := range sc.nodes {
			if got := sc.lastSeq(t, good, n); got != want {
				return fmt.Errorf("%v at %d, %v at %d", n, got, n1, want)
			}
		}
		return nil
	})
	seq := sc.lastSeq(t, good, n1)

	t.Run("grpc API", func(t *testing.T) {
		noCert, err := client.LoadTLS(sc.ca.CertFile, "", "")
		if err != nil {
			t.Fatal(err)
		}
		stranger := tlstest.NewCA(t).Issue(t, "stranger")
		strangerTLS, err := client.LoadTLS(sc.ca.CertFile, stranger.CertFile, stranger.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			name string
			cfg  client.Config
			code codes.Code // Unavailable: no connection
		}{
			{"plaintext", client.Config{User: "root", Password: secPassword}, codes.Unavailable},
			{"no client certificate", client.Config{TLS: noCert, User: "root", Password: secPassword}, codes.Unavailable},
			{"client certificate of another CA", client.Config{TLS: strangerTLS, User: "root", Password: secPassword}, codes.Unavailable},
			{"no credentials", client.Config{TLS: sc.clientTLS(t)}, codes.Unauthenticated},
			{"wrong password", client.Config{TLS: sc.clientTLS(t), User: "root", Password: "wrong"}, codes.Unauthenticated},
			{"unknown user", client.Config{TLS: sc.clientTLS(t), User: "mallory", Password: secPassword}, codes.Unauthenticated},
			{"forged token", client.Config{TLS: sc.clientTLS(t), Token: "mt1.AAAAAAAAAAAAAAAA.AAAA"}, codes.Unauthenticated},
		} {
			t.Run(tt.name, func(t *testing.T) {
				tt.cfg.Endpoints = grpcAddrs(sc.nodes...)
				tt.cfg.DialTimeout = 500 * time.Millisecond
				c, err := client.New(tt.cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				cctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				_, err = c.Upsert(cctx, client.Upsert{Key: "sec/a", Value: []byte("intruder")})
				if err == nil {
					t.Fatal("write accepted")
				}
				if tt.code == codes.Unauthenticated && status.Code(err) != codes.Unauthenticated {
					t.Fatalf("write: %v, want Unauthenticated", err)
				}
				if _, err := c.Get(cctx, "sec/a"); err == nil {
					t.Fatal("read served")
				}
			})
		}
		if got := sc.lastSeq(t, good, n1); got != seq {
			t.Fatalf("last_seq %d after refused writes, was %d", got, seq)
		}
		kv, err := good.Get(ctx, "sec/a")
		if err != nil || string(kv.Data) != "1" {
			t.Fatalf("sec/a = %+v, %v; want 1", kv, err)
		}
	})

	t.Run("admin API", func(t *testing.T) {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = sc.clientTLS(t)
		hc := &http.Client{Transport: tr, Timeout: rpcTimeout}
		do := func(method, url string, auth func(*http.Request)) (int, string) {
			t.Helper()
			req, err := http.NewRequest(method, url, nil)
			if err != nil {
				t.Fatal(err)
			}
			if auth != nil {
				auth(req)
			}
			resp, err := hc.Do(req)
			if err != nil {
				return 0, err.Error()
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		base := fmt.Sprintf("https://127.0.0.1:%d", n1.adminPort)
		if code, body := do("GET", base+"/v1/cluster/status", nil); code != 200 {
			t.Fatalf("status without credentials: %d %s; want 200 (read-only endpoints are open)", code, body)
		}
		if code, _ := do("GET", strings.Replace(base, "https", "http", 1)+"/v1/cluster/status", nil); code == 200 {
			t.Fatal("the admin API answered plain HTTP")
		}
		for name, auth := range map[string]func(*http.Request){
			"no credentials": nil,
			"wrong password": func(r *http.Request) { r.SetBasicAuth("root", "wrong") },
			"bad token":      func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") },
		} {
			for _, ep := range []struct{ method, path string }{
				{"POST", "/v1/ctrl/trigger_snapshot"}, {"POST", "/v1/ctrl/trigger_transfer_leader"}, {"GET", "/v1/config"},
			} {
				if code, body := do(ep.method, base+ep.path, auth); code != http.StatusUnauthorized {
					t.Errorf("%s %s with %s: %d %s, want 401", ep.method, ep.path, name, code, body)
				}
			}
		}
		code, body := do("GET", base+"/v1/config", func(r *http.Request) { r.SetBasicAuth("root", secPassword) })
		if code != 200 || strings.Contains(body, secRaftSecret) || strings.Contains(body, secTokenSecret) || strings.Contains(body, sc.hash) {
			t.Fatalf("config with credentials: %d; want 200 with the secrets redacted:\n%s", code, body)
		}
		// The CLI, with the password from the environment.
		r := runMetactl(t, sc.dir, "", []string{"METASRV_PASSWORD=" + secPassword}, "trigger-snapshot", "--user", "root",
			"--tls-ca", sc.ca.CertFile, "--admin-api-address", fmt.Sprintf("127.0.0.1:%d", n1.adminPort))
		if r.code != 0 {
			t.Fatalf("metactl trigger-snapshot: exit %d: %s", r.code, r.stderr)
		}
		r = runMetactl(t, sc.dir, "", nil, "trigger-snapshot", "--tls-ca", sc.ca.CertFile, "--admin-api-address", fmt.Sprintf("127.0.0.1:%d", n1.adminPort))
		if r.code != 1 || !strings.Contains(r.stderr, "HTTP 401") {
			t.Fatalf("metactl trigger-snapshot without credentials: exit %d: %s", r.code, r.stderr)
		}
	})

	t.Run("raft port", func(t *testing.T) {
		members := func() []uint64 {
			st, err := good.Status(ctx, n1.grpcAddr())
			if err != nil {
				t.Fatal(err)
			}
			return voters(st)
		}
		memberTLS := sc.clientTLS(t) // a certificate of the cluster's CA, as a node has
		for _, tt := range []struct {
			name string
			opts []grpc.DialOption
			code codes.Code
		}{
			{"plaintext with the secret", []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithPerRPCCredentials(transport.SecretCredentials(secRaftSecret))}, codes.Unavailable},
			{"member certificate without the secret", []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(memberTLS))}, codes.Unauthenticated},
			{"member certificate, wrong secret", []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(memberTLS)),
				grpc.WithPerRPCCredentials(transport.SecretCredentials(secRaftSecret + "x"))}, codes.Unauthenticated},
		} {
			t.Run(tt.name, func(t *testing.T) {
				conn, err := grpc.NewClient(fmt.Sprintf("localhost:%d", raft1), tt.opts...)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				pc := peerpb.NewPeerClient(conn)
				cctx, cancel := context.WithTimeout(ctx, rpcTimeout)
				defer cancel()
				_, err = pc.Leave(cctx, &peerpb.LeaveRequest{ClusterName: "foo_cluster", NodeId: 3})
				if status.Code(err) != tt.code {
					t.Errorf("Leave: %v, want %v", err, tt.code)
				}
				_, err = pc.Join(cctx, &peerpb.JoinRequest{ClusterName: "foo_cluster", Node: &metapb.Node{Id: 9, RaftAddress: "localhost:1"}})
				if status.Code(err) != tt.code {
					t.Errorf("Join: %v, want %v", err, tt.code)
				}
				st, err := pc.Raft(cctx)
				if err == nil {
					_ = st.Send(&peerpb.RaftBatch{ClusterName: "foo_cluster", From: 9, To: 1})
					_, err = st.CloseAndRecv()
				}
				if status.Code(err) != tt.code {
					t.Errorf("Raft: %v, want %v", err, tt.code)
				}
			})
		}
		if got := members(); !slices.Equal(got, []uint64{1, 2, 3}) {
			t.Fatalf("voters %v after refused calls, want [1 2 3]", got)
		}
		if got := sc.lastSeq(t, good, n1); got != seq {
			t.Fatalf("last_seq %d after refused calls, was %d", got, seq)
		}

		// A node with another raft_secret cannot join; it gives up.
		n4, _ := sc.newSecureNode(t, 4, join, "another-secret-0123456789")
		n4.start()
		waitFor(t, clusterTimeout, "node 4 to exit", func() error {
			if n4.running() {
				return fmt.Errorf("still running")
			}
			return nil
		})
		if out, _ := os.ReadFile(n4.out); !strings.Contains(string(out), "raft_secret") {
			t.Errorf("node 4's output does not name raft_secret:\n%s", tailFile(n4.out, 20))
		}
		if got := members(); !slices.Equal(got, []uint64{1, 2, 3}) {
			t.Fatalf("voters %v after a stranger tried to join, want [1 2 3]", got)
		}
	})

	t.Run("metactl", func(t *testing.T) {
		flags := []string{"--grpc-api-address", strings.Join(grpcAddrs(sc.nodes...), ","),
			"--tls-ca", sc.ca.CertFile, "--tls-cert", sc.cli.CertFile, "--tls-key", sc.cli.KeyFile}
		r := runMetactl(t, sc.dir, "", nil, append(slices.Clone(flags), "upsert", "--key", "sec/b", "--value", "2")...)
		if r.code != 1 || !strings.Contains(r.stderr, "--user") {
			t.Fatalf("upsert without credentials: exit %d, stderr %q; want 1 naming --user", r.code, r.stderr)
		}
		r = runMetactl(t, sc.dir, "", nil, append(slices.Clone(flags), "--user", "root", "--password", secPassword, "upsert", "--key", "sec/b", "--value", "2")...)
		if r.code != 0 {
			t.Fatalf("upsert with credentials: exit %d: %s", r.code, r.stderr)
		}
		// A token from a Handshake works on every node: they share
		// auth.token_secret.
		conn, err := grpc.NewClient(n2.grpcAddr(), grpc.WithTransportCredentials(credentials.NewTLS(sc.clientTLS(t))))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		hs, err := metapb.NewMetaClient(conn).Handshake(ctx, &metapb.HandshakeRequest{User: "root", Password: secPassword})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range sc.nodes {
			r = runMetactl(t, sc.dir, "", nil, "--grpc-api-address", n.grpcAddr(), "--tls-ca", sc.ca.CertFile,
				"--tls-cert", sc.cli.CertFile, "--tls-key", sc.cli.KeyFile, "--token", hs.GetToken(), "get", "--key", "sec/b")
			if r.code != 0 || !strings.Contains(r.stdout, "2") {
				t.Fatalf("get with a token via %v: exit %d, stdout %q, stderr %q", n, r.code, r.stdout, r.stderr)
			}
		}
	})

	t.Run("certificate rotation", func(t *testing.T) {
		// The nodes share one certificate file: replace it and its key,
		// without a restart.
		rotated := sc.ca.Issue(t, "node")
		for _, f := range [][2]string{{rotated.CertFile, sc.cert.CertFile}, {rotated.KeyFile, sc.cert.KeyFile}} {
			b, err := os.ReadFile(f[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f[1], b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		want := rotated.TLS(t).Leaf.SerialNumber.String()
		cfg := sc.clientTLS(t)
		cfg.NextProtos = []string{"h2"}
		waitFor(t, clusterTimeout, "every port of every node to present the new certificate", func() error {
			for _, n := range sc.nodes {
				for _, port := range []int{n.grpcPort, n.adminPort, n.raftPort} {
					c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), cfg)
					if err != nil {
						return err
					}
					got := c.ConnectionState().PeerCertificates[0].SerialNumber.String()
					c.Close()
					if got != want {
						return fmt.Errorf("%v port %d presents serial %s, want %s", n, port, got, want)
					}
				}
			}
			return nil
		})
		// New connections, and the nodes' own, work with the new pair.
		c := sc.client(t, sc.nodes...)
		if _, err := c.Upsert(ctx, client.Upsert{Key: "sec/rotated", Value: []byte("1")}); err != nil {
			t.Fatalf("write after the rotation: %v", err)
		}
	})

	t.Run("leave-via", func(t *testing.T) {
		// --leave-via reads node 3's config: the secret and the raft TLS.
		r := runCmd(t, sc.dir, clusterTimeout, metaBin(t), "-c", "node3.toml", "--leave-via", fmt.Sprintf("localhost:%d", raft1))
		if r.code != 0 {
			t.Fatalf("--leave-via: exit %d: %s%s", r.code, r.stdout, r.stderr)
		}
		sc.waitMembers(t, good, []*node{n1, n2}, 1, 2)
	})
}
