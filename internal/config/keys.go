package config

import (
	"slices"
	"strconv"
	"strings"
)

// raftTable is the name of the [raft_config] table.
const raftTable = "raft_config"

// idKey is the node id's key.
const idKey = "raft_config.id"

// idRange is the range of node ids, for messages.
var idRange = "1.." + strconv.FormatUint(MaxNodeID, 10)

// keyDef describes one config key: its TOML name, its flag and where it
// lives in Config. It drives the flags, the unknown-key check and TOML().
type keyDef struct {
	name  string            // TOML key, "log_dir" or "raft_config.id"
	flag  string            // flag name without the dashes
	usage string            // one line, for --help and show-config
	field func(*Config) any // pointer to the field: *string, *bool, *int, *uint32, *uint64 or *[]string
}

// keyDefs lists every config key, in Config's field order, except
// auth.users (an array of tables, see users.go).
var keyDefs = slices.Concat([]keyDef{
	{"log_dir", "log-dir", "directory for log files, unless log.file.dir is set",
		func(c *Config) any { return &c.LogDir }},
	{"log_level", "log-level", "DEBUG, INFO, WARN or ERROR (case-insensitive), unless log.file.level or log.stderr.level is set",
		func(c *Config) any { return &c.LogLevel }},
	{"admin_api_address", "admin-api-address", "host:port of the admin HTTP API",
		func(c *Config) any { return &c.AdminAPIAddress }},
	{"admin_tls_server_cert", "admin-tls-server-cert", "PEM certificate file: serve the admin API over HTTPS (with admin_tls_server_key)",
		func(c *Config) any { return &c.AdminTLSServerCert }},
	{"admin_tls_server_key", "admin-tls-server-key", "PEM private key file of admin_tls_server_cert",
		func(c *Config) any { return &c.AdminTLSServerKey }},
	{"grpc_api_address", "grpc-api-address", "host:port of the gRPC API for applications",
		func(c *Config) any { return &c.GrpcAPIAddress }},
	{"grpc_api_advertise_host", "grpc-api-advertise-host", "host clients use to reach the gRPC API (default: derived from grpc_api_address)",
		func(c *Config) any { return &c.GrpcAPIAdvertiseHost }},
	{"grpc_tls_server_cert", "grpc-tls-server-cert", "PEM certificate file: serve the gRPC API over TLS (with grpc_tls_server_key)",
		func(c *Config) any { return &c.GrpcTLSServerCert }},
	{"grpc_tls_server_key", "grpc-tls-server-key", "PEM private key file of grpc_tls_server_cert",
		func(c *Config) any { return &c.GrpcTLSServerKey }},
	{"grpc_tls_client_ca", "grpc-tls-client-ca", "PEM CA file: require gRPC clients to present a certificate it signed (mutual TLS)",
		func(c *Config) any { return &c.GrpcTLSClientCA }},
	{"metric_api_address", "metric-api-address", "host:port of the Prometheus metrics endpoint",
		func(c *Config) any { return &c.MetricAPIAddress }},
	{"grpc_api_max_message_size", "grpc-api-max-message-size", "largest gRPC message in bytes; a request carries at most half of it less 64 KiB of keys and values",
		func(c *Config) any { return &c.GrpcAPIMaxMessageSize }},
	{"watch_history_size", "watch-history-size", "recent changes kept for watches that resume from a seq; same on every node",
		func(c *Config) any { return &c.WatchHistorySize }},
	{"watch_history_retention", "watch-history-retention", "seconds a change stays in that history (0: until watch_history_size or a compaction drops it); same on every node",
		func(c *Config) any { return &c.WatchHistoryRetention }},
	{"watch_progress_notify_interval", "watch-progress-notify-interval", "ms an etcd watcher with progress_notify stays silent before a progress notification, 10..3600000 (etcd's --watch-progress-notify-interval)",
		func(c *Config) any { return &c.WatchProgressNotifyIntervalMs }},
	{"gc_percent", "gc-percent", "Go GC target (GOGC): heap growth between collections, percent of the live heap, 10..1000, and at least 128 MiB of growth; the GOGC env var wins",
		func(c *Config) any { return &c.GCPercent }},
	{idKey, "id", "this node's raft id, unique in the cluster, 1..18446744073709551613",
		func(c *Config) any { return &c.Raft.ID }},
	{"raft_config.raft_dir", "raft-dir", "directory for the raft log and snapshots",
		func(c *Config) any { return &c.Raft.RaftDir }},
	{"raft_config.raft_api_port", "raft-api-port", "port of the internal raft API, 1..65535",
		func(c *Config) any { return &c.Raft.RaftAPIPort }},
	{"raft_config.raft_listen_host", "raft-listen-host", "host the raft API listens on",
		func(c *Config) any { return &c.Raft.RaftListenHost }},
	{"raft_config.raft_advertise_host", "raft-advertise-host", "host other nodes use to reach the raft API",
		func(c *Config) any { return &c.Raft.RaftAdvertiseHost }},
	{"raft_config.single", "single", "start a one-node cluster if raft_dir is empty (first node only)",
		func(c *Config) any { return &c.Raft.Single }},
	{"raft_config.join", "join", "raft host:port of a cluster node to join if raft_dir is empty; repeatable, comma-separated",
		func(c *Config) any { return &c.Raft.Join }},
	{"raft_config.cluster_name", "cluster-name", "name of the cluster",
		func(c *Config) any { return &c.Raft.ClusterName }},
	{"raft_config.heartbeat_interval", "heartbeat-interval", "leader heartbeat interval in ms, >= 10; election timeout is 5x",
		func(c *Config) any { return &c.Raft.HeartbeatIntervalMs }},
	{"raft_config.snapshot_logs_since_last", "snapshot-logs-since-last", "least applied entries between snapshots (also: log bytes >= min(last snapshot size, 64 MiB)), >= 1",
		func(c *Config) any { return &c.Raft.SnapshotLogsSinceLast }},
	{"raft_config.wal_segment_size", "wal-segment-size", "bytes of a raft log (WAL) segment file, preallocated; a node takes twice this on disk, 1 MiB..1 GiB",
		func(c *Config) any { return &c.Raft.WALSegmentSize }},
	{"raft_config.max_applied_log_to_keep", "max-applied-log-to-keep", "applied entries kept in the log after a snapshot",
		func(c *Config) any { return &c.Raft.MaxAppliedLogToKeep }},
	{"raft_config.wait_leader_timeout", "wait-leader-timeout", "how long start-up waits for a leader, in ms",
		func(c *Config) any { return &c.Raft.WaitLeaderTimeoutMs }},
	{"raft_config.raft_secret", "raft-secret", "shared secret every call on the raft port must carry, >= 16 characters; same on every node (env " + EnvRaftSecret + ")",
		func(c *Config) any { return &c.Raft.RaftSecret }},
	{"raft_config.raft_tls_cert", "raft-tls-cert", "PEM certificate file of this node for mutual TLS between nodes (with raft_tls_key, raft_tls_ca)",
		func(c *Config) any { return &c.Raft.RaftTLSCert }},
	{"raft_config.raft_tls_key", "raft-tls-key", "PEM private key file of raft_tls_cert",
		func(c *Config) any { return &c.Raft.RaftTLSKey }},
	{"raft_config.raft_tls_ca", "raft-tls-ca", "PEM CA file that signs every node's raft_tls_cert",
		func(c *Config) any { return &c.Raft.RaftTLSCA }},
}, logKeyDefs, authKeyDefs)

