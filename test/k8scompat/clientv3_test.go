package k8scompat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// clientCase is one of our own cases for a clientv3 example or a
// concurrency test of go.etcd.io/etcd/tests/v3 (integration/clientv3/
// examples and integration/clientv3/concurrency), whose tests need
// etcd's in-process integration cluster: run prints what the example
// prints, and want is the example's "Output:" (or what the test asserts,
// printed the same way).
type clientCase struct {
	name string
	run  func(ctx context.Context, cli *clientv3.Client, w io.Writer) error
	want string
}

// runClientCases runs cases in order on one metasrv cluster, each with a
// client of its own.
func runClientCases(t *testing.T, cases []clientCase) {
	c := newCluster(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			skipKnownFailure(t)
			cli := c.client(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var out bytes.Buffer
			if err := tc.run(ctx, cli, &out); err != nil {
				t.Fatalf("%v\noutput so far:\n%s", err, out.String())
			}
			if out.String() != tc.want {
				t.Errorf("output:\n%s\nwant (etcd's):\n%s", out.String(), tc.want)
			}
		})
	}
}

// putKeys puts key_0..key_{n-1} = "value", as several examples do first.
func putKeys(ctx context.Context, cli *clientv3.Client, n int) error {
	for i := range n {
		if _, err := cli.Put(ctx, fmt.Sprintf("key_%d", i), "value"); err != nil {
			return err
		}
	}
	return nil
}

