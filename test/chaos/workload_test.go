package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/api/metapb"
)

// keyPrefix is the prefix of every key the workload writes; the watchers
// watch [keyPrefix, keyPrefixEnd), so they see every change of the run.
const (
	keyPrefix    = "chaos/"
	keyPrefixEnd = "chaos0" // '/' + 1
)

// opTimeout bounds one request; a write that has no answer by then has an
// unknown outcome.
const opTimeout = 2 * time.Second

// notProposedTrailer is the trailer (internal/grpcapi.NotProposedTrailer)
// by which the server says a failed write certainly never entered the log.
const notProposedTrailer = "metasrv-not-proposed"

type opKind int

const (
	opGet opKind = iota
	opUpsert
	opTxn
)

// outcome is what became of a request.
type outcome int

const (
	// done: the reply arrived; the output fields hold it.
	done outcome = iota
	// unknown: a write failed without a reply that says whether it was
	// applied (timeout, lost connection, leader change).
	unknown
	// notProposed: a write failed with the server's word that it never
	// entered the raft log: it had no effect.
	notProposed
	// failed: a read failed; it had no effect and shows nothing.
	failed
)

// val is a key's value as the API shows it: absent, or a seq and data.
type val struct {
	exists bool
	seq    uint64
	data   string
}

func valOf(v *metapb.SeqV) val {
	if v == nil || v.GetSeq() == 0 {
		return val{}
	}
	return val{exists: true, seq: v.GetSeq(), data: string(v.GetData())}
}

func (v val) String() string {
	if !v.exists {
		return "absent"
	}
	return fmt.Sprintf("%d:%s", v.seq, v.data)
}

// op is one request of the history, with its input and its result.
type op struct {
	id     int
	client int
	node   uint64 // the node it was sent to
	kind   opKind
	key    string

	// Upsert: match_seq and what it writes. Txn: the condition
	// (seq EQ cseq, or GE when matchKind is GE) and the value it puts.
	matchKind metapb.MatchSeq_Kind
	mseq      uint64
	del       bool
	value     string
	// viaTxn: a Get sent as a transaction that only reads ("if seq(k) >=
	// 0 then get k"), which the server answers after a read barrier
	// instead of through the log.
	viaTxn bool

	call, ret int64 // ns since the run's start; ret is meaningless unless done
	// resolved: the outcome was unknown to the client and was read from
	// the complete watch stream (see resolveUnknown); the op never returns.
	resolved bool

	outcome outcome
	err     string
	// Upsert: applied, the value before and after. Txn: applied is
	// success; prev is the put's prev (then) or the get's value (else);
	// result the put's current. Get: result.
	applied      bool
	prev, result val
}

func (o *op) String() string {
	var in string
	switch o.kind {
	case opGet:
		in = fmt.Sprintf("get(%s)", o.key)
		if o.viaTxn {
			in = fmt.Sprintf("txn(if seq(%s) >= 0 then get)", o.key)
		}
	case opUpsert:
		w := "put " + o.value
		if o.del {
			w = "delete"
		}
		in = fmt.Sprintf("upsert(%s, %s, match %s %d)", o.key, w, o.matchKind, o.mseq)
	case opTxn:
		c := "=="
		if o.matchKind == metapb.MatchSeq_GE {
			c = ">="
		}
		in = fmt.Sprintf("txn(if seq(%s) %s %d then put %s else get)", o.key, c, o.mseq, o.value)
	}
	var out string
	switch o.outcome {
	case unknown:
		out = "unknown: " + o.err
	case notProposed:
		out = "not proposed: " + o.err
	case failed:
		out = "failed: " + o.err
	default:
		switch o.kind {
		case opGet:
			out = o.result.String()
		default:
			out = fmt.Sprintf("applied=%v prev=%v result=%v", o.applied, o.prev, o.result)
		}
	}
	return fmt.Sprintf("#%d c%d n%d [%.3fs..%s] %s -> %s", o.id, o.client, o.node,
		float64(o.call)/1e9, retString(o), in, out)
}

