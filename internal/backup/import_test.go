package backup

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/metasrv/metasrv/internal/statemachine"
	"github.com/metasrv/metasrv/internal/storage"
)

var threeNodes = []Node{
	{ID: 13, RaftAddress: "c:1"},
	{ID: 11, RaftAddress: "a:1", GrpcAddress: "a:2"},
	{ID: 12, RaftAddress: "b:1"},
}

func TestImportWritesNodeDir(t *testing.T) {
	src := sampleState(t)
	dump := dumpOf(t, src)
	dir := filepath.Join(t.TempDir(), "raft")
	res, err := Import(ImportConfig{Dir: dir, ID: 12, ClusterName: "renamed", InitialCluster: threeNodes}, strings.NewReader(dump))
	if err != nil {
		t.Fatal(err)
	}
	want := &ImportResult{ClusterName: "renamed", ID: 12, Format: "metasrv", Keys: 9, LastSeq: src.LastSeq(), Index: 1, Term: 1, Voters: []uint64{11, 12, 13}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}

	ro, err := storage.OpenReadOnly(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if ro.ID != 12 || ro.ClusterName != "renamed" {
		t.Errorf("WAL metadata id %d cluster %q", ro.ID, ro.ClusterName)
	}
	md := ro.Snapshot.GetMetadata()
	if md.GetIndex() != 1 || md.GetTerm() != 1 || !cmp.Equal(md.GetConfState().GetVoters(), []uint64{11, 12, 13}) ||
		len(md.GetConfState().GetLearners()) != 0 {
		t.Errorf("snapshot metadata %v", md)
	}
	if hs := ro.HardState; hs.GetTerm() != 1 || hs.GetVote() != 0 || hs.GetCommit() != 1 {
		t.Errorf("hard state %v", hs)
	}
	if len(ro.Entries) != 0 {
		t.Errorf("%d entries, want none", len(ro.Entries))
	}
	sm := statemachine.New()
	rc, err := ro.OpenSnapshotData()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := sm.Restore(rc); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(kvLines(t, dump), kvLines(t, dumpOf(t, sm))); diff != "" {
		t.Errorf("keys (-dump +imported):\n%s", diff)
	}
	if sm.AppliedIndex() != 1 || sm.LastSeq() != src.LastSeq() || sm.NowMs() != src.NowMs() {
		t.Errorf("applied %d last seq %d clock %d", sm.AppliedIndex(), sm.LastSeq(), sm.NowMs())
	}
	var addrs []string
	for _, n := range sm.Nodes() {
		addrs = append(addrs, n.String())
	}
	if got := strings.Join(addrs, "; "); !strings.Contains(got, `id:11`) || !strings.Contains(got, `grpc_address:"a:2"`) || strings.Count(got, "voter:true") != 3 {
		t.Errorf("members %s", got)
	}
}

// importRefusal is an Import that must fail: with an error wrapping
// wantErr (nil: any) and saying want, leaving nothing behind.
type importRefusal struct {
	name    string
	cfg     ImportConfig // Dir "": a missing directory
	dump    string
	wantErr error
	want    string
}

func runImportRefusals(t *testing.T, tests []importRefusal) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			missing := cfg.Dir == ""
			if missing {
				cfg.Dir = filepath.Join(t.TempDir(), "raft")
			}
			_, err := Import(cfg, strings.NewReader(tt.dump))
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %v containing %q", err, tt.wantErr, tt.want)
			}
			if missing {
				if _, err := os.Stat(cfg.Dir); !os.IsNotExist(err) {
					t.Errorf("a failed import left %s behind (%v)", cfg.Dir, err)
				}
			}
		})
	}
}

