package config

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mut  func(c *Config)
		want error  // nil: valid
		key  string // the key the error names
	}{
		{"defaults", func(c *Config) {}, nil, ""},
		{"log level lower case", func(c *Config) { c.LogLevel = "debug" }, nil, ""},
		{"log level mixed case", func(c *Config) { c.LogLevel = "Warn" }, nil, ""},
		{"log level unknown", func(c *Config) { c.LogLevel = "TRACE" }, ErrInvalidLogLevel, "log_level"},
		{"log level empty", func(c *Config) { c.LogLevel = "" }, ErrInvalidLogLevel, "log_level"},

		// Listen addresses: port 0 and an empty host are fine.
		{"admin port 0", func(c *Config) { c.AdminAPIAddress = "127.0.0.1:0" }, nil, ""},
		{"grpc port 0", func(c *Config) { c.GrpcAPIAddress = "127.0.0.1:0" }, nil, ""},
		{"metric port 0", func(c *Config) { c.MetricAPIAddress = "127.0.0.1:0" }, nil, ""},
		{"grpc on every interface", func(c *Config) { c.GrpcAPIAddress = ":9191" }, nil, ""},
		{"grpc ipv6", func(c *Config) { c.GrpcAPIAddress = "[::1]:9191" }, nil, ""},
		{"grpc host name", func(c *Config) { c.GrpcAPIAddress = "meta-1.example.com:9191" }, nil, ""},
		{"admin no port", func(c *Config) { c.AdminAPIAddress = "127.0.0.1" }, ErrInvalidAddress, "admin_api_address"},
		{"admin empty", func(c *Config) { c.AdminAPIAddress = "" }, ErrInvalidAddress, "admin_api_address"},
		{"grpc port too big", func(c *Config) { c.GrpcAPIAddress = "127.0.0.1:65536" }, ErrInvalidAddress, "grpc_api_address"},
		{"grpc port by name", func(c *Config) { c.GrpcAPIAddress = "127.0.0.1:http" }, ErrInvalidAddress, "grpc_api_address"},
		{"metric negative port", func(c *Config) { c.MetricAPIAddress = "127.0.0.1:-1" }, ErrInvalidAddress, "metric_api_address"},
		{"metric bad host", func(c *Config) { c.MetricAPIAddress = "a b:1" }, ErrInvalidAddress, "metric_api_address"},
		{"grpc advertise host", func(c *Config) { c.GrpcAPIAdvertiseHost = "10.0.0.1" }, nil, ""},
		{"grpc advertise host with port", func(c *Config) { c.GrpcAPIAdvertiseHost = "10.0.0.1:9191" }, ErrInvalidAddress, "grpc_api_advertise_host"},
		{"grpc advertise host unspecified", func(c *Config) { c.GrpcAPIAdvertiseHost = "0.0.0.0" }, ErrInvalidAddress, "grpc_api_advertise_host"},
		{"max message size 0", func(c *Config) { c.GrpcAPIMaxMessageSize = 0 }, ErrInvalidValue, "grpc_api_max_message_size"},
		{"max message size under 1 MiB", func(c *Config) { c.GrpcAPIMaxMessageSize = MinMaxMessageSize - 1 }, ErrInvalidValue, "grpc_api_max_message_size"},
		{"max message size 2^31", func(c *Config) { c.GrpcAPIMaxMessageSize = 1 << 31 }, ErrInvalidValue, "grpc_api_max_message_size"},
		{"watch history 1", func(c *Config) { c.WatchHistorySize = 1 }, nil, ""},
		{"watch history max", func(c *Config) { c.WatchHistorySize = maxWatchHistorySize }, nil, ""},
		{"watch history 0", func(c *Config) { c.WatchHistorySize = 0 }, ErrInvalidValue, "watch_history_size"},
		{"watch history too big", func(c *Config) { c.WatchHistorySize = maxWatchHistorySize + 1 }, ErrInvalidValue, "watch_history_size"},
		{"watch retention 0", func(c *Config) { c.WatchHistoryRetention = 0 }, nil, ""},
		{"watch retention a week", func(c *Config) { c.WatchHistoryRetention = maxWatchHistoryRetention }, nil, ""},
		{"watch retention negative", func(c *Config) { c.WatchHistoryRetention = -1 }, ErrInvalidValue, "watch_history_retention"},
		{"watch retention too long", func(c *Config) { c.WatchHistoryRetention = maxWatchHistoryRetention + 1 }, ErrInvalidValue, "watch_history_retention"},
		{"progress notify min", func(c *Config) { c.WatchProgressNotifyIntervalMs = minProgressNotifyMs }, nil, ""},
		{"progress notify max", func(c *Config) { c.WatchProgressNotifyIntervalMs = maxProgressNotifyMs }, nil, ""},
		{"progress notify 0", func(c *Config) { c.WatchProgressNotifyIntervalMs = 0 }, ErrInvalidValue, "watch_progress_notify_interval"},
		{"progress notify too short", func(c *Config) { c.WatchProgressNotifyIntervalMs = minProgressNotifyMs - 1 }, ErrInvalidValue, "watch_progress_notify_interval"},
		{"progress notify too long", func(c *Config) { c.WatchProgressNotifyIntervalMs = maxProgressNotifyMs + 1 }, ErrInvalidValue, "watch_progress_notify_interval"},
		{"gc percent min", func(c *Config) { c.GCPercent = minGCPercent }, nil, ""},
		{"gc percent max", func(c *Config) { c.GCPercent = maxGCPercent }, nil, ""},
		{"gc percent too low", func(c *Config) { c.GCPercent = minGCPercent - 1 }, ErrInvalidValue, "gc_percent"},
		{"gc percent too high", func(c *Config) { c.GCPercent = maxGCPercent + 1 }, ErrInvalidValue, "gc_percent"},

		{"id 0", func(c *Config) { c.Raft.ID = 0 }, ErrInvalidID, "raft_config.id"},
		{"id 2^63", func(c *Config) { c.Raft.ID = math.MaxInt64 + 1 }, nil, ""},
		{"id max", func(c *Config) { c.Raft.ID = MaxNodeID }, nil, ""},
		{"id reserved by raft", func(c *Config) { c.Raft.ID = MaxNodeID + 1 }, ErrInvalidID, "raft_config.id"},
		{"id 2^64-1", func(c *Config) { c.Raft.ID = math.MaxUint64 }, ErrInvalidID, "raft_config.id"},
		{"raft_dir empty", func(c *Config) { c.Raft.RaftDir = "" }, ErrInvalidValue, "raft_config.raft_dir"},
		{"raft port 0", func(c *Config) { c.Raft.RaftAPIPort = 0 }, ErrInvalidPort, "raft_config.raft_api_port"},
		{"raft port 65535", func(c *Config) { c.Raft.RaftAPIPort = 65535 }, nil, ""},
		{"raft port 65536", func(c *Config) { c.Raft.RaftAPIPort = 65536 }, ErrInvalidPort, "raft_config.raft_api_port"},
		{"listen host empty", func(c *Config) { c.Raft.RaftListenHost = "" }, ErrInvalidAddress, "raft_config.raft_listen_host"},
		{"listen host every interface", func(c *Config) { c.Raft.RaftListenHost = "0.0.0.0" }, nil, ""},
		{"listen host with port", func(c *Config) { c.Raft.RaftListenHost = "127.0.0.1:28004" }, ErrInvalidAddress, "raft_config.raft_listen_host"},
		{"advertise host empty", func(c *Config) { c.Raft.RaftAdvertiseHost = "" }, ErrInvalidAddress, "raft_config.raft_advertise_host"},
		{"advertise host unspecified", func(c *Config) { c.Raft.RaftAdvertiseHost = "::" }, ErrInvalidAddress, "raft_config.raft_advertise_host"},
		{"advertise host bracketed", func(c *Config) { c.Raft.RaftAdvertiseHost = "[::1]" }, ErrInvalidAddress, "raft_config.raft_advertise_host"},
		{"cluster name empty", func(c *Config) { c.Raft.ClusterName = "" }, ErrInvalidValue, "raft_config.cluster_name"},
		{"heartbeat 10", func(c *Config) { c.Raft.HeartbeatIntervalMs = 10 }, nil, ""},
		{"heartbeat 9", func(c *Config) { c.Raft.HeartbeatIntervalMs = 9 }, ErrInvalidValue, "raft_config.heartbeat_interval"},
		{"heartbeat overflows", func(c *Config) { c.Raft.HeartbeatIntervalMs = math.MaxInt64 }, ErrInvalidValue, "raft_config.heartbeat_interval"},
		{"snapshot every entry", func(c *Config) { c.Raft.SnapshotLogsSinceLast = 1 }, nil, ""},
		{"snapshot never", func(c *Config) { c.Raft.SnapshotLogsSinceLast = 0 }, ErrInvalidValue, "raft_config.snapshot_logs_since_last"},
		{"wal segment 1 MiB", func(c *Config) { c.Raft.WALSegmentSize = 1 << 20 }, nil, ""},
		{"wal segment 1 GiB", func(c *Config) { c.Raft.WALSegmentSize = 1 << 30 }, nil, ""},
		{"wal segment too small", func(c *Config) { c.Raft.WALSegmentSize = 1<<20 - 1 }, ErrInvalidValue, "raft_config.wal_segment_size"},
		{"wal segment 0", func(c *Config) { c.Raft.WALSegmentSize = 0 }, ErrInvalidValue, "raft_config.wal_segment_size"},
		{"wal segment too large", func(c *Config) { c.Raft.WALSegmentSize = 1<<30 + 1 }, ErrInvalidValue, "raft_config.wal_segment_size"},
		{"keep no applied log", func(c *Config) { c.Raft.MaxAppliedLogToKeep = 0 }, nil, ""},
		{"wait leader 0", func(c *Config) { c.Raft.WaitLeaderTimeoutMs = 0 }, ErrInvalidValue, "raft_config.wait_leader_timeout"},
		{"invalid UTF-8", func(c *Config) { c.LogDir = "\xff" }, ErrInvalidValue, "log_dir"},

		// Cluster formation.
		{"single", func(c *Config) { c.Raft.Single = true }, nil, ""},
		{"join", func(c *Config) { c.Raft.Join = []string{"127.0.0.1:28103", "meta-2:28103", "[fd00::2]:28103"} }, nil, ""},
		{"single and join", func(c *Config) {
			c.Raft.Single, c.Raft.Join = true, []string{"127.0.0.1:28103"}
		}, ErrSingleAndJoin, "raft_config.join"},
		{"join without port", func(c *Config) { c.Raft.Join = []string{"127.0.0.1"} }, ErrInvalidAddress, "raft_config.join"},
		{"join empty host", func(c *Config) { c.Raft.Join = []string{":28103"} }, ErrInvalidAddress, "raft_config.join"},
		{"join port 0", func(c *Config) { c.Raft.Join = []string{"127.0.0.1:0"} }, ErrInvalidAddress, "raft_config.join"},
		{"join unspecified host", func(c *Config) { c.Raft.Join = []string{"0.0.0.0:28103"} }, ErrInvalidAddress, "raft_config.join"},
		{"join bad second entry", func(c *Config) { c.Raft.Join = []string{"a:1", "b"} }, ErrInvalidAddress, "raft_config.join"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mut(&c)
			checkValidateErr(t, c.Validate(), tt.want, tt.key)
		})
	}
}

