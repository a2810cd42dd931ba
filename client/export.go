package client

import (
	"context"
	"errors"
	"fmt"
	"io"

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
	var errs []error
	for _, ep := range c.endpoints {
		wrote, err := c.exportFrom(ctx, ep, w, format)
		if err == nil {
			return ep, nil
		}
		err = fmt.Errorf("export from %s: %w", ep, err)
		if wrote || ctx.Err() != nil {
			return ep, err
		}
		errs = append(errs, err)
	}
	return "", errors.Join(errs...)
}

func (c *Client) exportFrom(ctx context.Context, ep string, w io.Writer, format metapb.ExportRequest_Format) (wrote bool, err error) {
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
		stream, err := metapb.NewMetaClient(cc).Export(context.WithValue(ctx, sendFlagKey{}, flag), &metapb.ExportRequest{Format: format})
		if err != nil {
			return false, err
		}
		for {
			chunk, err := stream.Recv()
			if err == io.EOF {
				return wrote, nil
			}
			if err != nil {
				if !wrote && try == 0 && c.renewAfter(ep, flag, err) {
					break // refused token: once more with a new one
				}
				return wrote, err
			}
			if _, err := w.Write(chunk.GetData()); err != nil {
				return true, err
			}
			wrote = true
		}
	}
}