func TestImportRefuses(t *testing.T) {
	dump := dumpOf(t, sampleState(t))
	nonEmpty := t.TempDir()
	if err := os.WriteFile(filepath.Join(nonEmpty, "file"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	runImportRefusals(t, []importRefusal{
		{"non-empty dir", ImportConfig{Dir: nonEmpty, ID: 11, InitialCluster: threeNodes}, dump, ErrDirNotEmpty, "holds file"},
		{"id not among the dump's members", ImportConfig{ID: 11}, dump, ErrInvalidCluster, "not a member of the dump's cluster (1, 2)"},
		{"no id and no initial cluster", ImportConfig{}, dump, ErrInvalidCluster, "does not say which node"},
		{"no members at all", ImportConfig{ID: 1}, regexp.MustCompile(`"nodes":\[.*?\]\}\n`).ReplaceAllString(dump, `"nodes":[]}`+"\n"), ErrInvalidCluster, "lists no members"},
		{"id 0", ImportConfig{ID: 0, InitialCluster: threeNodes}, dump, ErrInvalidCluster, "must not be 0"},
		{"id not a member", ImportConfig{ID: 14, InitialCluster: threeNodes}, dump, ErrInvalidCluster, "not in the initial cluster"},
		{"id reserved by raft", ImportConfig{ID: math.MaxUint64, InitialCluster: threeNodes}, dump, ErrInvalidCluster, "raft keeps"},
		{"member id reserved by raft", ImportConfig{ID: 11, InitialCluster: []Node{{ID: 11, RaftAddress: "a"}, {ID: math.MaxUint64 - 1, RaftAddress: "b"}}}, dump, ErrInvalidCluster, "member id 18446744073709551614"},
		{"member id 0", ImportConfig{ID: 11, InitialCluster: []Node{{ID: 11, RaftAddress: "a"}, {ID: 0, RaftAddress: "b"}}}, dump, ErrInvalidCluster, "member id 0"},
		{"repeated id", ImportConfig{ID: 11, InitialCluster: []Node{{ID: 11, RaftAddress: "a"}, {ID: 11, RaftAddress: "b"}}}, dump, ErrInvalidCluster, "listed twice"},
		{"repeated address", ImportConfig{ID: 11, InitialCluster: []Node{{ID: 11, RaftAddress: "a"}, {ID: 12, RaftAddress: "a"}}}, dump, ErrInvalidCluster, "given to both 11 and 12"},
		{"no raft address", ImportConfig{ID: 11, InitialCluster: []Node{{ID: 11}}}, dump, ErrInvalidCluster, "no raft address"},
		{"truncated dump", ImportConfig{ID: 11, InitialCluster: threeNodes}, dump[:len(dump)-10], ErrInvalidDump, "truncated"},
		{"no cluster name", ImportConfig{ID: 11, InitialCluster: threeNodes}, strings.Replace(dump, `"cluster_name":"test"`, `"cluster_name":""`, 1), nil, "names no cluster"},
	})
	entries, _ := os.ReadDir(nonEmpty)
	if len(entries) != 1 {
		t.Errorf("the non-empty dir was changed: %v", entries)
	}
}

// TestImportKeepsDumpMembers: without an initial cluster, the dump's
// members are the new cluster's, with their addresses.
func TestImportKeepsDumpMembers(t *testing.T) {
	src := sampleState(t)
	dir := filepath.Join(t.TempDir(), "raft")
	res, err := Import(ImportConfig{Dir: dir, ID: 2}, strings.NewReader(dumpOf(t, src)))
	if err != nil {
		t.Fatal(err)
	}
	if res.ID != 2 || !cmp.Equal(res.Voters, []uint64{1, 2}) || len(res.Learners) != 0 || res.ClusterName != "test" {
		t.Errorf("result %+v", res)
	}
	ld, err := LoadDir(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ld.ID != 2 {
		t.Errorf("node %d", ld.ID)
	}
	if diff := cmp.Diff(src.Nodes(), ld.SM.Nodes(), protocmp.Transform()); diff != "" {
		t.Errorf("members (-exported +imported):\n%s", diff)
	}
}

func TestImportIntoEmptyExistingDir(t *testing.T) {
	dir := t.TempDir()
	if _, err := Import(ImportConfig{Dir: dir, ID: 11, InitialCluster: threeNodes}, strings.NewReader(dumpOf(t, sampleState(t)))); err != nil {
		t.Fatal(err)
	}
	// A second import into the same directory is refused.
	_, err := Import(ImportConfig{Dir: dir, ID: 11, InitialCluster: threeNodes}, strings.NewReader(dumpOf(t, sampleState(t))))
	if !errors.Is(err, ErrDirNotEmpty) {
		t.Errorf("second import: %v", err)
	}
}
