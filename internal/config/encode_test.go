package config

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestTOMLRoundTrip checks that TOML() loads back to the same Config and
// lists every key.
func TestTOMLRoundTrip(t *testing.T) {
	examples := make(map[string]Config)
	for _, f := range []string{"metasrv-1.toml", "metasrv-2.toml", "metasrv-3.toml"} {
		c, _ := mustLoad(t, "-c", filepath.Join("..", "..", "examples", f))
		examples[f] = c
	}
	odd := Default()
	odd.LogDir = "C:\\logs\\\"meta\" \t\n\x01\x7f ünïcødé 🚀"
	odd.LogLevel = "warn"
	odd.GrpcAPIAdvertiseHost = "meta.example.com"
	odd.GrpcAPIMaxMessageSize = MinMaxMessageSize
	odd.Raft = RaftConfig{
		ID: MaxNodeID, RaftDir: "'single' \"double\"", RaftAPIPort: 65535,
		RaftListenHost: "::", RaftAdvertiseHost: "fd00::1",
		Join:        []string{"[fd00::2]:1", "meta-3:2"},
		ClusterName: "#not a comment", HeartbeatIntervalMs: 10,
		SnapshotLogsSinceLast: 1, WALSegmentSize: 1 << 30, MaxAppliedLogToKeep: 0, WaitLeaderTimeoutMs: 1,
	}
	tests := map[string]Config{"defaults": Default(), "odd values": odd}
	for name, c := range examples {
		tests[name] = c
	}
	for name, c := range tests {
		t.Run(name, func(t *testing.T) {
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate() = %v", err)
			}
			text := c.TOML()
			for _, d := range keyDefs {
				_, leaf := splitKey(d.name)
				if !strings.Contains(text, "\n"+leaf+" = ") {
					t.Errorf("TOML() lacks key %s:\n%s", d.name, text)
				}
			}
			got, _ := mustLoad(t, "-c", writeFile(t, "show.toml", text))
			if diff := cmp.Diff(c, got); diff != "" {
				t.Errorf("round trip mismatch (-want +got):\n%s\nTOML:\n%s", diff, text)
			}
		})
	}
}

func TestTOMLDefaults(t *testing.T) {
	c := Default()
	want := `
[raft_config]

# this node's raft id, unique in the cluster, 1..18446744073709551613
id = 1
`
	if text := c.TOML(); !strings.Contains(text, want) || !strings.Contains(text, "\njoin = []\n") {
		t.Errorf("TOML() =\n%s\nwant it to contain:\n%s", text, want)
	}
}
