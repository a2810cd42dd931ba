package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/metasrv/metasrv/client"
	"github.com/metasrv/metasrv/client/clienttest"
)

func Example() {
	// A fake server stands in for a metasrv cluster here.
	cluster, err := clienttest.NewCluster(1, clienttest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Stop()

	cli, err := client.New(client.Config{Endpoints: cluster.Addrs()})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// Create the key if it is absent.
	res, err := cli.Upsert(ctx, client.Upsert{Key: "tenant/a", Value: []byte("v1"), Match: client.Exact(0)})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created:", res.Applied, "seq", res.Result.Seq)

	// Compare-and-swap against the seq read.
	kv, err := cli.Get(ctx, "tenant/a")
	if err != nil {
		log.Fatal(err)
	}
	res, err = cli.Upsert(ctx, client.Upsert{Key: "tenant/a", Value: []byte("v2"), Match: client.Exact(kv.Seq)})
	if errors.Is(err, client.ErrMaybeApplied) {
		log.Fatal("unknown outcome; read the key before writing again: ", err)
	} else if err != nil {
		log.Fatal(err)
	}
	fmt.Println("swapped:", res.Applied, string(res.Prev.Data), "->", string(res.Result.Data))

	kvs, err := cli.List(ctx, "tenant/", 0)
	if err != nil {
		log.Fatal(err)
	}
	for _, kv := range kvs {
		fmt.Printf("%s = %s (seq %d, version %d)\n", kv.Key, kv.Data, kv.Seq, kv.Version)
	}
	// Output:
	// created: true seq 1
	// swapped: true v1 -> v2
	// tenant/a = v2 (seq 2, version 2)
}

func ExampleTxnBuilder() {
	cluster, err := clienttest.NewCluster(1, clienttest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Stop()
	cli, err := client.New(client.Config{Endpoints: cluster.Addrs()})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// A lease-based lock: take it if nobody holds it, else read the holder.
	lock, err := client.NewTxn().
		If(client.Seq("lock/db").Eq(0)).
		Then(client.OpPut("lock/db", []byte("node-1")).WithTTL(30 * time.Second)).
		Else(client.OpGet("lock/db")).
		Build()
	if err != nil {
		log.Fatal(err)
	}
	reply, err := cli.Txn(ctx, lock)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply.GetExecutionPath(), reply.GetSuccess())
	reply, err = cli.Txn(ctx, lock)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply.GetExecutionPath(), "held by", string(reply.GetResponses()[0].GetGet().GetValue().GetData()))

	// Ordered branches: the first whose predicate holds runs.
	enqueue, err := client.NewTxn().
		Branch(client.Value("lock/db").Eq([]byte("node-2")), client.OpDelete("lock/db")).
		Branch(client.Or(client.KeysWithPrefix("queue/").Eq(0), client.Seq("paused").Eq(0)),
			client.OpPutSequential("queue/", "queue_seq", []byte("job-1"))).
		Branch(nil, client.OpGet("paused")).
		Build()
	if err != nil {
		log.Fatal(err)
	}
	reply, err = cli.Txn(ctx, enqueue)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply.GetExecutionPath(), reply.GetResponses()[0].GetPutSequential().GetKey())
	// Output:
	// then true
	// else held by node-1
	// branch:1 queue/000_000_000_000_000_000_000
}

func ExampleClient_Watch() {
	cluster, err := clienttest.NewCluster(1, clienttest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Stop()
	cli, err := client.New(client.Config{Endpoints: cluster.Addrs()})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Upsert(ctx, client.Upsert{Key: "cfg/a", Value: []byte("1")}); err != nil {
		log.Fatal(err)
	}

	// The current values, then every change; the watch resumes by itself
	// if its stream breaks. Cancel ctx or Close to end it.
	w, err := cli.Watch(ctx, client.WatchOptions{Prefix: "cfg/", InitialFlush: true})
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	show := func(ev client.WatchEvent) {
		switch {
		case ev.FlushDone:
			fmt.Println("-- current values above, changes below")
		case ev.IsDelete():
			fmt.Printf("delete %s (seq %d)\n", ev.Key, ev.Seq)
		default:
			fmt.Printf("%s = %s (seq %d)\n", ev.Key, ev.Current.Data, ev.Seq)
		}
	}
	for {
		ev, err := w.Next()
		if errors.Is(err, client.ErrCompacted) {
			log.Fatal("fell too far behind: start a new watch with InitialFlush")
		} else if err != nil {
			log.Fatal(err)
		}
		show(ev)
		if ev.FlushDone {
			break
		}
	}
	if _, err := cli.Upsert(ctx, client.Upsert{Key: "cfg/b", Value: []byte("2")}); err != nil {
		log.Fatal(err)
	}
	if _, err := cli.Delete(ctx, "cfg/a"); err != nil {
		log.Fatal(err)
	}
	for range 2 {
		ev, err := w.Next()
		if err != nil {
			log.Fatal(err)
		}
		show(ev)
	}
	// Output:
	// cfg/a = 1 (seq 1)
	// -- current values above, changes below
	// cfg/b = 2 (seq 2)
	// delete cfg/a (seq 1)
}
