package config

import "testing"

func TestAdminAdvertiseAddr(t *testing.T) {
	for _, tt := range []struct {
		admin, grpcHost, raftHost, want string
	}{
		{"127.0.0.1:28101", "", "localhost", "127.0.0.1:28101"},
		{"0.0.0.0:28101", "", "node1.example", "node1.example:28101"},
		{"[::]:28101", "", "node1.example", "node1.example:28101"},
		{":28101", "", "node1.example", "node1.example:28101"},
		{"0.0.0.0:28101", "meta.example", "node1.example", "meta.example:28101"},
		{"10.0.0.5:0", "meta.example", "node1.example", "10.0.0.5:0"},
	} {
		c := Default()
		c.AdminAPIAddress, c.GrpcAPIAdvertiseHost, c.Raft.RaftAdvertiseHost = tt.admin, tt.grpcHost, tt.raftHost
		if got := c.AdminAdvertiseAddr(); got != tt.want {
			t.Errorf("admin_api_address %q, grpc_api_advertise_host %q, raft_advertise_host %q: AdminAdvertiseAddr() = %q, want %q",
				tt.admin, tt.grpcHost, tt.raftHost, got, tt.want)
		}
	}
}
