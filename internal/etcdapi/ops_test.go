package etcdapi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/internal/auth"
	"github.com/metasrv/metasrv/internal/clustertest"
)

// TestMemberChanges: MemberRemove is a leave; MemberAdd and
// MemberUpdate say what to do instead; MemberPromote of a voter and
// changes of an unknown member answer etcd's errors.
func TestMemberChanges(t *testing.T) {
	c := newEtcdCluster(t)
	c.cl.WaitLeader()
	if _, err := c.cli.MemberAdd(ctx(t), []string{"http://127.0.0.1:28403"}); status.Code(err) != codes.Unimplemented ||
		!strings.Contains(err.Error(), "join = [") || !strings.Contains(err.Error(), "raft_config.id") {
		t.Errorf("member add: %v, want Unimplemented saying to start the node with join", err)
	}
	if _, err := c.cli.MemberUpdate(ctx(t), 2, []string{"http://127.0.0.1:28203"}); status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "restart node 2") {
		t.Errorf("member update: %v, want Unimplemented saying to restart the node", err)
	}
	for name, err := range map[string]error{
		"update of a non-member":  second(c.cli.MemberUpdate(ctx(t), 9, []string{"http://x:1"})),
		"remove of a non-member":  second(c.cli.MemberRemove(ctx(t), 9)),
		"promote of a non-member": second(c.cli.MemberPromote(ctx(t), 9)),
	} {
		if !errors.Is(err, rpctypes.ErrMemberNotFound) {
			t.Errorf("%s: %v, want %v", name, err, rpctypes.ErrMemberNotFound)
		}
	}
	if _, err := c.cli.MemberPromote(ctx(t), 2); !errors.Is(err, rpctypes.ErrMemberNotLearner) {
		t.Errorf("promote of a voter: %v, want %v", err, rpctypes.ErrMemberNotLearner)
	}

	// Remove node 3 through node 2 (a follower or the leader: either
	// forwards or serves it).
	cli2 := c.dial(t, c.eps[1])
	rm, err := cli2.MemberRemove(ctx(t), 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(rm.Members) != 2 || rm.Members[0].ID != 1 || rm.Members[1].ID != 2 {
		t.Errorf("members after removing 3: %v", rm.Members)
	}
	if _, err := cli2.MemberRemove(ctx(t), 3); !errors.Is(err, rpctypes.ErrMemberNotFound) {
		t.Errorf("removing 3 again: %v, want %v", err, rpctypes.ErrMemberNotFound)
	}
}

func second[T any](_ T, err error) error { return err }

// TestMaintenanceCalls: Alarm, Defragment, HashKV, MoveLeader and
// Snapshot as etcdctl calls them.
func TestMaintenanceCalls(t *testing.T) {
	c := newEtcdCluster(t)
	lead := c.cl.WaitLeader()
	if _, err := c.cli.Put(ctx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}

	al, err := c.cli.AlarmList(ctx(t))
	if err != nil || len(al.Alarms) != 0 {
		t.Errorf("alarm list: %v, %v; want none", al, err)
	}
	if _, err := c.cli.AlarmDisarm(ctx(t), &clientv3.AlarmMember{}); err != nil {
		t.Errorf("alarm disarm: %v", err)
	}
	m := pb.NewMaintenanceClient(c.cli.ActiveConnection())
	if _, err := m.Alarm(ctx(t), &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, Alarm: pb.AlarmType_NOSPACE}); status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "no alarms") {
		t.Errorf("alarm activate: %v, want Unimplemented", err)
	}
	for _, ep := range c.eps {
		if _, err := c.cli.Defragment(ctx(t), ep); err != nil {
			t.Errorf("defragment %s: %v", ep, err)
		}
	}

	// HashKV: equal on every node once the cluster settles (every node at
	// the same revision).
	var hashes []*clientv3.HashKVResponse
	c.cl.Settled(func() bool {
		hashes = hashes[:0]
		for _, ep := range c.eps {
			h, err := c.cli.HashKV(ctx(t), ep, 0)
			if err != nil {
				t.Fatal(err)
			}
			hashes = append(hashes, h)
		}
		for _, h := range hashes {
			if h.HashRevision != hashes[0].HashRevision {
				return false
			}
		}
		return true
	}, "every node at the same revision")
	for i, h := range hashes {
		if h.Hash != hashes[0].Hash || h.HashRevision != h.Header.Revision {
			t.Errorf("hashkv of %s = %v, of %s = %v", c.eps[i], h, c.eps[0], hashes[0])
		}
	}
	if _, err := c.cli.HashKV(ctx(t), c.eps[0], hashes[0].HashRevision+1); !errors.Is(err, rpctypes.ErrFutureRev) {
		t.Errorf("hashkv at a future revision: %v", err)
	}
	if _, err := c.cli.HashKV(ctx(t), c.eps[0], 1); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "current revision only") {
		t.Errorf("hashkv at a past revision: %v", err)
	}
	if _, err := c.cli.Put(ctx(t), "k", "v2"); err != nil {
		t.Fatal(err)
	}
	// HashKV reads the node's state as applied, without a read barrier
	// (etcd's too): the put, acknowledged by the node that took it, is
	// applied on the leader once the cluster settles.
	var after *clientv3.HashKVResponse
	c.cl.Settled(func() bool {
		h, err := c.cli.HashKV(ctx(t), c.eps[lead-1], 0)
		if err != nil {
			t.Fatal(err)
		}
		after = h
		return h.HashRevision > hashes[0].HashRevision
	}, "the leader applied the put")
	if after.Hash == hashes[0].Hash {
		t.Errorf("hashkv after a put: %v; want another hash than %v", after, hashes[0])
	}

	// MoveLeader: refused by a follower, done by the leader.
	to := lead%3 + 1
	follower := c.dial(t, c.eps[to-1])
	if _, err := follower.MoveLeader(ctx(t), to); !errors.Is(err, rpctypes.ErrNotLeader) {
		t.Errorf("move-leader on a follower: %v, want %v", err, rpctypes.ErrNotLeader)
	}
	if _, err := c.dial(t, c.eps[lead-1]).MoveLeader(ctx(t), 9); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("move-leader to a non-member: %v, want FailedPrecondition", err)
	}
	if _, err := c.dial(t, c.eps[lead-1]).MoveLeader(ctx(t), to); err != nil {
		t.Fatalf("move-leader to %d: %v", to, err)
	}
	if got := c.cl.WaitLeader(); got != to {
		t.Errorf("leader %d after move-leader, want %d", got, to)
	}

	// Snapshot: metasrv's snapshot, padded, and its SHA-256.
	rc, err := c.dial(t, c.eps[0]).Snapshot(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	n := len(b) - sha256.Size
	if n <= 0 || n%512 != 0 {
		t.Fatalf("snapshot of %d bytes: want a multiple of 512 and 32", len(b))
	}
	if sum := sha256.Sum256(b[:n]); !bytes.Equal(sum[:], b[n:]) {
		t.Error("snapshot: the last 32 bytes are not the SHA-256 of the rest")
	}
	if !bytes.Contains(b, []byte("k")) || !bytes.Contains(b, []byte("v2")) {
		t.Error("snapshot does not hold the key")
	}
}