// TestClientv3Examples: the examples of tests/v3's
// integration/clientv3/examples (KV, Watch, Lease, Cluster, Maintenance)
// with their outputs. Not here: ExampleAuth (metasrv's users live in its
// config: user and role management answers Unimplemented), the
// MemberAdd/Remove/Update examples (they add a member with a made-up peer
// URL, which metasrv's join does not take), and the client-side-only
// ExampleConfig_* and ExampleClient_metrics.
func TestClientv3Examples(t *testing.T) {
	runClientCases(t, []clientCase{
		{"KV_put", func(ctx context.Context, cli *clientv3.Client, w io.Writer) error {
			_, err := cli.Put(ctx, "sample_key", "sample_value")
			return err
		}, ""},
		{"KV_putErrorHandling", func(ctx context.Context, cli *clientv3.Client, w io.Writer) error {
			_, err := cli.Put(ctx, "", "sample_value")
			if !errors.Is(err, rpctypes.ErrEmptyKey) {
				return fmt.Errorf("put of an empty key: %v, want %v", err, rpctypes.ErrEmptyKey)
			}
			fmt.Fprintf(w, "client-side error: %v\n", err)
			return nil
		}, "client-side error: etcdserver: key is not provided\n"},
		{"KV_get", func(ctx context.Context, cli *clientv3.Client, w io.Writer) error {
			if _, err := cli.Put(ctx, "foo", "bar"); err != nil {
				return err
			}
			resp, err := cli.Get(ctx, "foo")
			return printKVs(w, resp, err)
		}, "foo : bar\n"},
		{"KV_getWithRev", func(ctx context.Context, cli *clientv3.Client, w io.Writer) error {
			presp, err := cli.Put(ctx, "foo", "bar1")
			if err != nil {
				return err
			}
			if _, err := cli.Put(ctx, "foo", "bar2"); err != nil {
				return err
			}
			resp, err := cli.Get(ctx, "foo", clientv3.WithRev(presp.Header.Revision))
			return printKVs(w, resp, err)
		}, "foo : bar1\n"},
		{"KV_getSortedPrefix", func(ctx context.Context, cli *clientv3.Client, w io.Writer) error {
			if err := putKeys(ctx, cli, 3); err != nil {
				return err
			}
			resp, err := cli.Get(ctx, "key", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
			return printKVs(w, resp, err)
		}, "key_2 : value\nkey_1 : value\nkey_0 : value\n"},
		{"KV_getStream", func(ctx context.Context, cli *clientv3.Client, w io.Writer) error {
			if err := putKeys(ctx, cli, 3); err != nil {
				return err
			}
			stream, err := cli.GetStream(ctx, "key", clientv3.WithPrefix())
			if err != nil {
				return err
			}
			var last clientv3.RangeStreamResponse
			for chunk := range stream {
				if err := chunk.Err(); err != nil {
					return err
				}
				for _, kv := range chunk.Kvs {
					fmt.Fprintf(w, "%s : %s\n", kv.Key, kv.Value)
				}
				last = chunk
			}
			fmt.Fprintf(w, "count: %d, more: %v\n", last.Count, last.More)
			return nil
		}, "key_0 : value\nkey_1 : value\nkey_2 : value\ncount: 3, more: false\n"},
		{"KV_delete", func(ctx context.Context, cli *clientv3.Client, w io.Writer) error {
			if err := putKeys(ctx, cli, 3); err != nil {
				return err
			}
			gresp, err := cli.Get(ctx, "key", clientv3.WithPrefix())
			if err != nil {
				return err
			}
			dresp, err := cli.Delete(ctx, "key", clientv3.WithPrefix())
			if err != nil {
				return err
			}
			fmt.Fprintln(w, "Deleted all keys:", int64(len(gresp.Kvs)) == dresp.Deleted)
			return nil
		}, "Deleted all keys: true\n"},
		{"KV_compact", func(ctx context.Context, cli *clientv3.Client, w io.Writer) error {
			resp, err := cli.Get(ctx, "foo")
			if err != nil {
				return err
			}
			_, err = cli.Compact(ctx, resp.Header.Revision)
			return err
		}, ""},
		{"KV_txn", func(ctx context.Context, cli *clientv3.Client, w io.Writer) error {
			if _, err := cli.Put(ctx, "key", "xyz"); err != nil {
				return err
			}
			_, err := cli.Txn(ctx).
				If(clientv3.Compare(clientv3.Value("key"), ">", "abc")).
				Then(clientv3.OpPut("key", "XYZ")).
				Else(clientv3.OpPut("key", "ABC")).
				Commit()
			if err != nil {
				return err
			}
			resp, err := cli.Get(ctx, "key")
			return printKVs(w, resp, err)
		}, "key : XYZ\n"},
		{"KV_do", func(ctx context.Context, cli *clientv3.Client, w io.Writer) error {
			for _, op := range []clientv3.Op{
				clientv3.OpPut("put-key", "123"),
				clientv3.OpGet("put-key"),
				clientv3.OpPut("put-key", "456"),
			} {
				if _, err := cli.Do(ctx, op); err != nil {
					return err
				}
			}
			return nil
		}, ""},
		{"Watcher_watchWithRange", func(ctx context.Context, cli *clientv3.Client, w io.Writer) error {
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			rch := cli.Watch(wctx, "foo1", clientv3.WithRange("foo4"))
			for _, kv := range [][2]string{{"foo1", "bar1"}, {"foo5", "bar5"}, {"foo2", "bar2"}, {"foo3", "bar3"}} {
				if _, err := cli.Put(ctx, kv[0], kv[1]); err != nil {
					return err
				}
			}
			for n := 0; n < 3; {
				wresp, ok := <-rch
				if !ok {
					return errors.New("the watch ended")
				}
				if err := wresp.Err(); err != nil {
					return err
				}
				for _, ev := range wresp.Events {
					fmt.Fprintf(w, "%s %q : %q\n", ev.Type, ev.Kv.Key, ev.Kv.Value)
					n++
				}
			}
			_, err := cli.Delete(ctx, "foo", clientv3.WithPrefix())
			return err
		}, "PUT \"foo1\" : \"bar1\"\nPUT \"foo2\" : \"bar2\"\nPUT \"foo3\" : \"bar3\"\n"},
		{"Watcher_watchWithProgressNotify", func(ctx context.Context, cli *clientv3.Client, w io.Writer) error {
			rch := cli.Watch(ctx, "foo", clientv3.WithProgressNotify())
			select {
			case wresp := <-rch:
				fmt.Fprintln(w, "wresp.IsProgressNotify:", wresp.IsProgressNotify())
			case <-time.After(15 * time.Second):
				return errors.New("no progress notification in 15s")
			}
			return nil
		}, "wresp.IsProgressNotify: true\n"},
		{"Lease_grant", func(ctx context.Context, cli *clientv3.Client, w io.Writer) error {
			resp, err := cli.Grant(ctx, 5)
			if err != nil {
				return err
			}
			_, err = cli.Put(ctx, "foo", "bar", clientv3.WithLease(resp.ID))
			return err
		}, ""},
		{"Lease_revoke", func(ctx context.Context, cli *clientv3.Client, w io.Writer) error {
			resp, err := cli.Grant(ctx, 5)
			if err != nil {
				return err
			}
			if _, err := cli.Put(ctx, "foo", "bar", clientv3.WithLease(resp.ID)); err != nil {
				return err
			}
			if _, err := cli.Revoke(ctx, resp.ID); err != nil {
				return err
			}
			gresp, err := cli.Get(ctx, "foo")
			if err != nil {
				return err
			}
			fmt.Fprintln(w, "number of keys:", len(gresp.Kvs))
			return nil
		}, "number of keys: 0\n"},
		{"Lease_keepAlive", func(ctx context.Context, cli *clientv3.Client, w io.Writer) error {
			resp, err := cli.Grant(ctx, 5)
			if err != nil {
				return err
			}
			if _, err := cli.Put(ctx, "foo", "bar", clientv3.WithLease(resp.ID)); err != nil {
				return err
			}
			kctx, cancel := context.WithCancel(ctx)
			defer cancel()
			ch, err := cli.KeepAlive(kctx, resp.ID)
			if err != nil {
				return err
			}
			ka, ok := <-ch
			if !ok {
				return errors.New("the keep-alive channel closed")
			}
			fmt.Fprintln(w, "ttl:", ka.TTL)
			return nil
		}, "ttl: 5\n"},
		{"Lease_keepAliveOnce", func(ctx context.Context, cli *clientv3.Client, w io.Writer) error {
			resp, err := cli.Grant(ctx, 5)
			if err != nil {
				return err
			}
			if _, err := cli.Put(ctx, "foo", "bar", clientv3.WithLease(resp.ID)); err != nil {
				return err
			}
			ka, err := cli.KeepAliveOnce(ctx, resp.ID)
			if err != nil {
				return err
			}
			fmt.Fprintln(w, "ttl:", ka.TTL)
			return nil
		}, "ttl: 5\n"},
		{"Cluster_memberList", func(ctx context.Context, cli *clientv3.Client, w io.Writer) error {
			resp, err := cli.MemberList(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintln(w, "members:", len(resp.Members))
			return nil
		}, "members: 3\n"},
		{"Maintenance_status", func(ctx context.Context, cli *clientv3.Client, w io.Writer) error {
			for _, ep := range cli.Endpoints() {
				if _, err := cli.Status(ctx, ep); err != nil {
					return err
				}
			}
			return nil
		}, ""},
		{"Maintenance_defragment", func(ctx context.Context, cli *clientv3.Client, w io.Writer) error {
			for _, ep := range cli.Endpoints() {
				if _, err := cli.Defragment(ctx, ep); err != nil {
					return err
				}
			}
			return nil
		}, ""},
	})
}

// printKVs prints a Get's keys and values as the examples do.
func printKVs(w io.Writer, resp *clientv3.GetResponse, err error) error {
	if err != nil {
		return err
	}
	for _, kv := range resp.Kvs {
		fmt.Fprintf(w, "%s : %s\n", kv.Key, kv.Value)
	}
	return nil
}

// TestConcurrency: the concurrency package's recipes as tests/v3's
// integration/clientv3/concurrency examples and tests use them (Mutex,
// Election, Session, STM), with their expected results.
func TestConcurrency(t *testing.T) {
	runClientCases(t, []clientCase{
		// ExampleMutex_Lock: s2 waits for s1's lock.
		{"Mutex_Lock", func(ctx context.Context, cli *clientv3.Client, w io.Writer) error {
			s1, s2, err := twoSessions(cli)
			if err != nil {
				return err
			}
			defer s1.Close()
			defer s2.Close()
			m1 := concurrency.NewMutex(s1, "/my-lock/")
			m2 := concurrency.NewMutex(s2, "/my-lock/")
			if err := m1.Lock(ctx); err != nil {
				return err
			}
			fmt.Fprintln(w, "acquired lock for s1")
			m2Locked := make(chan error, 1)
			go func() { m2Locked <- m2.Lock(ctx) }()
			select {
			case err := <-m2Locked:
				return fmt.Errorf("s2 locked while s1 holds the lock: %v", err)
			case <-time.After(500 * time.Millisecond):
			}
			if err := m1.Unlock(ctx); err != nil {
				return err
			}
			fmt.Fprintln(w, "released lock for s1")
			if err := <-m2Locked; err != nil {
				return err
			}
			fmt.Fprintln(w, "acquired lock for s2")
			return m2.Unlock(ctx)
		}, "acquired lock for s1\nreleased lock for s1\nacquired lock for s2\n"},
		// ExampleMutex_TryLock.
		{"Mutex_TryLock", func(ctx context.Context, cli *clientv3.Client, w io.Writer) error {
			s1, s2, err := twoSessions(cli)
			if err != nil {
				return err
			}
			defer s1.Close()
			defer s2.Close()
			m1 := concurrency.NewMutex(s1, "/my-trylock/")
			m2 := concurrency.NewMutex(s2, "/my-trylock/")
			if err := m1.Lock(ctx); err != nil {
				return err
			}
			fmt.Fprintln(w, "acquired lock for s1")
			if err := m2.TryLock(ctx); errors.Is(err, concurrency.ErrLocked) {
				fmt.Fprintln(w, "cannot acquire lock for s2, as already locked in another session")
			} else {
				return fmt.Errorf("TryLock of s2: %v, want %v", err, concurrency.ErrLocked)
			}
			if err := m1.Unlock(ctx); err != nil {
				return err
			}
			fmt.Fprintln(w, "released lock for s1")
			if err := m2.TryLock(ctx); err != nil {
				return err
			}
			fmt.Fprintln(w, "acquired lock for s2")
			return m2.Unlock(ctx)
		}, "acquired lock for s1\ncannot acquire lock for s2, as already locked in another session\nreleased lock for s1\nacquired lock for s2\n"},
		// TestMutexLockSessionExpired: a waiter whose session is revoked
		// while the holder has the lock gets ErrSessionExpired once the
		// holder unlocks (its wait ends with the holder's key deleted,
		// then it finds its own key gone with its lease), and leaves no
		// key behind.
		{"Mutex_LockSessionExpired", func(ctx context.Context, cli *clientv3.Client, w io.Writer) error {
			s1, s2, err := twoSessions(cli)
			if err != nil {
				return err
			}
			defer s1.Close()
			m1 := concurrency.NewMutex(s1, "/my-expired-lock/")
			m2 := concurrency.NewMutex(s2, "/my-expired-lock/")
			if err := m1.Lock(ctx); err != nil {
				return err
			}
			wctx, wcancel := context.WithCancel(ctx)
			defer wcancel()
			puts := cli.Watch(wctx, "/my-expired-lock/", clientv3.WithPrefix(), clientv3.WithRev(m1.Header().Revision+1))
			m2Locked := make(chan error, 1)
			go func() { m2Locked <- m2.Lock(ctx) }()
			// As etcd's test: revoke m2's session, then unlock m1; here
			// once m2's key is in, so that m2 is waiting for m1's.
			if wr := <-puts; wr.Err() != nil || len(wr.Events) == 0 {
				return fmt.Errorf("waiting for m2's key: %v", wr.Err())
			}
			if err := s2.Close(); err != nil {
				return err
			}
			if err := m1.Unlock(ctx); err != nil {
				return err
			}
			if err := <-m2Locked; !errors.Is(err, concurrency.ErrSessionExpired) {
				return fmt.Errorf("s2's Lock after its session closed: %v, want %v", err, concurrency.ErrSessionExpired)
			}
			fmt.Fprintln(w, "s2's Lock failed with its session closed")
			resp, err := cli.Get(ctx, "/my-expired-lock/", clientv3.WithPrefix())
			if err != nil {
				return err
			}
			fmt.Fprintln(w, "keys left:", len(resp.Kvs))
			return nil
		}, "s2's Lock failed with its session closed\nkeys left: 0\n"},
		// ExampleElection_Campaign: e2 wins first, then e1 once e2 resigns.
		{"Election_Campaign", func(ctx context.Context, cli *clientv3.Client, w io.Writer) error {
			s1, s2, err := twoSessions(cli)
			if err != nil {
				return err
			}
			defer s1.Close()
			defer s2.Close()
			e1 := concurrency.NewElection(s1, "/my-election/")
			e2 := concurrency.NewElection(s2, "/my-election/")
			electc := make(chan *concurrency.Election, 2)
			errc := make(chan error, 2)
			if err := e2.Campaign(ctx, "e2"); err != nil {
				return err
			}
			electc <- e2
			go func() {
				if err := e1.Campaign(ctx, "e1"); err != nil {
					errc <- err
					return
				}
				electc <- e1
			}()
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			e := <-electc
			fmt.Fprintln(w, "completed first election with", string((<-e.Observe(cctx)).Kvs[0].Value))
			if err := e.Resign(ctx); err != nil {
				return err
			}
			select {
			case e = <-electc:
			case err := <-errc:
				return err
			}
			fmt.Fprintln(w, "completed second election with", string((<-e.Observe(cctx)).Kvs[0].Value))
			return nil
		}, "completed first election with e2\ncompleted second election with e1\n"},
		// TestSessionTTLOptions: a session's lease has the TTL asked.
		{"Session_TTL", func(ctx context.Context, cli *clientv3.Client, w io.Writer) error {
			s, err := concurrency.NewSession(cli, concurrency.WithTTL(5))
			if err != nil {
				return err
			}
			defer s.Close()
			resp, err := cli.TimeToLive(ctx, s.Lease())
			if err != nil {
				return err
			}
			fmt.Fprintln(w, "granted TTL:", resp.GrantedTTL, "left within it:", resp.TTL > 0 && resp.TTL <= 5)
			return nil
		}, "granted TTL: 5 left within it: true\n"},
		// TestSessionCtx: closing a session revokes its lease and ends
		// its Done.
		{"Session_Close", func(ctx context.Context, cli *clientv3.Client, w io.Writer) error {
			s, err := concurrency.NewSession(cli)
			if err != nil {
				return err
			}
			if err := s.Close(); err != nil {
				return err
			}
			select {
			case <-s.Done():
				fmt.Fprintln(w, "session done")
			case <-time.After(10 * time.Second):
				return errors.New("session not done 10s after Close")
			}
			resp, err := cli.TimeToLive(ctx, s.Lease())
			if err != nil {
				return err
			}
			fmt.Fprintln(w, "lease TTL after close:", resp.TTL)
			return nil
		}, "session done\nlease TTL after close: -1\n"},
		// ExampleSTM_apply, under each isolation level: ten concurrent
		// transfers keep the sum of five accounts.
		stmCase("STM_apply_SerializableSnapshot", concurrency.SerializableSnapshot),
		stmCase("STM_apply_Serializable", concurrency.Serializable),
		stmCase("STM_apply_RepeatableReads", concurrency.RepeatableReads),
	})
}

func twoSessions(cli *clientv3.Client) (*concurrency.Session, *concurrency.Session, error) {
	s1, err := concurrency.NewSession(cli)
	if err != nil {
		return nil, nil, err
	}
	s2, err := concurrency.NewSession(cli)
	if err != nil {
		s1.Close()
		return nil, nil, err
	}
	return s1, s2, nil
}

func stmCase(name string, iso concurrency.Isolation) clientCase {
	return clientCase{name, func(ctx context.Context, cli *clientv3.Client, w io.Writer) error {
		const accounts = 5
		prefix := fmt.Sprintf("accts-%d/", iso)
		for i := range accounts {
			if _, err := cli.Put(ctx, fmt.Sprintf("%s%d", prefix, i), "100"); err != nil {
				return err
			}
		}
		exchange := func(stm concurrency.STM) error {
			from, to := rand.IntN(accounts), rand.IntN(accounts)
			if from == to {
				return nil
			}
			fromK, toK := fmt.Sprintf("%s%d", prefix, from), fmt.Sprintf("%s%d", prefix, to)
			var fromV, toV int
			fmt.Sscanf(stm.Get(fromK), "%d", &fromV)
			fmt.Sscanf(stm.Get(toK), "%d", &toV)
			xfer := fromV / 2
			stm.Put(fromK, fmt.Sprint(fromV-xfer))
			stm.Put(toK, fmt.Sprint(toV+xfer))
			return nil
		}
		var wg sync.WaitGroup
		errs := make([]error, 10)
		for i := range errs {
			wg.Go(func() {
				_, errs[i] = concurrency.NewSTM(cli, exchange, concurrency.WithIsolation(iso), concurrency.WithAbortContext(ctx))
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
		resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
		if err != nil {
			return err
		}
		sum := 0
		for _, kv := range resp.Kvs {
			var v int
			fmt.Sscanf(string(kv.Value), "%d", &v)
			sum += v
		}
		fmt.Fprintln(w, "account sum is", sum)
		return nil
	}, "account sum is 500\n"}
}