func retString(o *op) string {
	if o.outcome != done || o.resolved {
		return "?"
	}
	return fmt.Sprintf("%.3fs", float64(o.ret)/1e9)
}

// history collects the ops of every client.
type history struct {
	start time.Time
	mu    struct {
		sync.Mutex
		ops []*op
	}
}

func newHistory() *history { return &history{start: time.Now()} }

func (h *history) now() int64 { return int64(time.Since(h.start)) }

func (h *history) add(o *op) {
	h.mu.Lock()
	defer h.mu.Unlock()
	o.id = len(h.mu.ops)
	h.mu.ops = append(h.mu.ops, o)
}

func (h *history) ops() []*op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*op(nil), h.mu.ops...)
}

// workload runs concurrent clients against random serving members.
type workload struct {
	c    *cluster
	h    *history
	keys []string
}

func newWorkload(c *cluster, h *history, nkeys int) *workload {
	w := &workload{c: c, h: h}
	for i := range nkeys {
		w.keys = append(w.keys, fmt.Sprintf("%sk%d", keyPrefix, i))
	}
	return w
}

// run runs client id until stop is closed; the op in flight completes.
func (w *workload) run(id int, seed uint64, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(seed, uint64(id)))
	seen := map[string]uint64{} // the last seq this client saw per key
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		targets := w.c.members()
		nd := targets[rng.IntN(len(targets))]
		if !nd.running() {
			// A killed node refuses at once; pick another next time
			// instead of piling up fast failures.
			time.Sleep(5 * time.Millisecond)
			continue
		}
		o := &op{client: id, node: nd.id, key: w.keys[rng.IntN(len(w.keys))]}
		o.value = fmt.Sprintf("c%d-%d", id, n)
		last := seen[o.key]
		switch p := rng.IntN(100); {
		case p < 35:
			o.kind, o.viaTxn = opGet, p < 12
		case p < 50:
			o.kind, o.matchKind = opUpsert, metapb.MatchSeq_ANY
		case p < 65:
			o.kind, o.matchKind, o.mseq = opUpsert, metapb.MatchSeq_EXACT, last
		case p < 70:
			o.kind, o.matchKind, o.mseq = opUpsert, metapb.MatchSeq_EXACT, 0
		case p < 75:
			o.kind, o.matchKind, o.mseq = opUpsert, metapb.MatchSeq_GE, last
		case p < 80:
			o.kind, o.del = opUpsert, true
			if rng.IntN(2) == 0 {
				o.matchKind, o.mseq = metapb.MatchSeq_EXACT, last
			}
		case p < 92:
			o.kind, o.matchKind, o.mseq = opTxn, metapb.MatchSeq_EXACT, last
		default:
			o.kind, o.matchKind, o.mseq = opTxn, metapb.MatchSeq_GE, last
		}
		if o.del {
			o.value = ""
		}
		w.do(nd, o)
		if o.outcome == done {
			if o.result.exists {
				seen[o.key] = o.result.seq
			} else if o.kind != opTxn || o.applied {
				seen[o.key] = 0
			} else {
				seen[o.key] = o.prev.seq
			}
		}
		w.h.add(o)
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
	}
}

