package config

import (
	"net"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/raft/v3"
)

// Config is the configuration of one databend-meta node. The TOML keys are
// the same as databend-meta's; every key can also be given as a flag (see
// Load). The zero value is not usable: start from Default.
type Config struct {
	// LogDir is the directory log files are written to, unless
	// log.file.dir is set. Default "./.databend/logs".
	LogDir string `toml:"log_dir"`

	// LogLevel is the lowest level logged: DEBUG, INFO, WARN or ERROR,
	// case-insensitive; log.file.level and log.stderr.level override it
	// for their sink. Default "INFO"; DEBUG logs every raft message and is
	// meant for debugging only.
	LogLevel string `toml:"log_level"`

	// AdminAPIAddress is the host:port the admin HTTP API (cluster status)
	// listens on. Default "127.0.0.1:28002". Port 0 picks a free port.
	AdminAPIAddress string `toml:"admin_api_address"`

	// AdminTLSServerCert and AdminTLSServerKey are PEM files of the
	// certificate and private key the admin API serves HTTPS with. Both
	// or neither; default "": plain HTTP. Files are read at start-up.
	AdminTLSServerCert string `toml:"admin_tls_server_cert"`
	AdminTLSServerKey  string `toml:"admin_tls_server_key"`

	// GrpcAPIAddress is the host:port the public gRPC API, used by
	// applications to read and write metadata, listens on.
	// Default "127.0.0.1:9191". Port 0 picks a free port.
	GrpcAPIAddress string `toml:"grpc_api_address"`

	// GrpcAPIAdvertiseHost is the host clients are told to use to reach the
	// gRPC API; the port is the one of GrpcAPIAddress. Default "": derived
	// from GrpcAPIAddress (see GrpcAdvertiseAddr). Set it when the node
	// listens on 0.0.0.0 behind a name or address clients must use.
	GrpcAPIAdvertiseHost string `toml:"grpc_api_advertise_host"`

	// GrpcTLSServerCert and GrpcTLSServerKey are PEM files of the
	// certificate and private key the gRPC API serves TLS with. Both or
	// neither; default "": plaintext. Use TLS whenever auth is enabled:
	// passwords and tokens travel in the requests.
	GrpcTLSServerCert string `toml:"grpc_tls_server_cert"`
	GrpcTLSServerKey  string `toml:"grpc_tls_server_key"`

	// GrpcTLSClientCA is a PEM file of the CA(s) that sign client
	// certificates: when set, the gRPC API requires every client to
	// present one (mutual TLS). Needs GrpcTLSServerCert. Default "": no
	// client certificate asked for.
	GrpcTLSClientCA string `toml:"grpc_tls_client_ca"`

	// MetricAPIAddress is the host:port the Prometheus metrics endpoint
	// listens on. Default "127.0.0.1:28001". Port 0 picks a free port.
	MetricAPIAddress string `toml:"metric_api_address"`

	// GrpcAPIMaxMessageSize is the largest gRPC message, in bytes, the node
	// sends or receives. Default 32 MiB (33554432); MinMaxMessageSize
	// (1 MiB)..2^31-1. It sets the size limits (grpcapi.DefaultLimits): a
	// request carries at most half of it less 64 KiB of keys and values,
	// and a write whose reply would be larger than it is refused. The raft
	// port accepts messages of this size too, so every entry replicates.
	// Raise it only if single values or transactions are that large, on
	// every node and client alike.
	GrpcAPIMaxMessageSize int `toml:"grpc_api_max_message_size"`

	// WatchHistorySize is how many of the most recent changes (events of
	// any key) the node keeps so that a watch can resume from a seq after a
	// disconnect; a resume from further back gets a "compacted" error and
	// the client re-lists. Default DefaultWatchHistorySize (10000);
	// 1..10000000. The history is part of the replicated state: use the
	// same value on every node. Memory: each event holds the key's previous
	// and new value, so raise it with care when values are large.
	WatchHistorySize int `toml:"watch_history_size"`

	// WatchHistoryRetention is how long, in seconds, a change stays in
	// that history (by the leader's clock of the entries): older changes
	// are dropped, so a watch or an etcd Range at a revision further back
	// is refused as compacted. Default DefaultWatchHistoryRetention (600:
	// twice Kubernetes' compaction interval, so its own KV.Compact
	// decides); 0 keeps changes until watch_history_size or a Compact
	// drops them; at most 604800 (a week). The same on every node.
	// watch_history_size still bounds the memory.
	WatchHistoryRetention int `toml:"watch_history_retention"`

	// WatchProgressNotifyIntervalMs is how long, in milliseconds, an etcd
	// watcher created with progress_notify (clientv3.WithProgressNotify,
	// Kubernetes' watch cache) stays silent before it gets a progress
	// notification, an empty response at the revision it reached: etcd's
	// --watch-progress-notify-interval. Default
	// DefaultWatchProgressNotifyInterval (600000: 10 minutes, etcd's);
	// 10..3600000 (an hour). Lower it when clients must learn sooner that
	// a quiet watch is up to date; each notification is one small message
	// per such watcher.
	WatchProgressNotifyIntervalMs uint64 `toml:"watch_progress_notify_interval"`

	// GCPercent is the Go garbage collector's GOGC for this node: how far
	// the heap may grow between collections, in percent of the heap live
	// after the last one. Default 50 (Go's own default is 100); 10..1000.
	// The state is held in memory and is nearly all of the live heap, so
	// at 100 a node takes about twice its state; at 50, 1.5 times, for
	// twice as many collections: at 1M keys of 256 bytes a node peaks at
	// ~640 MB instead of ~1.1 GB, and the GC takes 1-2% of a core either
	// way (docs/PERFORMANCE.md). Whatever the percent, the heap may always
	// grow by 128 MiB: a small state (10,000 keys: ~15 MB live) collected
	// at a percent of its size would be collected several times a second
	// under load, for a tenth or more of a busy node's CPU.
	// Lower it to save memory at the cost of GC CPU. The GOGC environment
	// variable, when set, wins over it; GOMEMLIMIT applies on top of
	// either.
	GCPercent int `toml:"gc_percent"`

	// Raft is the [raft_config] table.
	Raft RaftConfig `toml:"raft_config"`

	// Log is the [log] table: [log.file] and [log.stderr] (see LogConfig).
	Log LogConfig `toml:"log"`

	// Auth is the [auth] table: users and tokens (see AuthConfig).
	Auth AuthConfig `toml:"auth"`
}