// TestValidatePorts checks that two listen addresses of the node that
// would take the same port are refused, naming both keys.
func TestValidatePorts(t *testing.T) {
	tests := []struct {
		name              string
		raftHost          string
		grpc, admin, metr string
		key               string // the key the error names first; "" if valid
		other             string // the other key the message names
	}{
		{"defaults", "127.0.0.1", "127.0.0.1:9191", "127.0.0.1:28002", "127.0.0.1:28001", "", ""},
		{"grpc on the raft port", "127.0.0.1", "127.0.0.1:28004", "127.0.0.1:28002", "127.0.0.1:28001",
			"grpc_api_address", "raft_config.raft_listen_host:raft_api_port"},
		{"grpc on every interface, raft port", "127.0.0.1", "0.0.0.0:28004", "127.0.0.1:28002", "127.0.0.1:28001",
			"grpc_api_address", "raft_config.raft_listen_host:raft_api_port"},
		{"raft on every interface", "0.0.0.0", "10.0.0.1:28004", "127.0.0.1:28002", "127.0.0.1:28001",
			"grpc_api_address", "raft_config.raft_listen_host:raft_api_port"},
		{"raft on IPv6 every interface", "::", "127.0.0.1:9191", "127.0.0.1:28004", "127.0.0.1:28001",
			"admin_api_address", "raft_config.raft_listen_host:raft_api_port"},
		{"admin and metrics", "127.0.0.1", "127.0.0.1:9191", "127.0.0.1:28001", "127.0.0.1:28001",
			"metric_api_address", "admin_api_address"},
		{"admin with an empty host", "127.0.0.1", "127.0.0.1:9191", ":28001", "127.0.0.1:28001",
			"metric_api_address", "admin_api_address"},
		{"metrics on every IPv6 interface", "127.0.0.1", "127.0.0.1:9191", "127.0.0.1:28002", "[::]:9191",
			"metric_api_address", "grpc_api_address"},
		{"localhost is 127.0.0.1", "127.0.0.1", "127.0.0.1:9191", "localhost:9191", "127.0.0.1:28001",
			"admin_api_address", "grpc_api_address"},
		{"host names in any case", "127.0.0.1", "meta-1:9191", "META-1:9191", "127.0.0.1:28001",
			"admin_api_address", "grpc_api_address"},
		{"0.0.0.0 covers host names", "127.0.0.1", "meta-1:9191", "0.0.0.0:9191", "127.0.0.1:28001",
			"admin_api_address", "grpc_api_address"},
		{"port 0 twice", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "", ""},
		{"other loopback address", "127.0.0.1", "127.0.0.1:9191", "127.0.0.2:9191", "127.0.0.1:28001", "", ""},
		{"other interfaces", "10.0.0.1", "10.0.0.2:28004", "127.0.0.1:28002", "127.0.0.1:28001", "", ""},
		{"IPv4 every interface and IPv6 loopback", "127.0.0.1", "0.0.0.0:9191", "[::1]:9191", "127.0.0.1:28001", "", ""},
		{"different names", "127.0.0.1", "meta-1:9191", "meta-2:9191", "127.0.0.1:28001", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.Raft.RaftListenHost = tt.raftHost
			c.GrpcAPIAddress, c.AdminAPIAddress, c.MetricAPIAddress = tt.grpc, tt.admin, tt.metr
			err := c.Validate()
			if tt.key == "" {
				checkValidateErr(t, err, nil, "")
				return
			}
			checkValidateErr(t, err, ErrPortClash, tt.key)
			if !strings.Contains(err.Error(), tt.other+" ") || !strings.Contains(err.Error(), "give each its own port") {
				t.Errorf("error %q does not name %s and say what to do", err, tt.other)
			}
		})
	}
}

