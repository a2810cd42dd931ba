package config

import "net"

// AdminAdvertiseAddr returns the address a client is told to use for this
// node's admin API (a follower asked to transfer leadership names the
// leader's): admin_api_address, with an unspecified host (empty, 0.0.0.0
// or ::) replaced as GrpcAdvertiseAddr replaces it: by
// grpc_api_advertise_host if set, else raft_advertise_host.
//
// If admin_api_address has port 0, the returned port is 0 too: the caller
// must use the port the listener actually got.
func (c *Config) AdminAdvertiseAddr() string {
	host, port, err := net.SplitHostPort(c.AdminAPIAddress)
	if err != nil || !isUnspecifiedHost(host) {
		return c.AdminAPIAddress
	}
	if c.GrpcAPIAdvertiseHost != "" {
		return net.JoinHostPort(c.GrpcAPIAdvertiseHost, port)
	}
	return net.JoinHostPort(c.Raft.RaftAdvertiseHost, port)
}