// RaftConfig is the [raft_config] table: this node's identity, raft
// storage, the raft port and how the node forms or joins a cluster.
type RaftConfig struct {
	// ID is this node's raft id, unique in the cluster and never reused:
	// 1..MaxNodeID (18446744073709551613). Default 1. The TOML
	// specification promises only signed 64-bit integers: ids above
	// 9223372036854775807 load here, but other TOML tools may refuse them.
	ID uint64 `toml:"id"`

	// RaftDir is the directory holding the raft log, snapshots and lock
	// file. Default "./.databend/meta". Put it on a local disk with a
	// working fsync; one directory per node.
	RaftDir string `toml:"raft_dir"`

	// RaftAPIPort is the port of the internal raft API (peer traffic and
	// join/leave), 1..65535. Default 28004. Applications never use it.
	RaftAPIPort uint32 `toml:"raft_api_port"`

	// RaftListenHost is the host the raft API listens on.
	// Default "127.0.0.1"; use "0.0.0.0" to listen on every interface.
	RaftListenHost string `toml:"raft_listen_host"`

	// RaftAdvertiseHost is the host other nodes use to reach this node's
	// raft API. Default "localhost". In a multi-machine cluster set it to a
	// name or address the other machines can reach.
	RaftAdvertiseHost string `toml:"raft_advertise_host"`

	// Single starts a new one-node cluster if raft_dir holds no data;
	// ignored on restart. Default false. Set it on the first node only;
	// it cannot be combined with Join.
	Single bool `toml:"single"`

	// Join lists raft addresses ("host:port") of nodes of the cluster to
	// join if raft_dir holds no data; ignored on restart. Default empty.
	// Must not list this node's own address.
	Join []string `toml:"join"`

	// ClusterName names the cluster; it is stored with the raft log.
	// Default "foo_cluster".
	ClusterName string `toml:"cluster_name"`

	// HeartbeatIntervalMs is the leader's heartbeat interval in
	// milliseconds; at least 10. Default 300. The election timeout is
	// derived: 5x the heartbeat, randomized by raft up to 10x. Raise it on
	// slow networks or disks, lower it for faster fail-over.
	HeartbeatIntervalMs uint64 `toml:"heartbeat_interval"`

	// SnapshotLogsSinceLast is the least number of log entries applied
	// after the last snapshot before a new one is taken; at least 1.
	// Default 1024. A snapshot is taken once at least this many entries
	// were applied since the last one AND those entries hold at least as
	// many bytes as the last snapshot, so that snapshots cost no more disk
	// and CPU than the log itself however large the state grows (a 1 GB
	// state is written again after 1 GB of log, not every 1024 writes).
	// Whatever the sizes, a snapshot is taken after 1024 times this many
	// entries, to keep the log that a restart replays short, and once the
	// log holds 64 MiB, because the log since the last snapshot is held in
	// memory too. Raise it to take snapshots less often
	// with a small state; the first snapshot comes after this many entries.
	SnapshotLogsSinceLast uint64 `toml:"snapshot_logs_since_last"`

	// WALSegmentSize is the size, in bytes, of a raft log (WAL) segment
	// file: each is preallocated to it, and the next one (wal/0.tmp) is
	// made ready ahead of time, so a node takes twice this much disk for
	// its log even when it holds one key. Default 64000000 (64 MB, etcd's);
	// 1048576 (1 MiB) .. 1073741824 (1 GiB). Segments are removed once a
	// snapshot covers them. Lower it, e.g. to 8388608 (8 MiB), for test
	// or small clusters to save disk; each cut of a full segment costs an
	// fsync and a rename, so keep it well above the bytes written per
	// second. One value per process (see storage.SetWALSegmentSize);
	// changing it takes effect for new segments.
	WALSegmentSize uint64 `toml:"wal_segment_size"`

	// MaxAppliedLogToKeep is how many applied log entries are kept after a
	// snapshot, so that slightly lagging followers catch up from the log
	// instead of a snapshot. Default 1000.
	MaxAppliedLogToKeep uint64 `toml:"max_applied_log_to_keep"`

	// WaitLeaderTimeoutMs is how long, in milliseconds, start-up waits for
	// a leader (and for a join to succeed) before giving up. Default 70000.
	WaitLeaderTimeoutMs uint64 `toml:"wait_leader_timeout"`

	// RaftSecret is a shared secret every node of the cluster must hold:
	// each call on the raft port (raft messages, snapshots, join, leave)
	// carries it and a call without it is refused, so that a process that
	// is not a member cannot join, vote or append. Default "": not
	// checked. At least 16 characters; the same on every node. Prefer the
	// environment variable METASRV_RAFT_SECRET to the flag, which other
	// users of the machine can see. It travels in the clear unless
	// RaftTLS* is set.
	RaftSecret string `toml:"raft_secret"`

	// RaftTLSCert, RaftTLSKey and RaftTLSCA turn on mutual TLS between
	// nodes: PEM files of this node's certificate, its private key, and
	// the CA that signs every node's certificate. All three or none;
	// default "": plaintext. A node accepts only peers presenting a
	// certificate of RaftTLSCA and checks that the peer it dials holds a
	// certificate for the host it dialed (raft_advertise_host), so every
	// node's certificate must name its raft_advertise_host.
	RaftTLSCert string `toml:"raft_tls_cert"`
	RaftTLSKey  string `toml:"raft_tls_key"`
	RaftTLSCA   string `toml:"raft_tls_ca"`
}

