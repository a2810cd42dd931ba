package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/metasrv/metasrv/api/metapb"
)

// benchSystem is the "system" field of bench's output line.
const benchSystem = "metasrv"

// benchKeyPrefix is the default --prefix, which starts every key bench
// writes or reads; with the default --key-size the keys are
// "bench/key/%08d", those of the etcd benchmark runs it is compared with.
const benchKeyPrefix = "bench/key/"

// benchCleanupTimeout bounds --cleanup's delete, which runs even after the
// run was interrupted.
const benchCleanupTimeout = 30 * time.Second

// Workloads of bench.
const (
	workloadPut             = "put"
	workloadGet             = "get"
	workloadGetSerializable = "get-serializable"
	workloadTxnCAS          = "txn-cas"
	workloadMixed           = "mixed"
	workloadWatch           = "watch"
	workloadLoad            = "load"
)

var benchWorkloads = []string{workloadPut, workloadGet, workloadGetSerializable, workloadTxnCAS, workloadMixed, workloadWatch, workloadLoad}

// maxBenchBatch is the most puts --batch puts in one request: the server's
// limit of ops in a transaction (statemachine.MaxTxnOps).
const maxBenchBatch = 1000

// benchConfig is one bench run, from the flags.
type benchConfig struct {
	endpoints []string
	workload  string
	clients   int
	conns     int
	total     int    // load: keys, each one op
	prefix    string // every key starts with it
	keys      int
	keySize   int
	valSize   int
	rwRatio   float64 // mixed: reads per write
	batch     int     // load and preloads: keys written per request
	progress  bool    // draw the progress bar on stderr
	// writesToLeader sends every Upsert and Txn to the leader.
	writesToLeader bool
	// cleanup deletes every key under prefix when the run ends.
	cleanup bool
}

func newBenchCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench [--workload W] [--clients N] [--conns M] [--total T] [--keys K] ...",
		Short: "Measure throughput and latency of a cluster; prints one JSON line",
		Long: `Drive one workload against the --grpc-api-address nodes and print one JSON
line, in a fixed form meant for comparison with the same line from runs
against other systems:

  {"system":"metasrv","workload":W,"clients":N,"conns":M,"total":T,"errors":E,
   "seconds":S,"ops_per_sec":R,"p50_ms":A,"p99_ms":B,"p999_ms":C}

--clients goroutines issue --total requests in all, one at a time each, on
--conns shared connections (client i uses connection i mod M). As etcd's
client does, a connection is one HTTP/2 connection per address and each
request goes to the next address in turn; followers forward writes and
linearizable reads to the leader. Requests go straight to the gRPC API, not
through the client library: its failover and retry logic is not measured.
A request that fails counts in "errors" and is not retried; its latency
counts like any other.

--writes-to-leader sends every write (Upsert, Txn: the put, txn-cas and
load requests, the puts of mixed and watch, the preload) to the leader
instead, as the Go client does: before the run, the first endpoint whose
Status names a leader gives its grpc address (from its member list; it need
not be one of --grpc-api-address), and each connection gets one HTTP/2
connection to it. Reads still go to each address in turn. The leader is
not followed if it changes during the run: writes to a former leader are
forwarded. Off by default: etcd's client does not do it.

Workloads (keys are --prefix, "bench/key/" by default, and a zero-padded
number below --keys, chosen at random):
  put               upsert a --val-size value to a random key
  get               preload every key, then linearizable gets
  get-serializable  preload every key, then serializable gets
  txn-cas           a txn: if the key's seq equals the last seq seen, put the
                    value, else get the key (to learn its seq)
  mixed             preload, then --rw-ratio gets per put, at random
  watch             one watch stream per connection on every bench key, and
                    --clients writers doing puts; latency is from the start
                    of a put to its event arriving at a watcher (one sample
                    per event and watcher), "errors" counts failed puts and
                    events never delivered
  load              write each of the --keys keys exactly once, in order,
                    --batch keys a request (an upsert, or a txn of --batch
                    unconditional puts); "total" is --keys and "ops_per_sec"
                    keys per second, the latencies are of requests; --total
                    does not apply. Any failed request makes the exit status
                    1 (after the line): keys may be missing

--batch also applies to the preload of get, get-serializable and mixed.

The keys stay in the cluster after the run, so that a read workload can
follow a load. --cleanup deletes every key under --prefix when the run
ends (also after an interrupted run), in one transaction (delete_by_prefix),
and says how many on stderr: give a --prefix that only bench uses.

A progress bar goes to stderr for runs longer than a second (--progress).
--output does not apply. --timeout does not apply unless given: then it
bounds the whole run.`,
		Args: cobra.NoArgs,
	}
	f := cmd.Flags()
	f.String("workload", workloadPut, strings.Join(benchWorkloads, ", "))
	f.Int("clients", 1, "concurrent clients, each with one request in flight")
	f.Int("conns", 1, "gRPC connections the clients share (each one per address)")
	f.Int("total", 10000, "requests in all (watch: puts)")
	f.Int("keys", 10000, "distinct keys")
	f.String("prefix", benchKeyPrefix, "every key starts with this (non-empty)")
	f.Int("key-size", 18, "key length in bytes: --prefix and the zero-padded number; 18 = the default prefix and 8 digits")
	f.Int("val-size", 256, "value length in bytes")
	f.Float64("rw-ratio", 9, "mixed: gets per put (9 = 90% gets)")
	f.Int("batch", 1, "load and preloads: keys written per request (> 1: a txn of that many puts), at most 1000")
	f.String("progress", "auto", "progress bar on stderr: auto (when stderr is a terminal), on or off")
	f.Bool("writes-to-leader", false, "send every write (Upsert, Txn) to the leader, found with Status before the run; reads still go to each address in turn")
	f.Bool("cleanup", false, "delete every key under --prefix when the run ends")
	cmd.RunE = runE(func(cmd *cobra.Command) error {
		cfg, err := benchFlags(cmd, a.endpoints)
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		if cmd.Flags().Changed("timeout") {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, a.timeout)
			defer cancel()
		}
		res, err := runBench(ctx, cfg, cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		if err := res.write(cmd.OutOrStdout()); err != nil {
			return err
		}
		if cfg.workload == workloadLoad && res.Errors > 0 {
			return fmt.Errorf("load: %d requests failed: keys may be missing or written twice; load into an empty cluster again", res.Errors)
		}
		return nil
	})
	return cmd
}