// do sends o to nd and records the times and result in o.
func (w *workload) do(nd *node, o *op) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	m := nd.meta()
	var trailer metadata.MD
	o.call = w.h.now()
	var err error
	switch o.kind {
	case opGet:
		if o.viaTxn {
			var r *metapb.TxnReply
			r, err = m.Txn(ctx, &metapb.TxnRequest{
				Condition: []*metapb.TxnCondition{{Key: o.key, Op: metapb.TxnCondition_GE, Target: &metapb.TxnCondition_Seq{Seq: 0}}},
				IfThen:    []*metapb.TxnOp{{Request: &metapb.TxnOp_Get{Get: &metapb.TxnGet{Key: o.key}}}},
			})
			if err == nil {
				if rs := r.GetResponses(); !r.GetSuccess() || len(rs) != 1 || rs[0].GetGet() == nil {
					err = fmt.Errorf("%w: a read-only txn whose condition holds: %v", errMalformed, r)
				} else {
					o.result = valOf(rs[0].GetGet().GetValue())
				}
			}
			break
		}
		var r *metapb.GetReply
		r, err = m.Get(ctx, &metapb.GetRequest{Key: o.key})
		if err == nil {
			o.result = valOf(r.GetValue())
		}
	case opUpsert:
		req := &metapb.UpsertRequest{Key: o.key, MatchSeq: &metapb.MatchSeq{Kind: o.matchKind, Seq: o.mseq}}
		if o.del {
			req.Op = metapb.UpsertRequest_DELETE
		} else {
			req.Value = []byte(o.value)
		}
		var r *metapb.UpsertReply
		r, err = m.Upsert(ctx, req, grpc.Trailer(&trailer))
		if err == nil {
			o.applied, o.prev, o.result = r.GetApplied(), valOf(r.GetPrev()), valOf(r.GetResult())
		}
	case opTxn:
		cop := metapb.TxnCondition_EQ
		if o.matchKind == metapb.MatchSeq_GE {
			cop = metapb.TxnCondition_GE
		}
		req := &metapb.TxnRequest{
			Condition: []*metapb.TxnCondition{{Key: o.key, Op: cop, Target: &metapb.TxnCondition_Seq{Seq: o.mseq}}},
			IfThen:    []*metapb.TxnOp{{Request: &metapb.TxnOp_Put{Put: &metapb.TxnPut{Key: o.key, Value: []byte(o.value)}}}},
			ElseThen:  []*metapb.TxnOp{{Request: &metapb.TxnOp_Get{Get: &metapb.TxnGet{Key: o.key}}}},
		}
		var r *metapb.TxnReply
		r, err = m.Txn(ctx, req, grpc.Trailer(&trailer))
		if err == nil {
			err = o.txnResult(r)
		}
	}
	o.ret = w.h.now()
	switch {
	case err == nil:
		o.outcome = done
	case o.kind == opGet:
		o.outcome, o.err = failed, errString(err)
	case len(trailer.Get(notProposedTrailer)) > 0:
		o.outcome, o.err = notProposed, errString(err)
	default:
		o.outcome, o.err = unknown, errString(err)
	}
}

// errMalformed marks a reply that does not have the shape of the request:
// recorded as an unknown outcome and reported by the checker as a bug.
var errMalformed = errors.New("malformed reply")

func (o *op) txnResult(r *metapb.TxnReply) error {
	rs := r.GetResponses()
	if len(rs) != 1 {
		return fmt.Errorf("%w: %d responses, want 1: %v", errMalformed, len(rs), r)
	}
	o.applied = r.GetSuccess()
	if o.applied {
		p := rs[0].GetPut()
		if p == nil || r.GetExecutionPath() != "then" {
			return fmt.Errorf("%w: success without a put response on then: %v", errMalformed, r)
		}
		o.prev, o.result = valOf(p.GetPrev()), valOf(p.GetCurrent())
		return nil
	}
	g := rs[0].GetGet()
	if g == nil || r.GetExecutionPath() != "else" {
		return fmt.Errorf("%w: failure without a get response on else: %v", errMalformed, r)
	}
	o.prev = valOf(g.GetValue())
	o.result = o.prev
	return nil
}

func errString(err error) string {
	if s, ok := status.FromError(err); ok {
		return fmt.Sprintf("%s: %s", s.Code(), s.Message())
	}
	return err.Error()
}

// isCode reports whether err is a gRPC status with code c.
func isCode(err error, c codes.Code) bool {
	s, ok := status.FromError(err)
	return ok && s.Code() == c
}
