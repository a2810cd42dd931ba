package config

import (
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds of raft_config.wal_segment_size: below 1 MiB a busy node cuts
// (fsync, rename) a segment many times a second; every segment is
// preallocated, so above 1 GiB an idle node takes gigabytes of disk.
const (
	minWALSegmentSize = 1 << 20
	maxWALSegmentSize = 1 << 30
)

const (
	minHeartbeatMs = 10
	// maxMs keeps every derived duration, up to 10x a heartbeat, within
	// time.Duration.
	maxMs = math.MaxInt64 / 1_000_000 / 10
	// maxTOMLInt is the largest integer the TOML specification promises
	// every reader handles. Counts stay within it; only raft_config.id,
	// a uint64 in raft, goes beyond (decodeTOML reads larger integers).
	maxTOMLInt = math.MaxInt64
)

// Validate checks the configuration and returns the first problem found,
// wrapping one of the package's sentinel errors; the message names the key.
// Load calls it; call it yourself for a Config built in code.
func (c *Config) Validate() error {
	for _, check := range []func() error{
		c.validateStrings,
		c.validateLog,
		c.validateAPIs,
		c.validateWatch,
		c.validateGC,
		c.validateRaft,
		c.validatePorts,
		c.validateJoin,
		c.validateSecurity,
	} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) validateStrings() error {
	for _, d := range keyDefs {
		var ss []string
		switch p := d.field(c).(type) {
		case *string:
			ss = []string{*p}
		case *[]string:
			ss = *p
		}
		for _, s := range ss {
			if !utf8.ValidString(s) {
				if isSecretKey(d.name) {
					return keyErrorf(d.name, "%w: it is not valid UTF-8: use UTF-8 text", ErrInvalidValue)
				}
				return keyErrorf(d.name, "%w: %q is not valid UTF-8: use UTF-8 text", ErrInvalidValue, s)
			}
		}
	}
	for i, u := range c.Auth.Users {
		if !utf8.ValidString(u.Name) || !utf8.ValidString(u.PasswordHash) {
			return keyErrorf(fmt.Sprintf("%s[%d]", usersKey, i+1), "%w: not valid UTF-8: use UTF-8 text", ErrInvalidValue)
		}
	}
	return nil
}

func (c *Config) validateAPIs() error {
	for _, a := range []struct{ key, addr, example string }{
		{"admin_api_address", c.AdminAPIAddress, "127.0.0.1:28002"},
		{"grpc_api_address", c.GrpcAPIAddress, "127.0.0.1:9191"},
		{"metric_api_address", c.MetricAPIAddress, "127.0.0.1:28001"},
	} {
		if err := checkListenAddr(a.addr, a.example); err != nil {
			return &keyError{key: a.key, err: err}
		}
	}
	if h := c.GrpcAPIAdvertiseHost; h != "" {
		if err := checkConnectHost(h); err != nil {
			return keyErrorf("grpc_api_advertise_host", "%w: %w: give the host only, the port is grpc_api_address's", ErrInvalidAddress, err)
		}
	}
	if n := c.GrpcAPIMaxMessageSize; n < MinMaxMessageSize || n > math.MaxInt32 {
		return keyErrorf("grpc_api_max_message_size", "%w %d: use a size in bytes in %d..%d, such as 33554432 (32 MiB)", ErrInvalidValue, n, MinMaxMessageSize, math.MaxInt32)
	}
	return nil
}

// maxWatchHistorySize bounds watch_history_size: the history is held in
// memory and copied into every snapshot.
const maxWatchHistorySize = 10_000_000

func (c *Config) validateWatch() error {
	if n := c.WatchHistorySize; n < 1 || n > maxWatchHistorySize {
		return keyErrorf("watch_history_size", "%w %d: use a number of events in 1..%d; the default is %d",
			ErrInvalidValue, n, maxWatchHistorySize, DefaultWatchHistorySize)
	}
	if s := c.WatchHistoryRetention; s < 0 || s > maxWatchHistoryRetention {
		return keyErrorf("watch_history_retention", "%w %d: use seconds in 0..%d (0: no limit by time); the default is %d",
			ErrInvalidValue, s, maxWatchHistoryRetention, DefaultWatchHistoryRetention)
	}
	if ms := c.WatchProgressNotifyIntervalMs; ms < minProgressNotifyMs || ms > maxProgressNotifyMs {
		return keyErrorf("watch_progress_notify_interval", "%w %d: use milliseconds in %d..%d; the default is %d (10 minutes, etcd's)",
			ErrInvalidValue, ms, minProgressNotifyMs, maxProgressNotifyMs, DefaultWatchProgressNotifyInterval)
	}
	return nil
}

// Bounds of watch_progress_notify_interval, those of the native watch's
// progress_interval_ms: every 10 ms at most, at least once an hour.
const (
	minProgressNotifyMs = 10
	maxProgressNotifyMs = 3_600_000
)

// maxWatchHistoryRetention bounds watch_history_retention: a week.
const maxWatchHistoryRetention = 7 * 24 * 3600

// Bounds of gc_percent: below 10 the GC runs nearly all the time; above
// 1000 a node takes more than ten times its state.
const (
	minGCPercent = 10
	maxGCPercent = 1000
)

func (c *Config) validateGC() error {
	if n := c.GCPercent; n < minGCPercent || n > maxGCPercent {
		return keyErrorf("gc_percent", "%w %d: use a percentage in %d..%d; the default is 50, Go's own 100",
			ErrInvalidValue, n, minGCPercent, maxGCPercent)
	}
	return nil
}

func (c *Config) validateRaft() error {
	r := &c.Raft
	if r.ID < 1 || r.ID > MaxNodeID {
		return keyErrorf(idKey, "%w %d: give every node a unique id in %s (raft keeps 0 and the two largest uint64 for itself)", ErrInvalidID, r.ID, idRange)
	}
	if r.RaftDir == "" {
		return keyErrorf("raft_config.raft_dir", "%w: it is empty: set the directory for the raft log", ErrInvalidValue)
	}
	if r.RaftAPIPort < 1 || r.RaftAPIPort > 65535 {
		return keyErrorf("raft_config.raft_api_port", "%w %d: use a port in 1..65535, such as 28004", ErrInvalidPort, r.RaftAPIPort)
	}
	if r.RaftListenHost == "" {
		return keyErrorf("raft_config.raft_listen_host", "%w: it is empty: use an IP address or host name, or 0.0.0.0 for every interface", ErrInvalidAddress)
	}
	if err := checkHost(r.RaftListenHost); err != nil {
		return keyErrorf("raft_config.raft_listen_host", "%w: %w", ErrInvalidAddress, err)
	}
	if err := checkConnectHost(r.RaftAdvertiseHost); err != nil {
		return keyErrorf("raft_config.raft_advertise_host", "%w: %w: use a host name or IP address the other nodes can reach", ErrInvalidAddress, err)
	}
	if r.ClusterName == "" {
		return keyErrorf("raft_config.cluster_name", "%w: it is empty: name the cluster, e.g. %q", ErrInvalidValue, "foo_cluster")
	}
	if ms := r.HeartbeatIntervalMs; ms < minHeartbeatMs || ms > maxMs {
		return keyErrorf("raft_config.heartbeat_interval", "%w %d: use at least %d milliseconds (and at most %d); the default is 300",
			ErrInvalidValue, ms, minHeartbeatMs, maxMs)
	}
	if n := r.SnapshotLogsSinceLast; n < 1 || n > maxTOMLInt {
		return keyErrorf("raft_config.snapshot_logs_since_last", "%w %d: use a number of log entries >= 1; the default is 1024", ErrInvalidValue, n)
	}
	if n := r.WALSegmentSize; n < minWALSegmentSize || n > maxWALSegmentSize {
		return keyErrorf("raft_config.wal_segment_size", "%w %d: use a size in bytes in %d (1 MiB)..%d (1 GiB); the default is %d (64 MB)",
			ErrInvalidValue, n, minWALSegmentSize, maxWALSegmentSize, DefaultWALSegmentSize)
	}
	if n := r.MaxAppliedLogToKeep; n > maxTOMLInt {
		return keyErrorf("raft_config.max_applied_log_to_keep", "%w %d: use at most %d; the default is 1000", ErrInvalidValue, n, uint64(maxTOMLInt))
	}
	if ms := r.WaitLeaderTimeoutMs; ms < 1 || ms > maxMs {
		return keyErrorf("raft_config.wait_leader_timeout", "%w %d: use at least 1 and at most %d milliseconds; the default is 70000", ErrInvalidValue, ms, maxMs)
	}
	return nil
}

// validatePorts checks that no two of the node's listen addresses take
// the same port, which would fail at start-up as if another process held
// it. Port 0 (any free port) never clashes.
func (c *Config) validatePorts() error {
	addrs := []struct{ key, name, addr string }{
		{"raft_config.raft_api_port", "raft_config.raft_listen_host:raft_api_port", c.RaftListenAddr()},
		{"grpc_api_address", "grpc_api_address", c.GrpcAPIAddress},
		{"admin_api_address", "admin_api_address", c.AdminAPIAddress},
		{"metric_api_address", "metric_api_address", c.MetricAPIAddress},
	}
	for i, a := range addrs {
		for _, b := range addrs[:i] {
			if samePort(a.addr, b.addr) {
				return keyErrorf(a.key, "%w: %s %q and %s %q: give each its own port", ErrPortClash, b.name, b.addr, a.name, a.addr)
			}
		}
	}
	return nil
}

// samePort reports whether listening on both valid addresses would take
// the same port: the same port, not 0, and hosts that overlap: the same
// host, or one of them every interface ("", "::"; "0.0.0.0" covers IPv4
// addresses and host names). localhost is taken as 127.0.0.1, where Go
// listens for it; other names are compared as written.
func samePort(a, b string) bool {
	ha, pa, _ := net.SplitHostPort(a)
	hb, pb, _ := net.SplitHostPort(b)
	if pa != pb || pa == "0" {
		return false
	}
	norm := func(h string) string {
		if strings.EqualFold(h, "localhost") {
			return "127.0.0.1"
		}
		if ip, err := netip.ParseAddr(h); err == nil {
			return ip.Unmap().String()
		}
		return strings.ToLower(h)
	}
	ha, hb = norm(ha), norm(hb)
	covers := func(all, h string) bool {
		switch all {
		case "", "::":
			return true
		case "0.0.0.0":
			ip, err := netip.ParseAddr(h)
			return err != nil || ip.Is4()
		}
		return false
	}
	return ha == hb || covers(ha, hb) || covers(hb, ha)
}

func (c *Config) validateJoin() error {
	r := &c.Raft
	if r.Single && len(r.Join) > 0 {
		return keyErrorf("raft_config.join", "%w (raft_config.single = true, join = %q): use single only on the first node and join on the others", ErrSingleAndJoin, r.Join)
	}
	for _, j := range r.Join {
		if err := checkConnectAddr(j); err != nil {
			return keyErrorf("raft_config.join", "%w %q: %w: list the raft address (raft_advertise_host:raft_api_port) of a node in the cluster, like %q", ErrInvalidAddress, j, err, "127.0.0.1:28103")
		}
		if which := c.selfAddr(j); which != "" {
			return keyErrorf("raft_config.join", "%w %q (%s): remove it; list the other nodes' raft addresses", ErrJoinSelf, j, which)
		}
	}
	return nil
}

// selfAddr reports whether the valid host:port addr is this node's own raft
// address, naming which one; "" if not. Loopback and unspecified hosts are
// taken as this machine when both addr and one of ours use them.
func (c *Config) selfAddr(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	if port != c.raftPort() {
		return ""
	}
	for _, own := range []struct{ host, name string }{
		{c.Raft.RaftListenHost, "raft_listen_host:raft_api_port"},
		{c.Raft.RaftAdvertiseHost, "raft_advertise_host:raft_api_port"},
	} {
		if strings.EqualFold(host, own.host) || (isLocalHost(host) && isLocalHost(own.host)) {
			return "it is " + own.name
		}
	}
	return ""
}

// isLocalHost reports whether host names this machine without looking it
// up: localhost, a loopback address or the unspecified address.
func isLocalHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && (ip.IsLoopback() || ip.IsUnspecified())
}

