package client

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"

	"github.com/metasrv/metasrv/api/metapb"
)

// Export streams a dump of the whole state of one node to w: every key
// with its value and metadata, and the global last seq, one JSON object a
// line (the format of databend-metactl export and import). The node
// exports after a linearizable read barrier, so the dump holds every write
// acknowledged before Export was called.
//
// The endpoints are tried in order; one that fails before sending anything
// is skipped. A failure after the first chunk ends the export with an
// error, as what was written to w cannot be taken back. Export returns the
// endpoint that served it. Bound it with ctx: a large state takes a while.
func (c *Client) Export(ctx context.Context, w io.Writer) (string, error) {
	return c.export(ctx, w, metapb.ExportRequest_METASRV)
}

// ExportDatabend is Export in Databend's format: the lines of
// databend-metactl export (data version V004), which databend-meta's
// import reads.
func (c *Client) ExportDatabend(ctx context.Context, w io.Writer) (string, error) {
	return c.export(ctx, w, metapb.ExportRequest_DATABEND)
}

func (c *Client) export(ctx context.Context, w io.Writer, format metapb.ExportRequest_Format) (string, error) {
	return c.fromFirstServing(ctx, "export", func(ep string) (bool, error) {
		return recvStream(ctx, c, ep,
			func(ctx context.Context, cc *grpc.ClientConn) (grpc.ServerStreamingClient[metapb.ExportChunk], error) {
				return metapb.NewMetaClient(cc).Export(ctx, &metapb.ExportRequest{Format: format})
			},
			func(chunk *metapb.ExportChunk) error {
				_, err := w.Write(chunk.GetData())
				return err
			})
	})
}

// fromFirstServing calls from with each endpoint in order until one
// serves: an endpoint that fails before from received anything is
// skipped; a failure after that ends the call, since what was passed on
// cannot be taken back. It returns the endpoint that served.
func (c *Client) fromFirstServing(ctx context.Context, what string, from func(ep string) (got bool, err error)) (string, error) {
	var errs []error
	for _, ep := range c.endpoints {
		got, err := from(ep)
		if err == nil {
			return ep, nil
		}
		err = fmt.Errorf("%s from %s: %w", what, ep, err)
		if got || ctx.Err() != nil {
			return ep, err
		}
		errs = append(errs, err)
	}
	return "", errors.Join(errs...)
}

// recvStream opens a server stream on the connection to ep and passes
// every message to fn until the stream ends. A refused token before the
// first message is renewed and the stream opened once more. got reports
// whether fn was called.
func recvStream[T any](ctx context.Context, c *Client, ep string,
	open func(context.Context, *grpc.ClientConn) (grpc.ServerStreamingClient[T], error),
	fn func(*T) error,
) (got bool, err error) {
	cc, err := c.conn(ep)
	if err != nil {
		return false, err
	}
	if err := c.waitConnected(ctx, cc); err != nil {
		return false, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for try := 0; ; try++ {
		flag := new(sendFlag)
		stream, err := open(context.WithValue(ctx, sendFlagKey{}, flag), cc)
		if err != nil {
			return false, err
		}
		for {
			msg, err := stream.Recv()
			if err == io.EOF {
				return got, nil
			}
			if err != nil {
				if !got && try == 0 && c.renewAfter(ep, flag, err) {
					break // refused token: once more with a new one
				}
				return got, err
			}
			got = true
			if err := fn(msg); err != nil {
				return true, err
			}
		}
	}
}
