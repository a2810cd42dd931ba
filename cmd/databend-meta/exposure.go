package main

import (
	"net"
	"strconv"
	"strings"

	"github.com/metasrv/metasrv/internal/config"
)

// openPort is a port that listens on an address other machines can reach
// and that no setting guards.
type openPort struct {
	key  string // the config key of its address
	addr string // as configured, with the port the listener got for port 0
	what string // what anyone who reaches it can do, and the keys that close it
}

// openPorts returns the node's ports that other machines can reach without
// authentication: the gRPC API without auth.enabled or client
// certificates, the admin API's control endpoints without auth.enabled,
// and the raft port without raft_secret or raft TLS. The metrics port is
// read-only and left out. The listeners' addresses decide, so a host name
// is judged by the address it resolved to.
func openPorts(cfg config.Config, grpcAddr, adminAddr, raftAddr net.Addr) []openPort {
	var open []openPort
	add := func(guarded bool, key, configured string, addr net.Addr, what string) {
		if !guarded && !isLoopback(addr) {
			open = append(open, openPort{key: key, addr: shownAddr(configured, addr), what: what})
		}
	}
	add(cfg.Auth.Enabled || cfg.GrpcTLSClientCA != "", "grpc_api_address", cfg.GrpcAPIAddress, grpcAddr,
		"anyone may read and write every key: set auth.enabled with [[auth.users]], or grpc_tls_client_ca")
	add(cfg.Auth.Enabled, "admin_api_address", cfg.AdminAPIAddress, adminAddr,
		"anyone may call /v1/ctrl/*, /v1/config and /debug/pprof/: set auth.enabled with [[auth.users]]")
	add(cfg.Raft.RaftSecret != "" || cfg.Raft.RaftTLSCert != "", "raft_config.raft_listen_host", cfg.RaftListenAddr(), raftAddr,
		"anyone may join, vote and append to the log: set raft_config.raft_secret, or raft_tls_cert, raft_tls_key and raft_tls_ca")
	return open
}

// shownAddr is the configured host:port, with the port the listener at
// addr got if the configured one is 0.
func shownAddr(configured string, addr net.Addr) string {
	host, port, err := net.SplitHostPort(configured)
	a, ok := addr.(*net.TCPAddr)
	if err != nil || port != "0" || !ok {
		return configured
	}
	return net.JoinHostPort(host, strconv.Itoa(a.Port))
}

// openPortsWarning is the one line that says which ports are open to the
// network and the keys that close them; "" if none is.
func openPortsWarning(open []openPort) string {
	if len(open) == 0 {
		return ""
	}
	parts := make([]string, len(open))
	for i, p := range open {
		parts[i] = p.key + " " + p.addr + " (" + p.what + ")"
	}
	return "listening without authentication where other machines can connect: " + strings.Join(parts, ", ") +
		"; or listen on 127.0.0.1 only"
}

// isLoopback reports whether addr is a TCP address on a loopback
// interface.
func isLoopback(addr net.Addr) bool {
	a, ok := addr.(*net.TCPAddr)
	return ok && a.IP.IsLoopback()
}
