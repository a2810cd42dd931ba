package chaos

import (
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"

	"github.com/metasrv/metasrv/api/metapb"
)

// The model of the KV API checked with porcupine, partitioned by key.
//
// Seqs are global: a write to one key takes the next seq of the whole
// store, so the per-key model cannot predict a write's seq. It keeps what a
// key can be known to hold:
//
//   - absent (seq 0), or
//   - a value with an exact seq (known), or
//   - a value written by a write whose reply was lost: its seq is unknown
//     but greater than lb, the key's seq before that write (!known).
//
// A reply that shows the key's previous value (a read, an upsert's prev, a
// txn's prev or else-get) must match the state; against an unknown seq it
// fixes it. A write that takes effect must get a seq greater than the
// key's current one, and must be applied exactly when match_seq (or the
// txn's condition) holds on the current seq. Writes with an unknown outcome
// are operations that never return (porcupine places them anywhere after
// their call, including after everything, i.e. never); when their
// condition cannot be decided on an unknown seq the model is
// nondeterministic and keeps both states.
//
// What the per-key model cannot see, the order of seqs across keys, is
// checked by checkSeqOrder.

// kstate is the model's state of one key.
type kstate struct {
	exists bool
	data   string
	seq    uint64 // exact when known, else a strict lower bound
	known  bool
}

var absent = kstate{known: true}

func (s kstate) String() string {
	switch {
	case !s.exists:
		return "absent"
	case s.known:
		return fmt.Sprintf("%d:%s", s.seq, s.data)
	default:
		return fmt.Sprintf(">%d:%s", s.seq, s.data)
	}
}

// observe returns the state refined by a reply that shows v as the key's
// current value, and false if v cannot be the current value.
func (s kstate) observe(v val) (kstate, bool) {
	if !s.exists {
		return s, !v.exists
	}
	if !v.exists || v.data != s.data {
		return s, false
	}
	if s.known {
		return s, v.seq == s.seq
	}
	if v.seq <= s.seq {
		return s, false
	}
	return kstate{exists: true, data: s.data, seq: v.seq, known: true}, true
}

// cond returns whether the condition (kind, m) can hold and can fail on
// the key's seq.
func (s kstate) cond(kind metapb.MatchSeq_Kind, m uint64) (canHold, canFail bool) {
	if s.known {
		var ok bool
		switch kind {
		case metapb.MatchSeq_EXACT:
			ok = s.seq == m
		case metapb.MatchSeq_GE:
			ok = s.seq >= m
		default:
			ok = true
		}
		return ok, !ok
	}
	// seq is some value > s.seq.
	switch kind {
	case metapb.MatchSeq_EXACT:
		return m > s.seq, true
	case metapb.MatchSeq_GE:
		return true, m > s.seq+1
	default:
		return true, false
	}
}

// effect returns the state after o takes effect with an unknown reply.
func (s kstate) effect(o *op) kstate {
	if o.del {
		return absent
	}
	return kstate{exists: true, data: o.value, seq: s.seq, known: false}
}

// step returns the states the key can be in after o, from s.
func step(s kstate, o *op) []kstate {
	switch o.kind {
	case opGet:
		if n, ok := s.observe(o.result); ok {
			return []kstate{n}
		}
		return nil
	case opUpsert, opTxn:
		if o.outcome != done {
			var out []kstate
			hold, fail := s.cond(o.matchKind, o.mseq)
			if fail {
				out = append(out, s)
			}
			if hold {
				if !s.known && o.matchKind == metapb.MatchSeq_EXACT {
					// The condition held: the seq was mseq.
					s = kstate{exists: true, data: s.data, seq: o.mseq, known: true}
				}
				out = append(out, s.effect(o))
			}
			return out
		}
		n, ok := s.observe(o.prev)
		if !ok {
			return nil
		}
		hold, _ := n.cond(o.matchKind, o.mseq)
		if o.applied != hold {
			return nil
		}
		if !o.applied {
			if o.result != o.prev {
				return nil
			}
			return []kstate{n}
		}
		if o.del {
			if o.result.exists {
				return nil
			}
			return []kstate{absent}
		}
		if !o.result.exists || o.result.data != o.value || o.result.seq <= n.seq {
			return nil
		}
		return []kstate{{exists: true, data: o.value, seq: o.result.seq, known: true}}
	}
	return nil
}

// kvModel is the porcupine model; Input and Output of each operation are
// the same *op.
var kvModel = (&porcupine.NondeterministicModel{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, o := range h {
			k := o.Input.(*op).key
			byKey[k] = append(byKey[k], o)
		}
		var out [][]porcupine.Operation
		for _, k := range slices.Sorted(mapKeys(byKey)) {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() []any { return []any{absent} },
	Step: func(state, input, output any) []any {
		var out []any
		for _, s := range step(state.(kstate), input.(*op)) {
			out = append(out, s)
		}
		return out
	},
	Equal: func(a, b any) bool { return a.(kstate) == b.(kstate) },
	Hash: func(s any) uint64 {
		k := s.(kstate)
		h := fnv.New64a()
		fmt.Fprintf(h, "%v/%s/%d/%v", k.exists, k.data, k.seq, k.known)
		return h.Sum64()
	},
	DescribeOperation: func(input, output any) string {
		o := input.(*op)
		s := o.String()
		if i := strings.Index(s, "] "); i >= 0 {
			s = s[i+2:]
		}
		return fmt.Sprintf("c%d n%d %s", o.client, o.node, s)
	},
	DescribeState: func(s any) string { return s.(kstate).String() },
}).ToModel()

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// porcupineOps turns the history into porcupine operations: reads that
// failed and writes that were not proposed had no effect and are left
// out; a write with an unknown outcome never returns.
func porcupineOps(ops []*op) []porcupine.Operation {
	var out []porcupine.Operation
	for _, o := range ops {
		if o.outcome == failed || o.outcome == notProposed {
			continue
		}
		ret := o.ret
		if o.outcome == unknown || o.resolved {
			ret = math.MaxInt64
		}
		out = append(out, porcupine.Operation{ClientId: o.client, Input: o, Call: o.call, Output: o, Return: ret})
	}
	return out
}
