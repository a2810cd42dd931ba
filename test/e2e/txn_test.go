package e2e

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/client"
)

// followerFirst returns the nodes with a follower first, then the others
// (the leader among them), and the leader.
func followerFirst(c *cluster) (ordered []*node, leader *node) {
	leader = c.waitLeader(c.nodes...)
	for _, n := range c.nodes {
		if n != leader && len(ordered) == 0 {
			ordered = append(ordered, n)
		}
	}
	for _, n := range c.nodes {
		if n != ordered[0] {
			ordered = append(ordered, n)
		}
	}
	return ordered, leader
}

// mustTxn builds and runs a transaction, failing the test on an error.
func mustTxn(t *testing.T, cli *client.Client, b *client.TxnBuilder) *metapb.TxnReply {
	t.Helper()
	req, err := b.Build()
	if err != nil {
		t.Fatalf("build txn: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*rpcTimeout)
	defer cancel()
	r, err := cli.Txn(ctx, req)
	if err != nil {
		t.Fatalf("txn: %v", err)
	}
	return r
}

// TestTxn runs transactions through a follower with the Go client: a
// condition that holds runs the then ops, one that does not runs the else
// ops, branches run the first that holds, put_sequential keys sort in
// creation order, fetch_increase_u64 counts without losing an increase.
// Every effect is read back through another node.
func TestTxn(t *testing.T) {
	t.Parallel()
	c := newGuideCluster(t, clusterOptions{})
	c.startAll()
	nodes, leader := followerFirst(c)
	follower, other := nodes[0], nodes[1]
	t.Logf("transactions through follower %v (endpoints %v), leader %v", follower, grpcAddrs(nodes...), leader)
	cli := newClient(t, nodes...)

	// readBack reads key through a node other than the follower.
	readBack := func(t *testing.T, key string) *metapb.SeqV {
		t.Helper()
		v, err := other.get(key, linearizable)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	t.Run("condition true runs then", func(t *testing.T) {
		r := mustTxn(t, cli, client.NewTxn().
			If(client.Seq("txn/k").Eq(0)).
			Then(client.OpPut("txn/k", []byte("v1")), client.OpPut("txn/k2", []byte("v2")), client.OpDelete("txn/absent")).
			Else(client.OpGet("txn/k")))
		if !r.GetSuccess() || r.GetExecutionPath() != "then" || len(r.GetResponses()) != 3 {
			t.Fatalf("txn on an absent key with seq == 0: %v, want success, path then, 3 responses", r)
		}
		put := r.GetResponses()[0].GetPut()
		if !put.GetApplied() || put.GetPrev() != nil || string(put.GetCurrent().GetData()) != "v1" || put.GetCurrent().GetSeq() == 0 {
			t.Errorf("then[0] put txn/k: %v, want applied, no prev, current v1", put)
		}
		if put2 := r.GetResponses()[1].GetPut(); put2.GetCurrent().GetSeq() != put.GetCurrent().GetSeq()+1 {
			t.Errorf("then[1] put txn/k2: seq %d, want %d (the next seq in the same entry)", put2.GetCurrent().GetSeq(), put.GetCurrent().GetSeq()+1)
		}
		if del := r.GetResponses()[2].GetDelete(); del == nil || del.GetSuccess() || del.GetPrev() != nil {
			t.Errorf("then[2] delete of an absent key: %v, want success false and no prev", del)
		}
		if v := readBack(t, "txn/k"); v.GetSeq() != put.GetCurrent().GetSeq() || string(v.GetData()) != "v1" {
			t.Errorf("%v reads txn/k = %v after the txn, want v1 at seq %d", other, v, put.GetCurrent().GetSeq())
		}
		if v := readBack(t, "txn/k2"); string(v.GetData()) != "v2" {
			t.Errorf("%v reads txn/k2 = %v after the txn, want v2", other, v)
		}
	})

	t.Run("condition false runs else", func(t *testing.T) {
		before := readBack(t, "txn/k")
		r := mustTxn(t, cli, client.NewTxn().
			If(client.Seq("txn/k").Eq(0)).
			Then(client.OpPut("txn/k", []byte("overwritten"))).
			Else(client.OpGet("txn/k")))
		if r.GetSuccess() || r.GetExecutionPath() != "else" || len(r.GetResponses()) != 1 {
			t.Fatalf("txn with seq == 0 on an existing key: %v, want no success, path else, 1 response", r)
		}
		if g := r.GetResponses()[0].GetGet(); g.GetValue().GetSeq() != before.GetSeq() || string(g.GetValue().GetData()) != "v1" {
			t.Errorf("else get txn/k: %v, want v1 at seq %d", g, before.GetSeq())
		}
		if v := readBack(t, "txn/k"); v.GetSeq() != before.GetSeq() || string(v.GetData()) != "v1" {
			t.Errorf("the else branch changed txn/k: %v, want v1 at seq %d", v, before.GetSeq())
		}
		// A condition on the value of an absent key is false, even NE.
		r = mustTxn(t, cli, client.NewTxn().
			If(client.Value("txn/absent").Ne([]byte("x"))).
			Then(client.OpPut("txn/absent", []byte("bad"))))
		if r.GetExecutionPath() != "else" || readBack(t, "txn/absent") != nil {
			t.Errorf("value NE on an absent key: path %q, txn/absent %v; want else and absent", r.GetExecutionPath(), readBack(t, "txn/absent"))
		}
	})

	t.Run("branches run the first that holds", func(t *testing.T) {
		r := mustTxn(t, cli, client.NewTxn().
			Branch(client.Seq("txn/k").Eq(0), client.OpPut("txn/branch", []byte("0"))).
			Branch(client.Or(client.Value("txn/k").Eq([]byte("nope")), client.KeysWithPrefix("txn/k").Eq(2)),
				client.OpPut("txn/branch", []byte("1"))).
			Branch(nil, client.OpPut("txn/branch", []byte("default"))))
		if r.GetExecutionPath() != "branch:1" {
			t.Errorf("branches: path %q, want branch:1 (txn/k exists; 2 keys start with txn/k)", r.GetExecutionPath())
		}
		if v := readBack(t, "txn/branch"); string(v.GetData()) != "1" {
			t.Errorf("txn/branch = %v, want 1", v)
		}
	})

	t.Run("put_sequential keys sort in creation order", func(t *testing.T) {
		// One after the other through the follower: each key sorts after
		// the one before.
		var keys []string
		for i := range 5 {
			r := mustTxn(t, cli, client.NewTxn().Then(client.OpPutSequential("txn/q/", "txn/qseq", []byte(fmt.Sprintf("item %d", i)))))
			ps := r.GetResponses()[0].GetPutSequential()
			if !strings.HasPrefix(ps.GetKey(), "txn/q/") || string(ps.GetCurrent().GetData()) != fmt.Sprintf("item %d", i) {
				t.Fatalf("put_sequential %d: %v, want a key under txn/q/ holding item %d", i, ps, i)
			}
			if len(keys) > 0 && ps.GetKey() <= keys[len(keys)-1] {
				t.Errorf("put_sequential %d: key %q does not sort after the previous %q", i, ps.GetKey(), keys[len(keys)-1])
			}
			keys = append(keys, ps.GetKey())
		}
		// Concurrently through every node: the keys are distinct, and in
		// key order their seqs (the order of creation) increase.
		var (
			mu   sync.Mutex
			errs []error
			wg   sync.WaitGroup
		)
		for i, n := range c.nodes {
			ncli := newClient(t, n)
			wg.Go(func() {
				for j := range 5 {
					req, err := client.NewTxn().Then(client.OpPutSequential("txn/q/", "txn/qseq", []byte(fmt.Sprintf("node %d item %d", i, j)))).Build()
					if err == nil {
						ctx, cancel := context.WithTimeout(context.Background(), 2*rpcTimeout)
						_, err = ncli.Txn(ctx, req)
						cancel()
					}
					if err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			t.Errorf("concurrent put_sequential: %v", err)
		}
		list, err := other.list("txn/q/", linearizable)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 5+5*len(c.nodes) {
			t.Errorf("%d keys under txn/q/, want %d", len(list), 5+5*len(c.nodes))
		}
		for i, kv := range list {
			if i < len(keys) && kv.GetKey() != keys[i] {
				t.Errorf("key %d under txn/q/ is %q, want %q (the first ones created)", i, kv.GetKey(), keys[i])
			}
			if i > 0 && kv.GetValue().GetSeq() <= list[i-1].GetValue().GetSeq() {
				t.Errorf("%q (seq %d) sorts after %q (seq %d) but was created before it",
					kv.GetKey(), kv.GetValue().GetSeq(), list[i-1].GetKey(), list[i-1].GetValue().GetSeq())
			}
		}
		if v := readBack(t, "txn/qseq"); string(v.GetData()) != strconv.Itoa(len(list)) {
			t.Errorf("sequence key txn/qseq = %q, want %d", v.GetData(), len(list))
		}
	})

	t.Run("fetch_increase_u64", func(t *testing.T) {
		fetch := func(op client.FetchIncreaseU64Op) *metapb.FetchIncreaseU64Response {
			t.Helper()
			return mustTxn(t, cli, client.NewTxn().Then(op)).GetResponses()[0].GetFetchIncreaseU64()
		}
		if f := fetch(client.OpFetchIncreaseU64("txn/ctr", 5)); !f.GetApplied() || f.GetBefore() != 0 || f.GetAfter() != 5 || f.GetBeforeSeq() != 0 {
			t.Errorf("fetch_increase_u64 +5 of an absent counter: %v, want before 0 (seq 0), after 5", f)
		}
		// after = max(current, max_value) + delta.
		f := fetch(client.OpFetchIncreaseU64("txn/ctr", 1).WithMaxValue(100))
		if f.GetBefore() != 5 || f.GetAfter() != 101 {
			t.Errorf("fetch_increase_u64 +1 max 100 of 5: %v, want before 5, after 101", f)
		}
		if f2 := fetch(client.OpFetchIncreaseU64("txn/ctr", 1).WithMaxValue(50)); f2.GetBefore() != 101 || f2.GetAfter() != 102 {
			t.Errorf("fetch_increase_u64 +1 max 50 of 101: %v, want before 101, after 102", f2)
		}
		// A seq mismatch skips the increase, not the transaction.
		if f3 := fetch(client.OpFetchIncreaseU64("txn/ctr", 1).WithMatch(client.Exact(1))); f3.GetApplied() || f3.GetAfter() != 102 {
			t.Errorf("fetch_increase_u64 with a wrong match_seq: %v, want not applied, the counter still 102", f3)
		}

		// Concurrent increases through every node: none is lost, each
		// sees its own after.
		const per = 10
		var (
			mu     sync.Mutex
			afters []uint64
			errs   []error
			wg     sync.WaitGroup
		)
		for _, n := range c.nodes {
			ncli := newClient(t, n)
			wg.Go(func() {
				for range per {
					req, _ := client.NewTxn().Then(client.OpFetchIncreaseU64("txn/ctr", 1)).Build()
					ctx, cancel := context.WithTimeout(context.Background(), 2*rpcTimeout)
					r, err := ncli.Txn(ctx, req)
					cancel()
					mu.Lock()
					if err != nil {
						errs = append(errs, err)
					} else {
						afters = append(afters, r.GetResponses()[0].GetFetchIncreaseU64().GetAfter())
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			t.Errorf("concurrent fetch_increase_u64: %v", err)
		}
		slices.Sort(afters)
		for i, a := range afters {
			if want := uint64(103 + i); a != want {
				t.Errorf("concurrent increases returned afters %v, want 103..%d each once", afters, 102+len(afters))
				break
			}
		}
		want := strconv.Itoa(102 + len(afters))
		if v := readBack(t, "txn/ctr"); string(v.GetData()) != want {
			t.Errorf("txn/ctr = %q, want %s (a decimal counter)", v.GetData(), want)
		}
	})
}
