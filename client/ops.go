package client

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"

	"github.com/metasrv/metasrv/api/metapb"
)

// Get returns the value of key; an absent key returns a KV with Seq 0 and a
// nil error. Reads are linearizable unless Serializable is given.
func (c *Client) Get(ctx context.Context, key string, opts ...ReadOption) (KV, error) {
	if key == "" {
		return KV{}, fmt.Errorf("%w: get: empty key", ErrInvalidArgument)
	}
	o := applyReadOptions(opts)
	req := &metapb.GetRequest{Key: key, Consistency: o.consistency}
	var reply *metapb.GetReply
	_, err := c.invoke(ctx, fmt.Sprintf("get %q", key), kindRead, toEndpoint, func(ctx context.Context, mc metapb.MetaClient) error {
		var err error
		reply, err = mc.Get(ctx, req)
		return err
	})
	if err != nil {
		return KV{}, err
	}
	return kvFromProto(key, reply.GetValue()), nil
}

// MGet returns the values of keys in one request, one KV per key in the
// order of keys; absent keys have Seq 0.
func (c *Client) MGet(ctx context.Context, keys []string, opts ...ReadOption) ([]KV, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	for _, k := range keys {
		if k == "" {
			return nil, fmt.Errorf("%w: mget: empty key", ErrInvalidArgument)
		}
	}
	o := applyReadOptions(opts)
	req := &metapb.MGetRequest{Keys: keys, Consistency: o.consistency}
	var reply *metapb.MGetReply
	what := fmt.Sprintf("mget of %d keys", len(keys))
	_, err := c.invoke(ctx, what, kindRead, toEndpoint, func(ctx context.Context, mc metapb.MetaClient) error {
		var err error
		reply, err = mc.MGet(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(reply.GetKvs()) != len(keys) {
		return nil, fmt.Errorf("%s: server returned %d values for %d keys", what, len(reply.GetKvs()), len(keys))
	}
	kvs := make([]KV, len(keys))
	for i, kv := range reply.GetKvs() {
		kvs[i] = kvFromProto(keys[i], kv.GetValue())
	}
	return kvs, nil
}

// List returns the keys that start with prefix, in ascending key order, at
// most limit of them (0 = no limit). An empty prefix lists every key. The
// server streams the result in chunks; List collects them all in memory. A
// stream that breaks is restarted from the beginning on the next endpoint.
func (c *Client) List(ctx context.Context, prefix string, limit uint64, opts ...ReadOption) ([]KV, error) {
	o := applyReadOptions(opts)
	req := &metapb.ListRequest{Prefix: prefix, Limit: limit, Consistency: o.consistency}
	var kvs []KV
	_, err := c.invoke(ctx, fmt.Sprintf("list prefix %q", prefix), kindRead, toEndpoint, func(ctx context.Context, mc metapb.MetaClient) error {
		kvs = kvs[:0]
		ctx, cancel := context.WithCancel(ctx)
		defer cancel() // ends the stream if we stop reading early
		stream, err := mc.List(ctx, req)
		if err != nil {
			return err
		}
		for {
			chunk, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			for _, kv := range chunk.GetKvs() {
				kvs = append(kvs, kvFromProto(kv.GetKey(), kv.GetValue()))
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return kvs, nil
}

// Upsert writes or deletes u.Key if u.Match matches the key's current seq.
// A mismatch is not an error: it returns Applied false.
//
// If the request reached a server and failed without an answer, Upsert
// returns an error wrapping ErrMaybeApplied and does not retry it, unless
// u.Match is Exact (see UpsertResult.Retried); a request that provably was
// not sent, or that the server says it never proposed
// (NotProposedTrailer), is retried on the next endpoint.
func (c *Client) Upsert(ctx context.Context, u Upsert) (UpsertResult, error) {
	req, err := u.request()
	if err != nil {
		return UpsertResult{}, err
	}
	kind := kindWrite
	if u.Match.kind == metapb.MatchSeq_EXACT {
		kind = kindWriteIdempotent
	}
	op := "upsert"
	if u.Delete {
		op = "delete"
	}
	var reply *metapb.UpsertReply
	retried, err := c.invoke(ctx, fmt.Sprintf("%s %q (match %v)", op, u.Key, u.Match), kind, toLeader, func(ctx context.Context, mc metapb.MetaClient) error {
		var err error
		reply, err = mc.Upsert(ctx, req)
		return err
	})
	if err != nil {
		return UpsertResult{}, err
	}
	return UpsertResult{
		Prev:    kvFromProto(u.Key, reply.GetPrev()),
		Result:  kvFromProto(u.Key, reply.GetResult()),
		Applied: reply.GetApplied(),
		Retried: retried,
	}, nil
}

// Delete removes key whatever its seq. Deleting an absent key succeeds with
// Prev.Seq 0. Use Upsert with Delete and Match Exact for a conditional
// delete.
func (c *Client) Delete(ctx context.Context, key string) (UpsertResult, error) {
	return c.Upsert(ctx, Upsert{Key: key, Delete: true})
}

// MemberList returns the members of the cluster as the serving node knows
// them.
func (c *Client) MemberList(ctx context.Context) ([]*metapb.Node, error) {
	var reply *metapb.MemberListReply
	_, err := c.invoke(ctx, "member-list", kindRead, toEndpoint, func(ctx context.Context, mc metapb.MetaClient) error {
		var err error
		reply, err = mc.MemberList(ctx, &metapb.MemberListRequest{})
		return err
	})
	if err != nil {
		return nil, err
	}
	return reply.GetNodes(), nil
}

// Status returns the status of the node at endpoint (host:port), which need
// not be one of Config.Endpoints. It asks that node only: no other endpoint
// is tried, and the call is not retried.
func (c *Client) Status(ctx context.Context, endpoint string) (*metapb.StatusReply, error) {
	return askNode(ctx, c, "status", endpoint, func(ctx context.Context, cc *grpc.ClientConn) (*metapb.StatusReply, error) {
		return metapb.NewMetaClient(cc).Status(ctx, &metapb.StatusRequest{})
	})
}

// askNode makes one call on the connection to endpoint only; a refused
// token is renewed and the call made once more.
func askNode[T any](ctx context.Context, c *Client, what, endpoint string, call func(context.Context, *grpc.ClientConn) (T, error)) (T, error) {
	var zero T
	if err := validateEndpoint(endpoint); err != nil {
		return zero, fmt.Errorf("%s: %w", what, err)
	}
	what += " of " + endpoint
	cc, err := c.conn(endpoint)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", what, err)
	}
	if err := c.waitConnected(ctx, cc); err != nil {
		return zero, fmt.Errorf("%s: %w", what, err)
	}
	for try := 0; ; try++ {
		flag := new(sendFlag)
		reply, err := call(context.WithValue(ctx, sendFlagKey{}, flag), cc)
		if try == 0 && c.renewAfter(endpoint, flag, err) {
			continue
		}
		if err != nil {
			return zero, fmt.Errorf("%s: %w", what, err)
		}
		return reply, nil
	}
}
