package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/metasrv/metasrv/internal/proctest"
)

// guideConfigs are the deploy guide's configs
// (../shared/seed/metasrv-deploy.txt), used when the repository's
// examples/metasrv-{1,2,3}.toml are missing. The guide shows the first two;
// the third follows its pattern (ports 283xx, _logs3, _meta3).
var guideConfigs = [3]string{
	`log_dir = "./_logs1"
metric_api_address = "0.0.0.0:28100"
admin_api_address = "0.0.0.0:28101"
grpc_api_address = "0.0.0.0:9191"

[raft_config]
id = 1
raft_dir = "./_meta1"
raft_api_port = 28103

# assign raft_{listen|advertise}_host in test config,
# so if something wrong in raft meta nodes communication we will catch bug in unit tests.
raft_listen_host = "127.0.0.1"
raft_advertise_host = "localhost"

# Start up mode: single node cluster
single = true
`,
	`log_dir = "./_logs2"
metric_api_address = "0.0.0.0:28200"
admin_api_address = "0.0.0.0:28201"
grpc_api_address = "0.0.0.0:28202"

[raft_config]
id = 2
raft_dir = "./_meta2"
raft_api_port = 28203

raft_listen_host = "127.0.0.1"
raft_advertise_host = "localhost"

# Start up mode: join a cluster
join = ["127.0.0.1:28103"]
`,
	`log_dir = "./_logs3"
metric_api_address = "0.0.0.0:28300"
admin_api_address = "0.0.0.0:28301"
grpc_api_address = "0.0.0.0:28302"

[raft_config]
id = 3
raft_dir = "./_meta3"
raft_api_port = 28303

raft_listen_host = "127.0.0.1"
raft_advertise_host = "localhost"

# Start up mode: join a cluster
join = ["127.0.0.1:28103"]
`,
}

// loadGuideConfigs returns the three configs of the deploy guide: the
// repository's examples/metasrv-{1,2,3}.toml when all three exist, else the
// guide's text, and which of the two it is.
func loadGuideConfigs(t testing.TB) ([3]string, string) {
	t.Helper()
	root, err := proctest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	var out [3]string
	for i := range out {
		b, err := os.ReadFile(filepath.Join(root, "examples", fmt.Sprintf("metasrv-%d.toml", i+1)))
		if err != nil {
			return guideConfigs, "the deploy guide's text (examples/metasrv-N.toml missing)"
		}
		out[i] = string(b)
	}
	return out, "examples/metasrv-{1,2,3}.toml"
}

// guidePorts are the ports one guide config uses.
type guidePorts struct {
	metric, admin, grpc, raft int
}

// parseGuidePorts reads the four ports out of a guide config.
func parseGuidePorts(text string) (guidePorts, error) {
	var f struct {
		MetricAPIAddress string `toml:"metric_api_address"`
		AdminAPIAddress  string `toml:"admin_api_address"`
		GrpcAPIAddress   string `toml:"grpc_api_address"`
		Raft             struct {
			RaftAPIPort int `toml:"raft_api_port"`
		} `toml:"raft_config"`
	}
	if _, err := toml.Decode(text, &f); err != nil {
		return guidePorts{}, err
	}
	p := guidePorts{raft: f.Raft.RaftAPIPort}
	for _, a := range []struct {
		addr string
		dst  *int
	}{{f.MetricAPIAddress, &p.metric}, {f.AdminAPIAddress, &p.admin}, {f.GrpcAPIAddress, &p.grpc}} {
		i := strings.LastIndexByte(a.addr, ':')
		n, err := strconv.Atoi(a.addr[i+1:])
		if i < 0 || err != nil {
			return guidePorts{}, fmt.Errorf("address %q has no port", a.addr)
		}
		*a.dst = n
	}
	if p.raft == 0 {
		return guidePorts{}, fmt.Errorf("no raft_config.raft_api_port")
	}
	return p, nil
}

// portKeys are the keys whose values hold ports.
var portKeys = map[string]bool{
	"metric_api_address": true,
	"admin_api_address":  true,
	"grpc_api_address":   true,
	"raft_api_port":      true,
	"join":               true,
}

// portRE matches a port in an address ("host:28103") or a bare port value
// ("= 28103"): group 1 is what precedes it, group 2 the port.
var portRE = regexp.MustCompile(`(:|=\s*)(\d+)\b`)