// DefaultWatchHistorySize is watch_history_size's default, the state
// machine's own default history (statemachine.DefaultHistorySize; a test
// of cmd/databend-meta checks that they agree).
const DefaultWatchHistorySize = 10000

// DefaultWatchHistoryRetention is watch_history_retention's default in
// seconds, the state machine's own (statemachine.DefaultHistoryRetention).
const DefaultWatchHistoryRetention = 600

// DefaultWatchProgressNotifyInterval is watch_progress_notify_interval's
// default in milliseconds: etcd's, 10 minutes.
const DefaultWatchProgressNotifyInterval = 600_000

// MinMaxMessageSize is the smallest grpc_api_max_message_size, 1 MiB: it
// leaves a request 448 KiB of keys and values.
const MinMaxMessageSize = 1 << 20

// MaxNodeID is the largest node id, 2^64-3: raft takes 0 for "none" and
// the two largest uint64 for its local storage threads
// (raft.LocalAppendThread, raft.LocalApplyThread), and refuses to start a
// node with any of them.
const MaxNodeID = raft.LocalApplyThread - 1

// DefaultWALSegmentSize is raft_config.wal_segment_size's default: etcd's
// wal.SegmentSizeBytes, 64 MB.
const DefaultWALSegmentSize = 64 * 1000 * 1000

