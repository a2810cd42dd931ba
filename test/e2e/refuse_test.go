package e2e

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// refuseTimeout is how long a refusing databend-meta may take to exit.
const refuseTimeout = 15 * time.Second

// nodePorts are the four ports of one node.
type nodePorts struct{ raft, grpc, admin, metric int }

func newNodePorts(t testing.TB) nodePorts {
	return nodePorts{raft: freePort(t), grpc: freePort(t), admin: freePort(t), metric: freePort(t)}
}

// singleConfig is a config for node 1 of a one-node cluster in ./_meta,
// listening on p.
func singleConfig(p nodePorts) string {
	return fmt.Sprintf(`log_dir = "./_logs"
metric_api_address = "127.0.0.1:%d"
admin_api_address = "127.0.0.1:%d"
grpc_api_address = "127.0.0.1:%d"

[raft_config]
id = 1
raft_dir = "./_meta"
raft_api_port = %d
raft_listen_host = "127.0.0.1"
raft_advertise_host = "localhost"
heartbeat_interval = %d
single = true
`, p.metric, p.admin, p.grpc, p.raft, heartbeatMs)
}

func writeFile(t testing.TB, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRefusals checks every start-up refusal: the process exits with code
// 1 and one line on stderr naming the problem, the raft_dir (which holds a
// node's data) is left exactly as it was, and a log_dir that did not exist
// is not created.
func TestRefusals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	raftDir := filepath.Join(dir, "_meta")

	// A raft_dir with data: node 1 of a one-node cluster, a write, SIGTERM.
	p := newNodePorts(t)
	writeFile(t, dir, "node.toml", singleConfig(p))
	n := newNode(t, 1, dir, []string{"-c", "node.toml"}, p.raft, p.grpc, p.admin)
	c := &cluster{t: t, dir: dir, nodes: []*node{n}}
	n.start()
	c.waitLeader(n)
	n.mustUpsert("refuse/key", "value")
	if code := n.stop(); code != 0 {
		t.Fatalf("%v: exit code %d after SIGTERM, want 0", n, code)
	}

	// holdPort keeps a port busy for the rest of the test.
	holdPort := func(t *testing.T) int {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		return ln.Addr().(*net.TCPAddr).Port
	}

	for _, tc := range []struct {
		name string
		// setup writes the config and returns the command line and the
		// words stderr must contain (case-insensitive).
		setup func(t *testing.T) (args, want []string)
	}{
		{"malformed TOML", func(t *testing.T) ([]string, []string) {
			cfg := strings.Replace(singleConfig(newNodePorts(t)), "raft_api_port = ", "raft_api_port = = ", 1)
			writeFile(t, dir, "malformed.toml", cfg)
			return []string{"-c", "malformed.toml"}, []string{"malformed.toml", "toml", "line"}
		}},
		{"unterminated string", func(t *testing.T) ([]string, []string) {
			cfg := strings.Replace(singleConfig(newNodePorts(t)), `raft_dir = "./_meta"`, `raft_dir = "./_meta`, 1)
			writeFile(t, dir, "unterminated.toml", cfg)
			return []string{"-c", "unterminated.toml"}, []string{"unterminated.toml", "toml"}
		}},
		{"unknown top-level key", func(t *testing.T) ([]string, []string) {
			cfg := setKey(singleConfig(newNodePorts(t)), "", "grpc_api_adress", `"127.0.0.1:1"`)
			writeFile(t, dir, "unknown.toml", cfg)
			return []string{"-c", "unknown.toml"}, []string{"grpc_api_adress"}
		}},
		{"unknown raft_config key", func(t *testing.T) ([]string, []string) {
			cfg := setKey(singleConfig(newNodePorts(t)), "raft_config", "heartbeat_intervall", "100")
			writeFile(t, dir, "unknown-raft.toml", cfg)
			return []string{"-c", "unknown-raft.toml"}, []string{"heartbeat_intervall"}
		}},
		{"grpc port in use", func(t *testing.T) ([]string, []string) {
			ports := newNodePorts(t)
			ports.grpc = holdPort(t)
			writeFile(t, dir, "grpc-busy.toml", singleConfig(ports))
			return []string{"-c", "grpc-busy.toml"}, []string{strconv.Itoa(ports.grpc)}
		}},
		{"raft port in use", func(t *testing.T) ([]string, []string) {
			ports := newNodePorts(t)
			ports.raft = holdPort(t)
			writeFile(t, dir, "raft-busy.toml", singleConfig(ports))
			return []string{"-c", "raft-busy.toml"}, []string{strconv.Itoa(ports.raft)}
		}},
		{"admin port in use", func(t *testing.T) ([]string, []string) {
			ports := newNodePorts(t)
			ports.admin = holdPort(t)
			writeFile(t, dir, "admin-busy.toml", singleConfig(ports))
			return []string{"-c", "admin-busy.toml"}, []string{strconv.Itoa(ports.admin)}
		}},
		{"grpc port is the raft port", func(t *testing.T) ([]string, []string) {
			ports := newNodePorts(t)
			ports.grpc = ports.raft
			writeFile(t, dir, "grpc-raft.toml", singleConfig(ports))
			return []string{"-c", "grpc-raft.toml"}, []string{"grpc_api_address", "raft_config.raft_listen_host:raft_api_port", "its own port"}
		}},
		{"TLS certificate missing", func(t *testing.T) ([]string, []string) {
			writeFile(t, dir, "tls.toml", singleConfig(newNodePorts(t)))
			return []string{"-c", "tls.toml", "--grpc-tls-server-cert", "missing.pem", "--grpc-tls-server-key", "missing-key.pem"},
				[]string{"grpc_tls_server_cert", "missing.pem"}
		}},
		{"id differs from raft_dir", func(t *testing.T) ([]string, []string) {
			writeFile(t, dir, "node9.toml", singleConfig(newNodePorts(t)))
			return []string{"-c", "node9.toml", "--id", "9"}, []string{"id", "9"}
		}},
		{"join lists own address", func(t *testing.T) ([]string, []string) {
			ports := newNodePorts(t)
			cfg := strings.Replace(singleConfig(ports), "single = true", fmt.Sprintf(`join = ["127.0.0.1:%d"]`, ports.raft), 1)
			writeFile(t, dir, "join-self.toml", cfg)
			return []string{"-c", "join-self.toml"}, []string{"join", fmt.Sprintf("127.0.0.1:%d", ports.raft)}
		}},
		{"join lists own advertised address", func(t *testing.T) ([]string, []string) {
			ports := newNodePorts(t)
			cfg := strings.Replace(singleConfig(ports), "single = true", fmt.Sprintf(`join = ["localhost:%d"]`, ports.raft), 1)
			writeFile(t, dir, "join-self2.toml", cfg)
			return []string{"-c", "join-self2.toml"}, []string{"join", fmt.Sprintf("localhost:%d", ports.raft)}
		}},
		{"join flag lists own address", func(t *testing.T) ([]string, []string) {
			ports := newNodePorts(t)
			writeFile(t, dir, "join-self3.toml", singleConfig(ports))
			return []string{"-c", "join-self3.toml", "--single=false", "--join", fmt.Sprintf("127.0.0.1:%d", ports.raft)},
				[]string{"join", fmt.Sprintf("127.0.0.1:%d", ports.raft)}
		}},
		{"raft_dir locked by a running node", func(t *testing.T) ([]string, []string) {
			// Another process serves raft_dir; the refused one would
			// listen on other, free ports.
			running := newNodePorts(t)
			writeFile(t, dir, "running.toml", singleConfig(running))
			other := newNode(t, 1, dir, []string{"-c", "running.toml"}, running.raft, running.grpc, running.admin)
			other.start()
			(&cluster{t: t, dir: dir, nodes: []*node{other}}).waitLeader(other)
			waitStable(t, raftDir)
			t.Cleanup(func() {
				if code := other.stop(); code != 0 {
					t.Errorf("%v: exit code %d after SIGTERM, want 0", other, code)
				}
			})
			writeFile(t, dir, "second.toml", singleConfig(newNodePorts(t)))
			return []string{"-c", "second.toml"}, []string{"lock"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args, want := tc.setup(t)
			logDir := filepath.Join(t.TempDir(), "logs")
			args = append(args, "--log-dir", logDir)
			before := dirListing(t, raftDir)
			res := runCmd(t, dir, refuseTimeout, metaBin(t), args...)
			after := dirListing(t, raftDir)

			if res.code != 1 {
				t.Errorf("databend-meta %s: exit code %d, want 1", strings.Join(args, " "), res.code)
			}
			line := strings.TrimRight(res.stderr, "\n")
			if strings.Contains(line, "\n") || !strings.HasPrefix(line, "databend-meta: ") {
				t.Errorf("stderr is not one line starting with %q:\n%s", "databend-meta: ", res.stderr)
			}
			for _, w := range want {
				if !strings.Contains(strings.ToLower(line), strings.ToLower(w)) {
					t.Errorf("stderr does not mention %q:\n%s", w, res.stderr)
				}
			}
			if d := diffListings(before, after); d != "" {
				hint := ""
				if onlyLock(d) {
					hint = " (only LOCK: the refused process wrote its pid into raft_dir/LOCK before refusing)"
				}
				t.Errorf("raft_dir changed%s:\n%s", hint, d)
			}
			if _, err := os.Stat(logDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the refused start-up created log_dir %s (%v)", logDir, err)
			}
			t.Logf("stderr: %s", line)
		})
	}

	// After all that, the data is still served.
	n.start()
	c.waitLeader(n)
	if v, err := n.get("refuse/key", linearizable); err != nil || string(v.GetData()) != "value" {
		t.Errorf("after the refusals, refuse/key = %v, %v; want \"value\"", v, err)
	}
}

// onlyLock reports whether every line of a diffListings result is about
// the LOCK file.
func onlyLock(diff string) bool {
	for _, l := range strings.Split(strings.TrimSpace(diff), "\n") {
		if !strings.HasPrefix(l[2:], "LOCK ") {
			return false
		}
	}
	return true
}

// waitStable waits until the listing of dir stays the same for a while:
// a node that just started may still be writing its first entries.
func waitStable(t testing.TB, dir string) {
	t.Helper()
	prev, since := dirListing(t, dir), time.Now()
	waitFor(t, clusterTimeout, dir+" to stop changing", func() error {
		cur := dirListing(t, dir)
		if !slices.Equal(cur, prev) {
			prev, since = cur, time.Now()
		}
		if time.Since(since) < time.Second {
			return fmt.Errorf("changed %v ago", time.Since(since).Round(time.Millisecond))
		}
		return nil
	})
}

// flattenTOML adds every key of the decoded TOML table m to flat under its
// dotted path below prefix: [log.file] dir = ... becomes "log.file.dir".
func flattenTOML(prefix string, m map[string]any, flat map[string]any) {
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			flattenTOML(prefix+k+".", sub, flat)
			continue
		}
		flat[prefix+k] = v
	}
}