// checkListenAddr checks an address to listen on: host:port, where the
// host may be empty (every interface) and the port 0 (any free port).
func checkListenAddr(addr, example string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w %q: want host:port, such as %q", ErrInvalidAddress, addr, example)
	}
	if _, err := parsePort(port); err != nil {
		return fmt.Errorf("%w %q: %w: want host:port, such as %q", ErrInvalidAddress, addr, err, example)
	}
	if host != "" {
		if err := checkHost(host); err != nil {
			return fmt.Errorf("%w %q: %w", ErrInvalidAddress, addr, err)
		}
	}
	return nil
}

// checkConnectAddr checks an address to connect to: host:port with a
// non-empty host and a port in 1..65535. The error does not wrap a
// sentinel.
func checkConnectAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("not host:port")
	}
	if p, err := parsePort(port); err != nil {
		return err
	} else if p == 0 {
		return fmt.Errorf("port 0 cannot be connected to")
	}
	return checkConnectHost(host)
}

// checkConnectHost checks a host others connect to.
func checkConnectHost(host string) error {
	if host == "" {
		return fmt.Errorf("the host is empty")
	}
	if err := checkHost(host); err != nil {
		return err
	}
	if isUnspecifiedHost(host) {
		return fmt.Errorf("%q means every interface and cannot be connected to", host)
	}
	return nil
}