// Default returns the configuration used for every key that neither the
// config file nor a flag sets.
func Default() Config {
	return Config{
		LogDir:                "./.databend/logs",
		LogLevel:              "INFO",
		AdminAPIAddress:       "127.0.0.1:28002",
		GrpcAPIAddress:        "127.0.0.1:9191",
		GrpcAPIAdvertiseHost:  "",
		MetricAPIAddress:      "127.0.0.1:28001",
		GrpcAPIMaxMessageSize: 32 << 20,
		WatchHistorySize:      DefaultWatchHistorySize,
		WatchHistoryRetention: DefaultWatchHistoryRetention,
		GCPercent:             50,

		WatchProgressNotifyIntervalMs: DefaultWatchProgressNotifyInterval,
		Raft: RaftConfig{
			ID:                    1,
			RaftDir:               "./.databend/meta",
			RaftAPIPort:           28004,
			RaftListenHost:        "127.0.0.1",
			RaftAdvertiseHost:     "localhost",
			Single:                false,
			Join:                  nil,
			ClusterName:           "foo_cluster",
			HeartbeatIntervalMs:   300,
			SnapshotLogsSinceLast: 1024,
			WALSegmentSize:        DefaultWALSegmentSize,
			MaxAppliedLogToKeep:   1000,
			WaitLeaderTimeoutMs:   70000,
		},
		Log:  defaultLogConfig(),
		Auth: defaultAuthConfig(),
	}
}

// RaftListenAddr returns the address the raft API listens on:
// raft_listen_host:raft_api_port.
func (c *Config) RaftListenAddr() string {
	return net.JoinHostPort(c.Raft.RaftListenHost, c.raftPort())
}

// RaftAdvertiseAddr returns the address other nodes use to reach this
// node's raft API: raft_advertise_host:raft_api_port.
func (c *Config) RaftAdvertiseAddr() string {
	return net.JoinHostPort(c.Raft.RaftAdvertiseHost, c.raftPort())
}

// GrpcAdvertiseAddr returns the address clients are told to use for the
// gRPC API: grpc_api_advertise_host with the port of grpc_api_address if
// the host is set; otherwise grpc_api_address, with an unspecified host
// (empty, 0.0.0.0 or ::) replaced by raft_advertise_host.
//
// If grpc_api_address has port 0, the returned port is 0 too: the caller
// must use the port the listener actually got.
func (c *Config) GrpcAdvertiseAddr() string {
	host, port, err := net.SplitHostPort(c.GrpcAPIAddress)
	if err != nil {
		return c.GrpcAPIAddress // Validate rejects this.
	}
	switch {
	case c.GrpcAPIAdvertiseHost != "":
		host = c.GrpcAPIAdvertiseHost
	case isUnspecifiedHost(host):
		host = c.Raft.RaftAdvertiseHost
	}
	return net.JoinHostPort(host, port)
}

// HeartbeatInterval returns heartbeat_interval as a duration.
func (c *Config) HeartbeatInterval() time.Duration {
	return time.Duration(c.Raft.HeartbeatIntervalMs) * time.Millisecond
}

// ElectionTimeout returns the base election timeout, 5x the heartbeat
// interval; raft randomizes the actual timeout between 1x and 2x of it.
func (c *Config) ElectionTimeout() time.Duration {
	return ElectionTicks * c.HeartbeatInterval()
}

// ElectionTicks is the election timeout in heartbeat intervals.
const ElectionTicks = 5

// TicksPerHeartbeat is how many raft ticks make one heartbeat_interval:
// the node ticks every TickInterval, with raft's HeartbeatTick
// TicksPerHeartbeat and ElectionTick ElectionTicks*TicksPerHeartbeat, so
// that a randomized election timeout has a finer grain than a heartbeat.
const TicksPerHeartbeat = 2

// TickInterval returns the raft tick, heartbeat_interval/TicksPerHeartbeat.
func (c *Config) TickInterval() time.Duration {
	return c.HeartbeatInterval() / TicksPerHeartbeat
}

// WatchProgressNotifyInterval returns watch_progress_notify_interval as
// a duration.
func (c *Config) WatchProgressNotifyInterval() time.Duration {
	return time.Duration(c.WatchProgressNotifyIntervalMs) * time.Millisecond
}

// WaitLeaderTimeout returns wait_leader_timeout as a duration.
func (c *Config) WaitLeaderTimeout() time.Duration {
	return time.Duration(c.Raft.WaitLeaderTimeoutMs) * time.Millisecond
}

func (c *Config) raftPort() string {
	return strconv.FormatUint(uint64(c.Raft.RaftAPIPort), 10)
}

// isUnspecifiedHost reports whether host means "every interface" rather
// than an address someone can connect to.
func isUnspecifiedHost(host string) bool {
	return host == "" || host == "0.0.0.0" || host == "::"
}

// normalize trims spaces around join entries and drops empty ones, so that
// --join "a:1, b:2" works and --join "" clears the config file's list. An
// empty list becomes nil.
func (c *Config) normalize() {
	var join []string
	for _, j := range c.Raft.Join {
		if j = strings.TrimSpace(j); j != "" {
			join = append(join, j)
		}
	}
	c.Raft.Join = join
}