// benchFlags reads and checks bench's flags.
func benchFlags(cmd *cobra.Command, endpoints []string) (benchConfig, error) {
	fl := cmd.Flags()
	c := benchConfig{endpoints: endpoints}
	c.workload, _ = fl.GetString("workload")
	c.clients, _ = fl.GetInt("clients")
	c.conns, _ = fl.GetInt("conns")
	c.total, _ = fl.GetInt("total")
	c.prefix, _ = fl.GetString("prefix")
	c.keys, _ = fl.GetInt("keys")
	c.keySize, _ = fl.GetInt("key-size")
	c.valSize, _ = fl.GetInt("val-size")
	c.rwRatio, _ = fl.GetFloat64("rw-ratio")
	c.batch, _ = fl.GetInt("batch")
	c.writesToLeader, _ = fl.GetBool("writes-to-leader")
	c.cleanup, _ = fl.GetBool("cleanup")
	progress, _ := fl.GetString("progress")

	known := false
	for _, w := range benchWorkloads {
		known = known || w == c.workload
	}
	minKeySize := len(c.prefix) + max(8, len(strconv.Itoa(c.keys-1)))
	switch {
	case len(endpoints) == 0:
		return c, usagef("--grpc-api-address lists no address")
	case !known:
		return c, usagef("invalid --workload %q: want one of %s", c.workload, strings.Join(benchWorkloads, ", "))
	case c.clients < 1:
		return c, usagef("invalid --clients %d: want at least 1", c.clients)
	case c.conns < 1:
		return c, usagef("invalid --conns %d: want at least 1", c.conns)
	case c.total < 1:
		return c, usagef("invalid --total %d: want at least 1", c.total)
	case c.keys < 1:
		return c, usagef("invalid --keys %d: want at least 1", c.keys)
	case c.prefix == "":
		return c, usagef("--prefix is empty: bench's keys need a prefix of their own (default %q)", benchKeyPrefix)
	case !utf8.ValidString(c.prefix):
		return c, usagef("--prefix %q is not valid UTF-8: bench writes text keys; give a UTF-8 prefix", c.prefix)
	case c.keySize < minKeySize || c.keySize > 4096:
		return c, usagef("invalid --key-size %d: want %d..4096 (%q and %d keys numbered with at least 8 digits)",
			c.keySize, minKeySize, c.prefix, c.keys)
	case c.valSize < 0:
		return c, usagef("invalid --val-size %d: want 0 or more", c.valSize)
	case c.workload == workloadWatch && c.valSize < watchStampSize:
		return c, usagef("invalid --val-size %d: the watch workload needs at least %d bytes (send time and run id)", c.valSize, watchStampSize)
	case c.rwRatio < 0:
		return c, usagef("invalid --rw-ratio %v: want 0 or more gets per put", c.rwRatio)
	case c.batch < 1 || c.batch > maxBenchBatch:
		return c, usagef("invalid --batch %d: want 1..%d keys per request", c.batch, maxBenchBatch)
	case c.workload == workloadLoad && fl.Changed("total"):
		return c, usagef("--total does not apply to --workload load: it writes each of --keys once")
	}
	if c.workload == workloadLoad {
		c.total = c.keys
	}
	switch progress {
	case "on":
		c.progress = true
	case "off":
	case "auto":
		c.progress = isTerminal(cmd.ErrOrStderr())
	default:
		return c, usagef("invalid --progress %q: want auto, on or off", progress)
	}
	return c, nil
}

// runBench connects, prepares (preloads) and runs one workload; with
// cfg.cleanup it then deletes the keys, whether the run succeeded or not.
func runBench(ctx context.Context, cfg benchConfig, stderr io.Writer) (res benchResult, err error) {
	conns, err := dialBench(ctx, cfg.endpoints, cfg.conns)
	if err != nil {
		return benchResult{}, err
	}
	defer conns.close()
	if cfg.cleanup {
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), benchCleanupTimeout)
			defer cancel()
			switch cerr := cleanupBench(cctx, conns, cfg.prefix, stderr); {
			case cerr != nil && err == nil:
				err = cerr
			case cerr != nil:
				fmt.Fprintf(stderr, "databend-metactl: bench: %v\n", cerr)
			}
		}()
	}
	if cfg.writesToLeader {
		id, addr, err := conns.findLeader(ctx, cfg.endpoints)
		if err != nil {
			return benchResult{}, err
		}
		if err := conns.useLeader(ctx, cfg.endpoints, addr); err != nil {
			return benchResult{}, err
		}
		fmt.Fprintf(stderr, "databend-metactl: bench: writes go to the leader, node %d at %s\n", id, addr)
	}
	b := &bench{cfg: cfg, conns: conns, stderr: stderr}
	b.keyNames = benchKeys(cfg.prefix, cfg.keys, cfg.keySize)
	b.val = make([]byte, cfg.valSize)
	rand.Read(b.val)
	if cfg.workload == workloadWatch {
		return b.runWatch(ctx)
	}
	return b.runOps(ctx)
}

// bench is the state of one run shared by its clients.
type bench struct {
	cfg      benchConfig
	conns    *benchConns
	stderr   io.Writer
	keyNames []string
	val      []byte

	errs     atomic.Int64
	firstErr struct {
		sync.Once
		err error
	}
}

// benchKeys returns the n key names, prefix and a zero-padded number,
// each size bytes long.
func benchKeys(prefix string, n, size int) []string {
	width := size - len(prefix)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s%0*d", prefix, width, i)
	}
	return keys
}