// TestLogDefaults runs a node with the default log settings: it prints
// one line on stderr (and nothing on stdout), at start-up, and nothing
// more even when it shuts down; its log goes to JSON lines in
// <log_dir>/databend-meta.log.
func TestLogDefaults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := newNodePorts(t)
	writeFile(t, dir, "node.toml", singleConfig(p))
	n := newNode(t, 1, dir, []string{"-c", "node.toml"}, p.raft, p.grpc, p.admin)
	// The harness adds --log-stderr-on to every node; not to this one.
	n.args = slices.DeleteFunc(n.args, func(a string) bool { return a == "--log-stderr-on" })
	n.start()
	(&cluster{t: t, dir: dir, nodes: []*node{n}}).waitLeader(n)
	n.mustUpsert("log/key", "value")
	if code := n.stop(); code != 0 {
		t.Fatalf("%v: exit code %d after SIGTERM, want 0", n, code)
	}

	b, err := os.ReadFile(n.out)
	if err != nil {
		t.Fatal(err)
	}
	// The harness's header line, then what the node wrote.
	_, out, _ := strings.Cut(string(b), "\n")
	line := strings.TrimRight(out, "\n")
	if strings.Contains(line, "\n") || !strings.HasPrefix(line, "databend-meta ") || !strings.Contains(line, strconv.Itoa(p.grpc)) {
		t.Errorf("stdout and stderr of a node with the default log settings:\n%s\nwant one line, starting with \"databend-meta \", naming the gRPC port %d", out, p.grpc)
	}
	t.Logf("the node wrote: %s", line)
	checkJSONLog(t, filepath.Join(dir, "_logs", "databend-meta.log"), "shutting down")
}