// rewritePorts replaces every port in the values of portKeys according to
// m (old port -> new port). A port not in m is an error: the test would
// otherwise talk to a fixed port some other process may own.
func rewritePorts(text string, m map[int]int) (string, error) {
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		key, _, ok := strings.Cut(line, "=")
		if !ok || !portKeys[strings.TrimSpace(key)] {
			continue
		}
		var bad error
		lines[i] = portRE.ReplaceAllStringFunc(line, func(s string) string {
			sub := portRE.FindStringSubmatch(s)
			old, _ := strconv.Atoi(sub[2])
			n, ok := m[old]
			if !ok {
				bad = fmt.Errorf("line %q: port %d belongs to no node of the guide", line, old)
				return s
			}
			return sub[1] + strconv.Itoa(n)
		})
		if bad != nil {
			return "", bad
		}
	}
	return strings.Join(lines, "\n"), nil
}

// setKey sets key = value (value is TOML, e.g. `"x"` or `100`) in table
// ("" for the top level) of the TOML text: an existing assignment is
// replaced, else the line is added at the end of the table (the table is
// created if missing).
func setKey(text, table, key, value string) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	cur := ""
	lastInTable := -1 // index of the last non-blank line of table
	firstHeader := -1
	for i, line := range lines {
		s := strings.TrimSpace(line)
		if strings.HasPrefix(s, "[") {
			cur = strings.Trim(s, "[] ")
			if firstHeader < 0 {
				firstHeader = i
			}
			if cur == table {
				lastInTable = i
			}
			continue
		}
		if cur != table {
			continue
		}
		if k, _, ok := strings.Cut(s, "="); ok && !strings.HasPrefix(s, "#") && strings.TrimSpace(k) == key {
			lines[i] = key + " = " + value
			return strings.Join(lines, "\n") + "\n"
		}
		if s != "" {
			lastInTable = i
		}
	}
	assign := key + " = " + value
	switch {
	case table == "" && firstHeader >= 0:
		lines = append(lines[:firstHeader], append([]string{assign, ""}, lines[firstHeader:]...)...)
	case table == "" || lastInTable >= 0:
		if table == "" {
			lastInTable = len(lines) - 1
		}
		lines = append(lines[:lastInTable+1], append([]string{assign}, lines[lastInTable+1:]...)...)
	default:
		lines = append(lines, "", "["+table+"]", assign)
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestSetKey(t *testing.T) {
	const in = "a = 1\n\n[raft_config]\nid = 1\n# x = 2\n\n"
	for _, tc := range []struct {
		table, key, value, want string
	}{
		{"", "a", "2", "a = 2\n\n[raft_config]\nid = 1\n# x = 2\n"},
		{"", "b", `"s"`, "a = 1\n\nb = \"s\"\n\n[raft_config]\nid = 1\n# x = 2\n"},
		{"raft_config", "id", "9", "a = 1\n\n[raft_config]\nid = 9\n# x = 2\n"},
		{"raft_config", "x", "3", "a = 1\n\n[raft_config]\nid = 1\n# x = 2\nx = 3\n"},
		{"other", "y", "4", "a = 1\n\n[raft_config]\nid = 1\n# x = 2\n\n[other]\ny = 4\n"},
	} {
		if got := setKey(in, tc.table, tc.key, tc.value); got != tc.want {
			t.Errorf("setKey(%q, %q, %q):\ngot  %q\nwant %q", tc.table, tc.key, tc.value, got, tc.want)
		}
	}
}

func TestRewritePorts(t *testing.T) {
	m := map[int]int{9191: 40001, 28100: 40002, 28101: 40003, 28103: 40004}
	got, err := rewritePorts(guideConfigs[0], m)
	if err != nil {
		t.Fatal(err)
	}
	p, err := parseGuidePorts(got)
	if err != nil {
		t.Fatal(err)
	}
	if want := (guidePorts{metric: 40002, admin: 40003, grpc: 40001, raft: 40004}); p != want {
		t.Errorf("ports after rewrite = %+v, want %+v", p, want)
	}
	if !strings.Contains(got, `raft_listen_host = "127.0.0.1"`) {
		t.Errorf("rewrite changed an IP address:\n%s", got)
	}
	if _, err := rewritePorts(guideConfigs[1], m); err == nil {
		t.Errorf("rewritePorts with node 2's ports missing: no error")
	}
}
