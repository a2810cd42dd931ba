package backup_test

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/backup"
	"github.com/metasrv/metasrv/internal/clustertest"
)

func TestDumpWAL(t *testing.T) {
	c := clustertest.New(t, 2, clustertest.Options{ManualTicks: true, SnapshotLogsSinceLast: 5, MaxAppliedLogToKeep: 100})
	srv := c.Node(c.WaitLeader()).Server
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		put(t, c, srv, &metapb.UpsertRequest{Key: k, Value: []byte("v")})
	}
	put(t, c, srv, &metapb.UpsertRequest{Key: "dumped-key", Value: []byte("hello"), TtlMs: 60_000})
	put(t, c, srv, &metapb.UpsertRequest{Key: "dumped-key", Op: metapb.UpsertRequest_DELETE})
	c.Settled(func() bool {
		return c.Node(2).Server.StateMachine().AppliedIndex() == srv.StateMachine().AppliedIndex()
	}, "node 2 applies everything")
	dir := c.Stop(1)

	var buf bytes.Buffer
	if err := backup.DumpWAL(dir, &buf); err != nil {
		t.Fatalf("DumpWAL: %v", err)
	}
	out := buf.String()
	t.Logf("WAL dump:\n%s", out)

	prefix := regexp.MustCompile(`^[0-9a-f]{16}-[0-9a-f]{16}\.wal@\d+ (crc|metadata|snapshot|hard_state|entry) `)
	for i, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !prefix.MatchString(l) {
			t.Errorf("line %d %q: want <file>@<offset> <record type> ...", i+1, l)
		}
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`\.wal@0 crc crc=0x[0-9a-f]{8}\n`),
		regexp.MustCompile(` metadata \{"id":1,"cluster_name":"test"\}\n`),
		regexp.MustCompile(` snapshot index=0 term=0 conf_state=\{voters=\[\] learners=\[\]\}\n`),
		// The bootstrap of the single node: a v1 conf change with its
		// addresses in the context.
		regexp.MustCompile(` entry term=1 index=1 type=conf_change changes=\[add_node\(1\)\] context=\{.*raft_address:\s*"node-1:1".*\}\n`),
		regexp.MustCompile(` hard_state term=\d+ vote=1 commit=\d+\n`),
		regexp.MustCompile(` entry term=\d+ index=\d+ type=normal empty\n`),
		regexp.MustCompile(` entry term=\d+ index=\d+ type=conf_change_v2 changes=\[add_learner\(2\)\] context=\{.*id:\s*2.*raft_address:\s*"node-2:1".*\}\n`),
		regexp.MustCompile(` entry term=\d+ index=\d+ type=conf_change_v2 changes=\[add_node\(2\)\] context=\{`),
		regexp.MustCompile(` entry term=\d+ index=\d+ type=normal time_ms=\d+ time=\d{4}-\d\d-\d\dT[0-9:.]+Z command=\{.*upsert:\s*\{.*key:\s*"dumped-key".*value:\s*"hello".*ttl_ms:\s*60000.*\}\}\n`),
		regexp.MustCompile(` command=\{.*key:\s*"dumped-key".*op:\s*DELETE.*\}\n`),
		regexp.MustCompile(` snapshot index=[1-9]\d* term=\d+ conf_state=\{voters=\[1 2\] learners=\[\]\}\n`),
	} {
		if !want.MatchString(out) {
			t.Errorf("no line matches %s", want)
		}
	}
}

func TestDumpWALNotRaftDir(t *testing.T) {
	if err := backup.DumpWAL(t.TempDir(), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "no WAL files") {
		t.Errorf("got %v", err)
	}
}