// TestEtcdAuth: with [auth], etcd's clients authenticate with
// Authenticate and send the token in "token"; without, Authenticate says
// auth is not enabled and clientv3 goes on without a token.
func TestEtcdAuth(t *testing.T) {
	hash, err := auth.HashPassword("pw", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(auth.Config{Users: []auth.User{{Name: "root", PasswordHash: hash}}, TokenSecret: []byte("s")})
	if err != nil {
		t.Fatal(err)
	}
	cl := clustertest.New(t, 1, clustertest.Options{ManualTicks: true})
	ep := cl.ServePublic(cl.Node(1), clustertest.ServeOptions{Auth: a})
	open := cl.ServePublic(cl.Node(1), clustertest.ServeOptions{})
	dial := func(ep, user, password string) (*clientv3.Client, error) {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop(), Username: user, Password: password})
		if err == nil {
			t.Cleanup(func() { cli.Close() })
		}
		return cli, err
	}

	cli, err := dial(ep, "root", "pw")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx(t), "a", "1"); err != nil {
		t.Fatalf("put with a token: %v", err)
	}
	if r, err := cli.Get(ctx(t), "a"); err != nil || len(r.Kvs) != 1 {
		t.Fatalf("get with a token: %v, %v", r, err)
	}
	if _, err := cli.MemberList(ctx(t)); err != nil {
		t.Errorf("member list with a token: %v", err)
	}
	st, err := cli.AuthStatus(ctx(t))
	if err != nil || !st.Enabled {
		t.Errorf("auth status: %v, %v; want enabled", st, err)
	}
	if _, err := cli.UserAdd(ctx(t), "u", "p"); status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "config file") {
		t.Errorf("user add: %v, want Unimplemented naming the config file", err)
	}

	if _, err := dial(ep, "root", "nope"); !errors.Is(err, rpctypes.ErrAuthFailed) {
		t.Errorf("dial with a wrong password: %v, want %v", err, rpctypes.ErrAuthFailed)
	}
	anon, err := dial(ep, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anon.Get(ctx(t), "a"); !errors.Is(err, rpctypes.ErrUserEmpty) {
		t.Errorf("get without credentials: %v, want %v", err, rpctypes.ErrUserEmpty)
	}
	bad := metadata.AppendToOutgoingContext(ctx(t), "token", "mt1.bad.bad")
	if _, err := anon.Get(bad, "a"); !errors.Is(err, rpctypes.ErrInvalidAuthToken) {
		t.Errorf("get with a bad token: %v, want %v", err, rpctypes.ErrInvalidAuthToken)
	}
	basic := metadata.AppendToOutgoingContext(ctx(t), "authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("root:pw")))
	if _, err := anon.Get(basic, "a"); err != nil {
		t.Errorf("get with the native authorization: %v", err)
	}
	if _, err := anon.AuthStatus(ctx(t)); err != nil {
		t.Errorf("auth status without credentials: %v", err)
	}

	// Without [auth].
	oc, err := dial(open, "root", "whatever")
	if err != nil {
		t.Fatalf("dial without [auth] with a user: %v", err)
	}
	if r, err := oc.Get(ctx(t), "a"); err != nil || len(r.Kvs) != 1 {
		t.Errorf("get without [auth]: %v, %v", r, err)
	}
	if st, err := oc.AuthStatus(ctx(t)); err != nil || st.Enabled {
		t.Errorf("auth status without [auth]: %v, %v", st, err)
	}
	if _, err := pb.NewAuthClient(oc.ActiveConnection()).Authenticate(ctx(t), &pb.AuthenticateRequest{Name: "root", Password: "x"}); !eqErr(err, rpctypes.ErrGRPCAuthNotEnabled) {
		t.Errorf("authenticate without [auth]: %v, want %v", err, rpctypes.ErrGRPCAuthNotEnabled)
	}
}