// checkHost checks that host is an IP address or a host name, with no
// port.
func checkHost(host string) error {
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if _, _, err := net.SplitHostPort(host); err == nil {
		return fmt.Errorf("host %q has a port", host)
	}
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
			return fmt.Errorf("host %q is neither an IP address nor a host name", host)
		}
	}
	return nil
}

func parsePort(port string) (uint64, error) {
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("port %q is not a number in 0..65535", port)
	}
	return p, nil
}

func keyErrorf(key, format string, args ...any) error {
	return &keyError{key: key, err: fmt.Errorf(format, args...)}
}

// parseLevel parses a log_level value, case-insensitively.
func parseLevel(s string) (slog.Level, bool) {
	switch strings.ToUpper(s) {
	case "DEBUG":
		return slog.LevelDebug, true
	case "INFO":
		return slog.LevelInfo, true
	case "WARN":
		return slog.LevelWarn, true
	case "ERROR":
		return slog.LevelError, true
	}
	return 0, false
}

// SlogLevel returns log_level as a slog.Level; slog.LevelInfo if it is
// invalid (Validate rejects that).
func (c *Config) SlogLevel() slog.Level {
	l, ok := parseLevel(c.LogLevel)
	if !ok {
		return slog.LevelInfo
	}
	return l
}
