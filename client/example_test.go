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