// lookupKey returns the keyDef named name ("raft_config.id").
func lookupKey(name string) (keyDef, bool) {
	for _, d := range keyDefs {
		if d.name == name {
			return d, true
		}
	}
	return keyDef{}, false
}

// isKnownKey reports whether the TOML key, given as its pieces, is a config
// key or a table holding config keys ([raft_config], [log], [log.file]).
// Comparison is exact: the TOML decoder would also accept "LOG_DIR" for
// log_dir, databend-meta does not.
func isKnownKey(k []string) bool {
	for _, p := range k {
		if strings.Contains(p, ".") {
			return false
		}
	}
	name := strings.Join(k, ".")
	if isTable(name) || isUsersKey(name) {
		return true
	}
	_, ok := lookupKey(name)
	return ok
}

// isTable reports whether name ("log.file") is a table holding config
// keys.
func isTable(name string) bool {
	for _, d := range keyDefs {
		if strings.HasPrefix(d.name, name+".") {
			return true
		}
	}
	return false
}

// tables returns the names of the tables holding config keys, parents
// before their children: "raft_config", "log", "log.file", ...
func tables() []string {
	var ts []string
	for _, d := range keyDefs {
		for i, r := range d.name {
			if r == '.' && !slices.Contains(ts, d.name[:i]) {
				ts = append(ts, d.name[:i])
			}
		}
	}
	return ts
}

// splitKey splits a key name into its table ("" for a top-level key) and
// its name in the table.
func splitKey(name string) (table, leaf string) {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[:i], name[i+1:]
	}
	return "", name
}

// suggestKey returns the valid key an unknown key was probably meant to
// be, and a hint, or "" if there is no obvious one.
func suggestKey(k []string) (key, hint string) {
	// The right name in the wrong table: top-level keys must come before
	// the first [table] header, the others after their table's header.
	table, leaf := strings.Join(k[:len(k)-1], "."), k[len(k)-1]
	var moved []string
	for _, d := range keyDefs {
		if dTable, dLeaf := splitKey(d.name); dLeaf == leaf && dTable != table {
			moved = append(moved, d.name)
		}
	}
	if len(moved) == 1 {
		if dTable, _ := splitKey(moved[0]); dTable != "" {
			return moved[0], "it belongs in the [" + dTable + "] table"
		}
		return moved[0], "it is a top-level key: put it before the first [table] header"
	}
	// A typo or a case difference.
	name := strings.ToLower(strings.Join(k, "."))
	if isTable(name) {
		return name, ""
	}
	best, bestDist := "", 0
	for _, d := range keyDefs {
		if dist := editDistance(name, d.name); best == "" || dist < bestDist {
			best, bestDist = d.name, dist
		}
	}
	for _, t := range tables() {
		if dist := editDistance(name, t); dist < bestDist {
			best, bestDist = t, dist
		}
	}
	for _, f := range userFields {
		if uk := usersKey + "." + f; editDistance(name, uk) < bestDist {
			best, bestDist = uk, editDistance(name, uk)
		}
	}
	if bestDist > typoLimit(leaf) {
		return "", ""
	}
	return best, ""
}

// typoLimit is the largest edit distance at which an unknown key, whose
// last piece is leaf, is taken for a typo: the longer the name, the more
// typos it may hold, but a short one with two wrong letters of three
// ("foo" for "log") is another word.
func typoLimit(leaf string) int {
	switch {
	case len(leaf) <= 4:
		return 1
	case len(leaf) <= 11:
		return 2
	}
	return 3
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and swaps of adjacent bytes each
// count 1.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
