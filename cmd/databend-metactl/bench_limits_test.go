package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/grpcapi"
)

// TestBenchLargeValues is issue 11's reproduction: `bench --workload put
// --total 1 --keys 1 --val-size N` three times on a fresh node with the
// default grpc_api_max_message_size (32 MiB). At the largest value the
// node accepts every run succeeds (its reply holds the previous and the
// new value); at 17,000,000 bytes every run fails and nothing is written.
// Before, a 17 MB value was accepted, and from the second run on the put
// applied but its reply failed (ResourceExhausted), counted as an error.
func TestBenchLargeValues(t *testing.T) {
	const maxMsg = 32 << 20
	c := clustertest.New(t, 1, clustertest.Options{ManualTicks: true, MaxMessageSize: maxMsg})
	nd := c.Node(c.WaitLeader())
	addr := c.ServePublic(nd, clustertest.ServeOptions{})
	keyLen := len(benchKeys(benchKeyPrefix, 1, 18)[0])
	largest := grpcapi.DefaultLimits(maxMsg).MaxRequestBytes - keyLen
	tests := []struct {
		valSize int
		errors  int64 // per run
	}{
		{largest, 0},
		{17_000_000, 1},
	}
	for _, tt := range tests {
		for run := range 3 {
			before := nd.Server.StateMachine().LastSeq()
			res, stderr := runBenchCLI(t, []string{addr}, "--workload", "put", "--total", "1", "--keys", "1",
				"--val-size", fmt.Sprint(tt.valSize), "--progress", "off")
			if res.Errors != tt.errors {
				t.Fatalf("val-size %d, run %d: %d errors, want %d; stderr %q", tt.valSize, run+1, res.Errors, tt.errors, stderr)
			}
			applied := nd.Server.StateMachine().LastSeq() - before
			if want := uint64(1 - tt.errors); applied != want {
				t.Fatalf("val-size %d, run %d: %d writes applied, want %d (an error must mean nothing was applied)",
					tt.valSize, run+1, applied, want)
			}
			if tt.errors > 0 && (!strings.Contains(stderr, "InvalidArgument") || !strings.Contains(stderr, "grpc_api_max_message_size")) {
				t.Fatalf("val-size %d: stderr %q does not say the value is over the limit", tt.valSize, stderr)
			}
		}
	}
}
