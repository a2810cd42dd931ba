package k8scompat

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/kubernetes"
	"go.uber.org/zap"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/proctest"
	"github.com/metasrv/metasrv/internal/proctest/metanode"
)

const (
	// heartbeatMs is the nodes' raft heartbeat: short, so that a cluster
	// forms quickly.
	heartbeatMs = 100
	// clusterTimeout bounds the wait for a cluster to form.
	clusterTimeout = 60 * time.Second
	// outputLines is how much of a node's output a failed test prints.
	outputLines = 80
)

// metaBin is databend-meta, built once by TestMain from the repository
// root.
var metaBin string

var ports proctest.Ports

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "metasrv-k8scompat-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	metaBin = filepath.Join(dir, "databend-meta")
	if err := proctest.GoBuild(root, metaBin, "./cmd/databend-meta", false); err != nil {
		fmt.Fprintf(os.Stderr, "databend-meta did not build:\n%v\n", err)
		return 1
	}
	return m.Run()
}

// cluster is a 3-node metasrv cluster of the real binary, formed as the
// deploy guide forms one: node 1 alone (single), then 2 and 3 join it.
type cluster struct {
	nodes []*metanode.Node
}

// newCluster starts a 3-node cluster in t.TempDir() and waits until all
// three are voters and agree on a leader; t's cleanup stops it.
func newCluster(t testing.TB) *cluster {
	t.Helper()
	dir := t.TempDir()
	free := func() int {
		p, err := ports.Free()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	c := &cluster{}
	var raft1 int
	for id := 1; id <= 3; id++ {
		grpcPort, adminPort, metricPort, raftPort := free(), free(), free(), free()
		start := "single = true"
		if id == 1 {
			raft1 = raftPort
		} else {
			start = fmt.Sprintf("join = [\"127.0.0.1:%d\"]", raft1)
		}
		conf := fmt.Sprintf(`log_dir = "./_logs%[1]d"
grpc_api_address = "127.0.0.1:%[2]d"
admin_api_address = "127.0.0.1:%[3]d"
metric_api_address = "127.0.0.1:%[4]d"
# etcd's integration tests run etcd with WatchProgressNotifyInterval = 1s.
watch_progress_notify_interval = 1000

[raft_config]
id = %[1]d
raft_dir = "./_meta%[1]d"
raft_api_port = %[5]d
raft_listen_host = "127.0.0.1"
raft_advertise_host = "127.0.0.1"
heartbeat_interval = %[6]d
%[7]s
`, id, grpcPort, adminPort, metricPort, raftPort, heartbeatMs, start)
		name := fmt.Sprintf("metasrv-%d.toml", id)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		n := &metanode.Node{
			ID: uint64(id), Dir: dir, Out: filepath.Join(dir, fmt.Sprintf("node%d.out", id)),
			GRPCAddr:  fmt.Sprintf("127.0.0.1:%d", grpcPort),
			AdminAddr: fmt.Sprintf("127.0.0.1:%d", adminPort),
		}
		t.Cleanup(func() {
			if err := n.Close(); err != nil {
				t.Error(err)
			}
			n.Report(t, outputLines)
		})
		c.nodes = append(c.nodes, n)
		if err := n.Start(metaBin, "-c", name, "--log-stderr-on"); err != nil {
			t.Fatal(err)
		}
		if id == 1 {
			c.waitLeader(t, c.nodes)
		}
	}
	c.waitVoters(t)
	c.waitLeader(t, c.nodes)
	return c
}

// endpoints returns the nodes' gRPC addresses, where they serve etcd's API.
func (c *cluster) endpoints() []string {
	var eps []string
	for _, n := range c.nodes {
		eps = append(eps, n.GRPCAddr)
	}
	return eps
}

func (c *cluster) waitLeader(t testing.TB, nodes []*metanode.Node) {
	t.Helper()
	if err := proctest.Poll(clusterTimeout, 50*time.Millisecond, func() error {
		_, err := metanode.Leader(nodes, 3*time.Second)
		return err
	}); err != nil {
		t.Fatalf("no leader: %v", err)
	}
}

// waitVoters waits until every node lists three voters.
func (c *cluster) waitVoters(t testing.TB) {
	t.Helper()
	if err := proctest.Poll(clusterTimeout, 50*time.Millisecond, func() error {
		for _, n := range c.nodes {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			r, err := n.Meta().MemberList(ctx, &metapb.MemberListRequest{})
			cancel()
			if err != nil {
				return fmt.Errorf("%v: member list: %w", n, err)
			}
			ids, err := metanode.VoterIDs(r.GetNodes())
			if err != nil {
				return fmt.Errorf("%v: %w", n, err)
			}
			if len(ids) != 3 {
				return fmt.Errorf("%v lists voters %v", n, ids)
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("the cluster did not form: %v", err)
	}
}

// client returns a clientv3 client on every node of c, closed at t's end.
func (c *cluster) client(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(c.config())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// kubernetesClient returns the client kube-apiserver builds
// (go.etcd.io/etcd/client/v3/kubernetes) on every node of c, closed at
// t's end.
func (c *cluster) kubernetesClient(t testing.TB) *kubernetes.Client {
	t.Helper()
	cli, err := kubernetes.New(c.config())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func (c *cluster) config() clientv3.Config {
	return clientv3.Config{
		Endpoints:   c.endpoints(),
		DialTimeout: 10 * time.Second,
		Logger:      zap.NewNop(),
	}
}
