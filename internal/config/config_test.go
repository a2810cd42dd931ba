package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.etcd.io/etcd/server/v3/storage/wal"
)

// writeFile writes content to a new file in t's temp dir and returns its
// path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// configArgs writes content, unless it is "", to a config file and returns
// args with -c FILE in front, and the file's path ("" without a file).
func configArgs(t *testing.T, content string, args []string) ([]string, string) {
	t.Helper()
	if content == "" {
		return args, ""
	}
	path := writeFile(t, "metasrv.toml", content)
	return append([]string{"-c", path}, args...), path
}

// mustLoad calls Load and fails the test on error.
func mustLoad(t *testing.T, args ...string) (Config, Options) {
	t.Helper()
	cfg, opts, err := Load(args)
	if err != nil {
		t.Fatalf("Load(%q): %v", args, err)
	}
	return cfg, opts
}

func TestDefault(t *testing.T) {
	c := Default()
	want := Config{
		LogDir:                        "./.databend/logs",
		LogLevel:                      "INFO",
		AdminAPIAddress:               "127.0.0.1:28002",
		GrpcAPIAddress:                "127.0.0.1:9191",
		GrpcAPIAdvertiseHost:          "",
		MetricAPIAddress:              "127.0.0.1:28001",
		GrpcAPIMaxMessageSize:         33554432,
		WatchHistorySize:              10000,
		WatchHistoryRetention:         600,
		WatchProgressNotifyIntervalMs: 600000,
		GCPercent:                     50,
		Raft: RaftConfig{
			ID:                    1,
			RaftDir:               "./.databend/meta",
			RaftAPIPort:           28004,
			RaftListenHost:        "127.0.0.1",
			RaftAdvertiseHost:     "localhost",
			ClusterName:           "foo_cluster",
			HeartbeatIntervalMs:   300,
			SnapshotLogsSinceLast: 1024,
			WALSegmentSize:        64000000,
			MaxAppliedLogToKeep:   1000,
			WaitLeaderTimeoutMs:   70000,
		},
		Log: LogConfig{
			File:   FileLogConfig{On: true, Format: "json", Limit: 48, MaxSize: 100 << 20},
			Stderr: StderrLogConfig{On: false, Format: "text"},
		},
		Auth: AuthConfig{Enabled: false, TokenTTLMs: 3600000},
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("Default() mismatch (-want +got):\n%s", diff)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
	got, _ := mustLoad(t)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load(nil) mismatch (-want +got):\n%s", diff)
	}
}

// TestExamples loads the example files of the deploy guide verbatim.
func TestExamples(t *testing.T) {
	example := func(n int, mut func(c *Config)) Config {
		c := Default()
		c.LogDir = "./_logs" + string(rune('0'+n))
		mut(&c)
		return c
	}
	tests := []struct {
		file string
		want Config
		grpc string // GrpcAdvertiseAddr
		raft string // RaftAdvertiseAddr
	}{
		{"metasrv-1.toml", example(1, func(c *Config) {
			c.MetricAPIAddress, c.AdminAPIAddress, c.GrpcAPIAddress = "0.0.0.0:28100", "0.0.0.0:28101", "0.0.0.0:9191"
			c.Raft.ID, c.Raft.RaftDir, c.Raft.RaftAPIPort = 1, "./_meta1", 28103
			c.Raft.Single = true
		}), "localhost:9191", "localhost:28103"},
		{"metasrv-2.toml", example(2, func(c *Config) {
			c.MetricAPIAddress, c.AdminAPIAddress, c.GrpcAPIAddress = "0.0.0.0:28200", "0.0.0.0:28201", "0.0.0.0:28202"
			c.Raft.ID, c.Raft.RaftDir, c.Raft.RaftAPIPort = 2, "./_meta2", 28203
			c.Raft.Join = []string{"127.0.0.1:28103"}
		}), "localhost:28202", "localhost:28203"},
		{"metasrv-3.toml", example(3, func(c *Config) {
			c.MetricAPIAddress, c.AdminAPIAddress, c.GrpcAPIAddress = "0.0.0.0:28300", "0.0.0.0:28301", "0.0.0.0:28302"
			c.Raft.ID, c.Raft.RaftDir, c.Raft.RaftAPIPort = 3, "./_meta3", 28303
			c.Raft.Join = []string{"127.0.0.1:28103"}
		}), "localhost:28302", "localhost:28303"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, opts := mustLoad(t, "-c", filepath.Join("..", "..", "examples", tt.file))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
			if opts.ConfigFile == "" {
				t.Errorf("Options.ConfigFile is empty")
			}
			if a := got.GrpcAdvertiseAddr(); a != tt.grpc {
				t.Errorf("GrpcAdvertiseAddr() = %q, want %q", a, tt.grpc)
			}
			if a := got.RaftAdvertiseAddr(); a != tt.raft {
				t.Errorf("RaftAdvertiseAddr() = %q, want %q", a, tt.raft)
			}
		})
	}
}