// TestValidateJoinSelf checks that a join list naming this node's own raft
// address is rejected, with localhost, loopback and unspecified hosts
// taken as the same machine.
func TestValidateJoinSelf(t *testing.T) {
	tests := []struct {
		listen, advertise string
		join              string
		self              bool
	}{
		{"127.0.0.1", "localhost", "127.0.0.1:28004", true},
		{"127.0.0.1", "localhost", "localhost:28004", true},
		{"127.0.0.1", "localhost", "LocalHost:28004", true},
		{"127.0.0.1", "localhost", "[::1]:28004", true},
		{"0.0.0.0", "10.0.0.1", "127.0.0.1:28004", true},
		{"0.0.0.0", "10.0.0.1", "10.0.0.1:28004", true},
		{"10.0.0.1", "meta-1", "meta-1:28004", true},
		{"10.0.0.1", "meta-1", "10.0.0.1:28004", true},
		{"::1", "localhost", "127.0.0.1:28004", true},
		{"127.0.0.1", "localhost", "127.0.0.1:28005", false},
		{"127.0.0.1", "localhost", "10.0.0.2:28004", false},
		{"10.0.0.1", "meta-1", "127.0.0.1:28004", false},
		{"10.0.0.1", "meta-1", "meta-2:28004", false},
	}
	for _, tt := range tests {
		t.Run(tt.listen+"/"+tt.advertise+"/"+tt.join, func(t *testing.T) {
			c := Default()
			c.Raft.RaftListenHost, c.Raft.RaftAdvertiseHost = tt.listen, tt.advertise
			c.Raft.Join = []string{"10.0.0.9:28004", tt.join}
			var want error
			if tt.self {
				want = ErrJoinSelf
			}
			err := c.Validate()
			checkValidateErr(t, err, want, "raft_config.join")
			if tt.self && !strings.Contains(err.Error(), "remove it") {
				t.Errorf("error %q does not say what to do", err)
			}
		})
	}
}

func checkValidateErr(t *testing.T, err, want error, key string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("Validate() = %v, want nil", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("Validate() = %v, want %v", err, want)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, key+": ") || strings.Contains(msg, "\n") {
		t.Errorf("Validate() = %q, want one line starting with %q", msg, key+": ")
	}
}
