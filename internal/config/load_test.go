package config

import (
	"bytes"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

const fileForFlags = `
log_dir = "./file_logs"
log_level = "WARN"
admin_api_address = "127.0.0.1:1001"
grpc_api_address = "127.0.0.1:1002"
metric_api_address = "127.0.0.1:1003"
grpc_api_advertise_host = "file.example.com"
grpc_api_max_message_size = 1100000
watch_history_size = 500
watch_progress_notify_interval = 1000

[raft_config]
id = 7
raft_dir = "./file_meta"
raft_api_port = 1004
raft_listen_host = "127.0.0.2"
raft_advertise_host = "file-raft.example.com"
join = ["10.0.0.1:1004"]
cluster_name = "file_cluster"
heartbeat_interval = 100
snapshot_logs_since_last = 10
wal_segment_size = 8388608
max_applied_log_to_keep = 20
wait_leader_timeout = 30
`

func fileConfigForFlags() Config {
	c := Default()
	c.LogDir, c.LogLevel = "./file_logs", "WARN"
	c.AdminAPIAddress, c.GrpcAPIAddress, c.MetricAPIAddress = "127.0.0.1:1001", "127.0.0.1:1002", "127.0.0.1:1003"
	c.GrpcAPIAdvertiseHost, c.GrpcAPIMaxMessageSize = "file.example.com", 1100000
	c.WatchHistorySize, c.WatchProgressNotifyIntervalMs = 500, 1000
	c.Raft = RaftConfig{
		ID: 7, RaftDir: "./file_meta", RaftAPIPort: 1004,
		RaftListenHost: "127.0.0.2", RaftAdvertiseHost: "file-raft.example.com",
		Join: []string{"10.0.0.1:1004"}, ClusterName: "file_cluster",
		HeartbeatIntervalMs: 100, SnapshotLogsSinceLast: 10, WALSegmentSize: 8 << 20, MaxAppliedLogToKeep: 20, WaitLeaderTimeoutMs: 30,
	}
	return c
}

func TestLoadFlags(t *testing.T) {
	file := writeFile(t, "metasrv.toml", fileForFlags)
	tests := []struct {
		name string
		args []string
		mut  func(c *Config) // applied to the file's config
	}{
		{"file only", nil, func(c *Config) {}},
		{"every key as a flag", []string{
			"--log-dir", "./flag_logs", "--log-level", "debug",
			"--admin-api-address", "127.0.0.1:2001", "--grpc-api-address", "127.0.0.1:2002",
			"--grpc-api-advertise-host", "flag.example.com", "--metric-api-address=127.0.0.1:2003",
			"--grpc-api-max-message-size", "2200000", "--watch-history-size", "600", "--watch-progress-notify-interval", "2000",
			"--id", "8", "--raft-dir", "./flag_meta", "--raft-api-port", "2004",
			"--raft-listen-host", "0.0.0.0", "--raft-advertise-host", "flag-raft.example.com",
			"--join", "10.0.0.2:2004", "--cluster-name", "flag_cluster",
			"--heartbeat-interval", "200", "--snapshot-logs-since-last", "11", "--wal-segment-size", "16777216",
			"--max-applied-log-to-keep", "21", "--wait-leader-timeout", "31",
		}, func(c *Config) {
			c.LogDir, c.LogLevel = "./flag_logs", "debug"
			c.AdminAPIAddress, c.GrpcAPIAddress, c.MetricAPIAddress = "127.0.0.1:2001", "127.0.0.1:2002", "127.0.0.1:2003"
			c.GrpcAPIAdvertiseHost, c.GrpcAPIMaxMessageSize = "flag.example.com", 2200000
			c.WatchHistorySize, c.WatchProgressNotifyIntervalMs = 600, 2000
			c.Raft = RaftConfig{
				ID: 8, RaftDir: "./flag_meta", RaftAPIPort: 2004,
				RaftListenHost: "0.0.0.0", RaftAdvertiseHost: "flag-raft.example.com",
				Join: []string{"10.0.0.2:2004"}, ClusterName: "flag_cluster",
				HeartbeatIntervalMs: 200, SnapshotLogsSinceLast: 11, WALSegmentSize: 16 << 20, MaxAppliedLogToKeep: 21, WaitLeaderTimeoutMs: 31,
			}
		}},
		{"only given flags override", []string{"--id", "9"}, func(c *Config) { c.Raft.ID = 9 }},
		{"a flag set to the default still overrides", []string{"--log-level", "INFO"}, func(c *Config) { c.LogLevel = "INFO" }},
		{"empty join clears the file's list", []string{"--join", ""}, func(c *Config) { c.Raft.Join = nil }},
		{"single replaces join", []string{"--join=", "--single"}, func(c *Config) {
			c.Raft.Join, c.Raft.Single = nil, true
		}},
		{"flags before -c", []string{"--id", "9", "--config-file"}, func(c *Config) { c.Raft.ID = 9 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-c", file}, tt.args...)
			if tt.args != nil && tt.args[len(tt.args)-1] == "--config-file" {
				args = append(tt.args, file)
			}
			got, opts := mustLoad(t, args...)
			want := fileConfigForFlags()
			tt.mut(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
			if opts.ConfigFile != file {
				t.Errorf("Options.ConfigFile = %q, want %q", opts.ConfigFile, file)
			}
		})
	}
}

func TestLoadJoinFlag(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"one", []string{"--join", "a:1"}, []string{"a:1"}},
		{"repeated", []string{"--join", "a:1", "--join=b:2"}, []string{"a:1", "b:2"}},
		{"comma-separated", []string{"--join", "a:1,b:2"}, []string{"a:1", "b:2"}},
		{"comma-separated with spaces", []string{"--join", "a:1, b:2 ,"}, []string{"a:1", "b:2"}},
		{"both", []string{"--join", "a:1,b:2", "--join", "c:3"}, []string{"a:1", "b:2", "c:3"}},
		{"ipv6", []string{"--join", "[fd00::1]:28103"}, []string{"[fd00::1]:28103"}},
		{"empty", []string{"--join", ""}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := mustLoad(t, tt.args...)
			if diff := cmp.Diff(tt.want, got.Raft.Join); diff != "" {
				t.Errorf("join mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadOptions(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want Options
	}{
		{"none", nil, Options{}},
		{"version", []string{"--version"}, Options{Version: true}},
		{"version skips the config file", []string{"--version", "-c", "/does/not/exist.toml"},
			Options{Version: true, ConfigFile: "/does/not/exist.toml"}},
		{"show-config", []string{"--cmd", "show-config"}, Options{Cmd: CmdShowConfig}},
		{"leave", []string{"--leave-id", "3", "--leave-via", "127.0.0.1:28103", "--leave-via", "127.0.0.1:28203"},
			Options{LeaveID: 3, LeaveVia: []string{"127.0.0.1:28103", "127.0.0.1:28203"}}},
		{"leave comma-separated", []string{"--leave-id=3", "--leave-via=a:1,b:2"},
			Options{LeaveID: 3, LeaveVia: []string{"a:1", "b:2"}}},
		{"leave defaults to this node", []string{"--id", "5", "--leave-via", "127.0.0.1:28103"},
			Options{LeaveID: 5, LeaveVia: []string{"127.0.0.1:28103"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got := mustLoad(t, tt.args...)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Options mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		var out bytes.Buffer
		_, _, err := load([]string{"--id", "0", arg}, &out)
		if !errors.Is(err, ErrHelp) || !errors.Is(err, pflag.ErrHelp) {
			t.Fatalf("load(%s) error = %v, want ErrHelp", arg, err)
		}
		for _, d := range keyDefs {
			if !strings.Contains(out.String(), "--"+d.flag+" ") && !strings.Contains(out.String(), "--"+d.flag+"[") {
				t.Errorf("usage does not list --%s:\n%s", d.flag, out.String())
			}
		}
		for _, f := range []string{"-c, --config-file", "--version", "--cmd", "--leave-id", "--leave-via"} {
			if !strings.Contains(out.String(), f) {
				t.Errorf("usage does not list %s", f)
			}
		}
	}
}

// TestLoadErrors checks every error Load reports: the sentinel, and that
// the single-line message names the file, flag or key involved.
func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		file string // config file content; none if ""
		args []string
		want error
		msg  []string // substrings of the message; "FILE" is the file's path
	}{
		// The command line.
		{"unknown flag", "", []string{"--raft-api-prot", "1"}, ErrFlag, []string{"--raft-api-prot", "--help"}},
		{"flag of the wrong type", "", []string{"--id", "one"}, ErrFlag, []string{"--id", `"one"`}},
		{"negative flag", "", []string{"--raft-api-port=-1"}, ErrFlag, []string{"--raft-api-port"}},
		{"flag without value", "", []string{"--id"}, ErrFlag, []string{"id"}},
		{"positional argument", "", []string{"--single", "false"}, ErrFlag, []string{`unexpected argument "false"`, "--single=false"}},
		{"bad cmd", "", []string{"--cmd", "show"}, ErrInvalidCmd, []string{`"show"`, "show-config"}},
		{"leave-id without leave-via", "", []string{"--leave-id", "3"}, ErrInvalidLeave, []string{"--leave-via"}},
		{"leave-id 0", "", []string{"--leave-id", "0", "--leave-via", "a:1"}, ErrInvalidID, []string{"--leave-id"}},
		{"leave-via not host:port", "", []string{"--leave-via", "localhost"}, ErrInvalidLeave, []string{"--leave-via", `"localhost"`}},
		{"leave-via port 0", "", []string{"--leave-via", "localhost:0"}, ErrInvalidLeave, []string{"--leave-via", "port 0"}},
		{"leave-via with cmd", "", []string{"--leave-via", "a:1", "--cmd", "show-config"}, ErrInvalidLeave, []string{"--cmd"}},

		// Reading and decoding the file.
		{"missing file", "", []string{"-c", "/does/not/exist.toml"}, ErrConfigFile, []string{`"/does/not/exist.toml"`, "-c/--config-file"}},
		{"malformed", "log_dir = \"x\"\n\n[raft_config]\nid = = 1\n", nil, ErrSyntax, []string{`"FILE" line 4`}},
		{"unterminated string", "log_dir = \"x\n", nil, ErrSyntax, []string{"line 1"}},
		{"newline in the message", "0.\"\\\n", nil, ErrSyntax, []string{"line 2", `string '\\n'`}},
		{"duplicate key", "[raft_config]\nid = 1\nid = 2\n", nil, ErrSyntax, []string{"line 3"}},
		{"unknown key typo", "[raft_config]\nraft_api_prot = 1\n", nil, ErrUnknownKey,
			[]string{`"FILE"`, "raft_config.raft_api_prot", "did you mean raft_config.raft_api_port?"}},
		{"unknown top-level key", "log_dri = \"x\"\n", nil, ErrUnknownKey, []string{"log_dri", "did you mean log_dir?"}},
		{"unknown key, no suggestion", "flux_capacitor = 1\n", nil, ErrUnknownKey, []string{"flux_capacitor", "remove it", "--cmd show-config", "--help"}},
		{"short unknown key two edits from a key", "foo = 1\n", nil, ErrUnknownKey, []string{"unknown key foo: remove it"}},
		{"short unknown key in a table", "[raft_config]\nfoo = 1\n", nil, ErrUnknownKey, []string{"unknown key raft_config.foo: remove it"}},
		{"short key, one typo", "[raft_config]\nidd = 1\n", nil, ErrUnknownKey, []string{"did you mean raft_config.id?"}},
		{"short top-level key, one typo", "lg_dir = \"x\"\n", nil, ErrUnknownKey, []string{"did you mean log_dir?"}},
		{"long key, three typos", "[raft_config]\nhartbeat_intervl = 1\n", nil, ErrUnknownKey, []string{"did you mean raft_config.heartbeat_interval?"}},
		{"unknown table", "[raft]\nid = 1\n", nil, ErrUnknownKey, []string{"unknown key raft:"}},
		{"raft key at top level", "id = 2\n", nil, ErrUnknownKey, []string{"unknown key id:", "raft_config.id", "[raft_config]"}},
		{"top-level key under raft_config", "[raft_config]\nlog_dir = \"x\"\n", nil, ErrUnknownKey,
			[]string{"raft_config.log_dir", "did you mean log_dir?", "before the first [table]"}},
		{"key in the wrong case", "LOG_DIR = \"x\"\n", nil, ErrUnknownKey, []string{"LOG_DIR", "did you mean log_dir?"}},
		{"table in the wrong case", "[RAFT_CONFIG]\nid = 2\n", nil, ErrUnknownKey, []string{"RAFT_CONFIG", "did you mean raft_config?"}},
		{"quoted number", "[raft_config]\nid = \"1\"\n", nil, ErrType, []string{`"FILE" line 2`, "raft_config.id", "integer"}},
		{"negative number", "[raft_config]\n\nid = -1\n", nil, ErrType, []string{"line 3", "raft_config.id", "-1"}},
		{"port out of uint32", "[raft_config]\nraft_api_port = 4294967296\n", nil, ErrType, []string{"raft_config.raft_api_port"}},
		{"float", "grpc_api_max_message_size = 1.5\n", nil, ErrType, []string{"grpc_api_max_message_size", "float"}},
		{"quoted bool", "[raft_config]\nsingle = \"true\"\n", nil, ErrType, []string{"raft_config.single", "true or false"}},
		{"join as a string", "[raft_config]\njoin = \"127.0.0.1:28103\"\n", nil, ErrType, []string{"raft_config.join", "list of strings"}},
		{"join of numbers", "[raft_config]\njoin = [28103]\n", nil, ErrType, []string{"raft_config.join", "integer 28103"}},
		{"string as a number", "log_dir = 1\n", nil, ErrType, []string{"log_dir", "string"}},
		{"string as a table", "log_dir.x = 1\n", nil, ErrType, []string{"log_dir", "table"}},
		{"raft_config not a table", "raft_config = 1\n", nil, ErrType, []string{"raft_config", "[raft_config]"}},
		{"raft_config as an array of tables", "[[raft_config]]\nid = 1\n", nil, ErrType, []string{"raft_config"}},

		// Validate, naming where the value came from.
		{"id 0 in the file", "[raft_config]\nid = 0\n", nil, ErrInvalidID, []string{`config file "FILE"`, "raft_config.id"}},
		{"id 0 as a flag", "[raft_config]\nid = 1\n", []string{"--id", "0"}, ErrInvalidID, []string{"flag --id", "raft_config.id"}},
		{"bad log level", "log_level = \"verbose\"\n", nil, ErrInvalidLogLevel, []string{"log_level", `"verbose"`, "DEBUG, INFO, WARN or ERROR"}},
		{"address without port", "admin_api_address = \"127.0.0.1\"\n", nil, ErrInvalidAddress, []string{"admin_api_address", "host:port"}},
		{"address with bad port", "", []string{"--grpc-api-address", "127.0.0.1:99999"}, ErrInvalidAddress, []string{"flag --grpc-api-address", "grpc_api_address"}},
		{"negative max message size", "", []string{"--grpc-api-max-message-size", "-1"}, ErrInvalidValue,
			[]string{"flag --grpc-api-max-message-size", "grpc_api_max_message_size"}},
		{"raft_api_port 0", "[raft_config]\nraft_api_port = 0\n", nil, ErrInvalidPort, []string{"raft_config.raft_api_port", "1..65535"}},
		{"raft_api_port too big", "[raft_config]\nraft_api_port = 65536\n", nil, ErrInvalidPort, []string{"raft_config.raft_api_port"}},
		{"heartbeat too small", "[raft_config]\nheartbeat_interval = 9\n", nil, ErrInvalidValue, []string{"raft_config.heartbeat_interval"}},
		{"no snapshots", "[raft_config]\nsnapshot_logs_since_last = 0\n", nil, ErrInvalidValue, []string{"raft_config.snapshot_logs_since_last"}},
		{"single and join", "[raft_config]\nsingle = true\njoin = [\"127.0.0.1:28103\"]\n", nil, ErrSingleAndJoin,
			[]string{"raft_config.join", "single"}},
		{"single flag and join in the file", "[raft_config]\njoin = [\"127.0.0.1:28103\"]\n", []string{"--single"}, ErrSingleAndJoin,
			[]string{"raft_config.join"}},
		{"join self", "[raft_config]\nraft_api_port = 28103\njoin = [\"127.0.0.1:28103\"]\n", nil, ErrJoinSelf,
			[]string{"raft_config.join", "join lists this node's own address", `"127.0.0.1:28103"`, "remove it"}},
		{"grpc port is the raft port", "[raft_config]\nraft_api_port = 28004\n", []string{"--grpc-api-address", "127.0.0.1:28004"}, ErrPortClash,
			[]string{`flag --grpc-api-address: grpc_api_address: two listen addresses take the same port: raft_config.raft_listen_host:raft_api_port "127.0.0.1:28004" and grpc_api_address "127.0.0.1:28004": give each its own port`}},
		{"join not host:port", "[raft_config]\njoin = [\"127.0.0.1\"]\n", nil, ErrInvalidAddress, []string{"raft_config.join", `"127.0.0.1"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, path := configArgs(t, tt.file, tt.args)
			_, _, err := Load(args)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Load(%q) error = %v, want %v", args, err, tt.want)
			}
			msg := err.Error()
			t.Log(msg)
			if strings.Contains(msg, "\n") {
				t.Errorf("error has more than one line: %q", msg)
			}
			for _, s := range tt.msg {
				s = strings.ReplaceAll(s, "FILE", path)
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not contain %q", msg, s)
				}
			}
		})
	}
}

func TestLoadMissingFileIsNotExist(t *testing.T) {
	_, _, err := Load([]string{"-c", filepath.Join(t.TempDir(), "none.toml")})
	if !errors.Is(err, ErrConfigFile) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error = %v, want ErrConfigFile and fs.ErrNotExist", err)
	}
}