// cleanupBench deletes every key under prefix in one transaction and says
// on stderr how many it deleted.
func cleanupBench(ctx context.Context, conns *benchConns, prefix string, stderr io.Writer) error {
	req := &metapb.TxnRequest{IfThen: []*metapb.TxnOp{{Request: &metapb.TxnOp_DeleteByPrefix{
		DeleteByPrefix: &metapb.TxnDeleteByPrefix{Prefix: prefix}}}}}
	reply, err := conns.newWriter(0).pick().Txn(ctx, req)
	if err != nil {
		return fmt.Errorf("--cleanup: delete the keys under %q: %w; they are left in the cluster", prefix, err)
	}
	var n uint64
	if r := reply.GetResponses(); len(r) == 1 {
		n = r[0].GetDeleteByPrefix().GetCount()
	}
	fmt.Fprintf(stderr, "databend-metactl: bench: --cleanup deleted %d keys under %q\n", n, prefix)
	return nil
}

// fail counts a failed request and keeps the first error for the report.
func (b *bench) fail(err error) {
	b.errs.Add(1)
	b.firstErr.Do(func() { b.firstErr.err = err })
}

// reportErrors tells on stderr how many requests failed and why the first
// did.
func (b *bench) reportErrors() {
	if n := b.errs.Load(); n > 0 {
		fmt.Fprintf(b.stderr, "databend-metactl: bench: %d errors; the first: %v\n", n, b.firstErr.err)
	}
}

// runOps runs every workload but watch: the peers' loop. Each client takes
// the next request number from a shared counter until total are taken,
// picks a key at random (its own generator, seeded with its number) and
// times the request; the latencies of all requests, failed ones included,
// give the percentiles, and total over the wall time from the first
// request to the last answer gives ops_per_sec.
func (b *bench) runOps(ctx context.Context) (benchResult, error) {
	w, err := b.newWorkload()
	if err != nil {
		return benchResult{}, err
	}
	if w.preload {
		if err := b.preload(ctx); err != nil {
			return benchResult{}, err
		}
	}
	total := int64(b.cfg.total)
	if w.requests > 0 {
		total = int64(w.requests)
	}
	lat := make([]time.Duration, total)
	var next, done atomic.Int64
	bar := startProgress(b.stderr, b.cfg.progress, b.cfg.workload, total, &done)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range b.cfg.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(c)))
			op := w.newClient(c, r)
			for {
				i := next.Add(1) - 1
				if i >= total {
					return
				}
				k := int(i)
				if !w.byNumber {
					k = r.Intn(b.cfg.keys)
				}
				t := time.Now()
				err := op(ctx, k)
				lat[i] = time.Since(t)
				if err != nil {
					b.fail(err)
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	bar.finish()
	if err := ctx.Err(); err != nil {
		return benchResult{}, fmt.Errorf("bench interrupted after %d of %d requests: %w", done.Load(), total, err)
	}
	b.reportErrors()
	return newBenchResult(b.cfg, b.errs.Load(), el, lat), nil
}

// preload writes every key once, --batch keys a request, so that reads
// find values. It is not timed. Any failure ends the run.
func (b *bench) preload(ctx context.Context) error {
	batches := b.batches()
	workers := min(batches, 64)
	var next, done atomic.Int64
	bar := startProgress(b.stderr, b.cfg.progress, "preload", int64(batches), &done)
	defer bar.finish()
	errC := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			load := b.loader(w)
			for {
				n := next.Add(1) - 1
				if n >= int64(batches) {
					return
				}
				if err := load(ctx, int(n)); err != nil {
					errC <- fmt.Errorf("preload key %s: %w", b.keyNames[int(n)*b.cfg.batch], err)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errC)
	return <-errC // nil when none failed
}

// errBenchBadReply is a reply that lacks what the request must return.
var errBenchBadReply = errors.New("malformed reply")
