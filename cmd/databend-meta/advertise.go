package main

import (
	"net"
	"strconv"
)

// withListenPort is addr with port 0 replaced by the port ln got (a config
// that asks for port 0 advertises the port the node actually serves on).
func withListenPort(addr string, ln net.Listener) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port != "0" {
		return addr
	}
	return net.JoinHostPort(host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
}