func TestAddrs(t *testing.T) {
	tests := []struct {
		name              string
		mut               func(c *Config)
		listen, advertise string
		grpcAdvertise     string
	}{
		{"defaults", func(c *Config) {}, "127.0.0.1:28004", "localhost:28004", "127.0.0.1:9191"},
		{"grpc on 0.0.0.0", func(c *Config) { c.GrpcAPIAddress = "0.0.0.0:9191" },
			"127.0.0.1:28004", "localhost:28004", "localhost:9191"},
		{"grpc on ::", func(c *Config) { c.GrpcAPIAddress = "[::]:9191" },
			"127.0.0.1:28004", "localhost:28004", "localhost:9191"},
		{"grpc with empty host", func(c *Config) { c.GrpcAPIAddress = ":9191" },
			"127.0.0.1:28004", "localhost:28004", "localhost:9191"},
		{"grpc advertise host wins", func(c *Config) {
			c.GrpcAPIAddress = "0.0.0.0:9191"
			c.GrpcAPIAdvertiseHost = "meta1.example.com"
		}, "127.0.0.1:28004", "localhost:28004", "meta1.example.com:9191"},
		{"ipv6 hosts", func(c *Config) {
			c.Raft.RaftListenHost, c.Raft.RaftAdvertiseHost, c.Raft.RaftAPIPort = "::", "fd00::1", 5000
			c.GrpcAPIAddress = "[::]:7000"
		}, "[::]:5000", "[fd00::1]:5000", "[fd00::1]:7000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mut(&c)
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate() = %v", err)
			}
			if got := c.RaftListenAddr(); got != tt.listen {
				t.Errorf("RaftListenAddr() = %q, want %q", got, tt.listen)
			}
			if got := c.RaftAdvertiseAddr(); got != tt.advertise {
				t.Errorf("RaftAdvertiseAddr() = %q, want %q", got, tt.advertise)
			}
			if got := c.GrpcAdvertiseAddr(); got != tt.grpcAdvertise {
				t.Errorf("GrpcAdvertiseAddr() = %q, want %q", got, tt.grpcAdvertise)
			}
		})
	}
}

func TestDurations(t *testing.T) {
	c := Default()
	if got := c.HeartbeatInterval(); got != 300*time.Millisecond {
		t.Errorf("HeartbeatInterval() = %v, want 300ms", got)
	}
	if got := c.ElectionTimeout(); got != 1500*time.Millisecond {
		t.Errorf("ElectionTimeout() = %v, want 1.5s", got)
	}
	if got := c.WaitLeaderTimeout(); got != 70*time.Second {
		t.Errorf("WaitLeaderTimeout() = %v, want 70s", got)
	}
}

// TestKeysMatchStructs checks that Config's toml tags, the key table and
// the decoding struct list the same keys in the same order.
func TestKeysMatchStructs(t *testing.T) {
	// fields lists the TOML keys of a struct, tables flattened
	// ("raft_config.id"), with the address of each field.
	var fields func(v reflect.Value, prefix string) (keys []string, ptrs []any)
	fields = func(v reflect.Value, prefix string) (keys []string, ptrs []any) {
		for i := range v.NumField() {
			f, fv := v.Type().Field(i), v.Field(i)
			name := prefix + f.Tag.Get("toml")
			if name == usersKey {
				continue // an array of tables, outside keyDefs
			}
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[fileValue]() {
				k, p := fields(fv, name+".")
				keys, ptrs = append(keys, k...), append(ptrs, p...)
				continue
			}
			keys, ptrs = append(keys, name), append(ptrs, fv.Addr().Interface())
		}
		return keys, ptrs
	}
	var table []string
	for _, d := range keyDefs {
		table = append(table, d.name)
		// [raft_config] flags have no prefix (--id); [log.file] flags have
		// their table's (--log-file-dir).
		wantFlag := strings.NewReplacer("_", "-", ".", "-").Replace(strings.TrimPrefix(d.name, raftTable+"."))
		if d.flag != wantFlag {
			t.Errorf("key %s has flag --%s, want --%s", d.name, d.flag, wantFlag)
		}
	}
	var c Config
	keys, ptrs := fields(reflect.ValueOf(&c).Elem(), "")
	if diff := cmp.Diff(keys, table); diff != "" {
		t.Errorf("Config tags vs keyDefs (-config +keyDefs):\n%s", diff)
	}
	var fc fileConfig
	fkeys, _ := fields(reflect.ValueOf(&fc).Elem(), "")
	if diff := cmp.Diff(fkeys, table); diff != "" {
		t.Errorf("fileConfig tags vs keyDefs (-fileConfig +keyDefs):\n%s", diff)
	}
	// Each key's field pointer is the field of the same name.
	for i, d := range keyDefs {
		if i < len(ptrs) && d.field(&c) != ptrs[i] {
			t.Errorf("key %s points to the wrong field", d.name)
		}
	}
}

func TestSlogLevel(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string
	}{{"debug", "DEBUG"}, {"Info", "INFO"}, {"WARN", "WARN"}, {"error", "ERROR"}} {
		c := Default()
		c.LogLevel = tt.in
		if got := c.SlogLevel().String(); got != tt.want {
			t.Errorf("log_level %q: SlogLevel() = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestDefaultWALSegmentSize checks that the default keeps etcd's segment
// size, what nodes used before the key existed.
func TestDefaultWALSegmentSize(t *testing.T) {
	if got, want := Default().Raft.WALSegmentSize, uint64(wal.SegmentSizeBytes); got != want {
		t.Errorf("default wal_segment_size %d, etcd's wal.SegmentSizeBytes %d", got, want)
	}
}