// TestVersion checks that databend-meta --version and databend-metactl
// version (and --version) print one line each, in the same format, with
// the same version and build details after the name.
func TestVersion(t *testing.T) {
	t.Parallel()
	format := regexp.MustCompile(`^(databend-meta|databend-metactl) (\S+( \(.+\))?)\n$`)
	var tails []string
	for _, cmd := range [][]string{{metaBin(t), "--version"}, {metactlBin(t), "version"}, {metactlBin(t), "--version"}} {
		res := runCmd(t, t.TempDir(), refuseTimeout, cmd[0], cmd[1:]...)
		m := format.FindStringSubmatch(res.stdout)
		if res.code != 0 || m == nil || res.stderr != "" {
			t.Fatalf("%s %s: exit code %d, stdout %q, stderr %q; want 0 and one line \"NAME VERSION (DETAILS)\"",
				filepath.Base(cmd[0]), cmd[1], res.code, res.stdout, res.stderr)
		}
		tails = append(tails, m[2])
	}
	if tails[0] != tails[1] || tails[1] != tails[2] {
		t.Errorf("the binaries of one build describe it differently: %q", tails)
	}
}

// TestShowConfig checks that --cmd show-config prints the effective config
// (file, then flags over it, defaults for the rest) as TOML that reads
// back to the same config, and touches no data.
func TestShowConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	texts, source := loadGuideConfigs(t)
	t.Logf("config from %s", source)
	writeFile(t, dir, "metasrv-1.toml", texts[0])

	res := runCmd(t, dir, refuseTimeout, metaBin(t), "-c", "metasrv-1.toml", "--cmd", "show-config",
		"--heartbeat-interval", "123", "--log-stderr-on")
	if res.code != 0 {
		t.Fatalf("--cmd show-config: exit code %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}
	var got map[string]any
	if _, err := toml.Decode(res.stdout, &got); err != nil {
		t.Fatalf("--cmd show-config output is not TOML: %v\n%s", err, res.stdout)
	}
	// Keys by their dotted path: raft_config.id, log.file.dir.
	flat := map[string]any{}
	flattenTOML("", got, flat)
	// Keys that may be left out when empty.
	optional := []string{"raft_config.join", "grpc_api_advertise_host"}
	wantKeys := []string{
		"admin_api_address", "grpc_api_address", "grpc_api_advertise_host", "grpc_api_max_message_size",
		"log_dir", "log_level", "metric_api_address", "watch_history_size", "watch_history_retention", "gc_percent",
		"watch_progress_notify_interval",
		"raft_config.cluster_name", "raft_config.heartbeat_interval", "raft_config.id", "raft_config.join",
		"raft_config.max_applied_log_to_keep", "raft_config.raft_advertise_host", "raft_config.raft_api_port",
		"raft_config.raft_dir", "raft_config.raft_listen_host", "raft_config.single",
		"raft_config.snapshot_logs_since_last", "raft_config.wait_leader_timeout", "raft_config.wal_segment_size",
		"log.file.on", "log.file.level", "log.file.dir", "log.file.format", "log.file.limit", "log.file.max_size",
		"log.stderr.on", "log.stderr.level", "log.stderr.format",
		// Security: TLS of each API, the raft secret, tokens.
		"admin_tls_server_cert", "admin_tls_server_key",
		"grpc_tls_server_cert", "grpc_tls_server_key", "grpc_tls_client_ca",
		"raft_config.raft_secret", "raft_config.raft_tls_cert", "raft_config.raft_tls_key", "raft_config.raft_tls_ca",
		"auth.enabled", "auth.token_secret", "auth.token_ttl",
	}
	for _, k := range wantKeys {
		if _, ok := flat[k]; !ok && !slices.Contains(optional, k) {
			t.Errorf("show-config does not print %s", k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(flat)) {
		if !slices.Contains(wantKeys, k) {
			t.Errorf("show-config prints unknown key %s = %#v", k, flat[k])
		}
	}
	for k, want := range map[string]any{
		"log_dir":                              "./_logs1",
		"grpc_api_address":                     "0.0.0.0:9191",
		"admin_api_address":                    "0.0.0.0:28101",
		"raft_config.id":                       int64(1),
		"raft_config.raft_api_port":            int64(28103),
		"raft_config.raft_dir":                 "./_meta1",
		"raft_config.raft_advertise_host":      "localhost",
		"raft_config.single":                   true,
		"raft_config.heartbeat_interval":       int64(123), // the flag wins over the file
		"raft_config.cluster_name":             "foo_cluster",
		"raft_config.wait_leader_timeout":      int64(70000),
		"raft_config.snapshot_logs_since_last": int64(1024),
		"raft_config.wal_segment_size":         int64(64000000),
		"grpc_api_max_message_size":            int64(32 << 20),
		"watch_history_size":                   int64(10000),
		"watch_history_retention":              int64(600),
		"watch_progress_notify_interval":       int64(600000),
		// Logs go to JSON files in log_dir by default ("" = log_dir),
		// and to stderr only when asked (here by the flag).
		"log.file.on":       true,
		"log.file.dir":      "",
		"log.file.format":   "json",
		"log.stderr.on":     true,
		"log.stderr.format": "text",
		"auth.enabled":      false,
	} {
		if !reflect.DeepEqual(flat[k], want) {
			t.Errorf("show-config %s = %#v, want %#v", k, flat[k], want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "_meta1")); !os.IsNotExist(err) {
		t.Errorf("--cmd show-config created raft_dir ./_meta1 (stat: %v)", err)
	}

	// The output is a config file that reads back to the same config.
	writeFile(t, dir, "shown.toml", res.stdout)
	again := runCmd(t, dir, refuseTimeout, metaBin(t), "-c", "shown.toml", "--cmd", "show-config")
	if again.code != 0 || again.stdout != res.stdout {
		t.Errorf("show-config of show-config's output: exit code %d, stderr %q, output differs: %v\nfirst:\n%s\nsecond:\n%s",
			again.code, again.stderr, again.stdout != res.stdout, res.stdout, again.stdout)
	}
}
