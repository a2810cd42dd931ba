package grpcapi_test

import (
	"context"
	"slices"
	"testing"

	"github.com/metasrv/metasrv/client"
	"github.com/metasrv/metasrv/internal/clustertest"
)

// TestWatchAfterBinaryKey: the native Watch reaches every key: a watch of
// an all-0xff prefix (its range ends at "\x00") and of every key from a
// binary key (key_end "\x00") flush the current keys from there on and
// then get a change, through the Go client against a real node.
func TestWatchAfterBinaryKey(t *testing.T) {
	cli, _ := serveLimited(t)
	ctx, cancel := context.WithTimeout(context.Background(), clustertest.WaitTimeout)
	defer cancel()
	for _, k := range []string{"a", "a\xff", "\xfe", "\xff", "\xff\xff"} {
		if _, err := cli.Upsert(ctx, client.Upsert{Key: k, Value: []byte("v")}); err != nil {
			t.Fatalf("upsert %q: %v", k, err)
		}
	}
	for _, tt := range []struct {
		name   string
		opts   client.WatchOptions
		change string
		want   []string // the flushed keys, then the change's
	}{
		{"prefix \\xff", client.WatchOptions{Prefix: "\xff"}, "\xff\x00", []string{"\xff", "\xff\xff", "\xff\x00"}},
		{"every key from a\\xff", client.WatchOptions{Key: "a\xff", KeyEnd: "\x00"}, "\xff\xff\xff", []string{"a\xff", "\xfe", "\xff", "\xff\x00", "\xff\xff", "\xff\xff\xff"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.InitialFlush = true
			w, err := cli.Watch(ctx, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			var got []string
			for len(got) < len(tt.want) {
				ev, err := w.Next()
				if err != nil {
					t.Fatalf("after %q: %v", got, err)
				}
				if ev.FlushDone {
					if _, err := cli.Upsert(ctx, client.Upsert{Key: tt.change, Value: []byte("new")}); err != nil {
						t.Fatal(err)
					}
					continue
				}
				got = append(got, ev.Key)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("keys %q, want %q", got, tt.want)
			}
		})
	}
}
