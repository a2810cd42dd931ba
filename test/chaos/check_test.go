package chaos

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/metasrv/metasrv/internal/statemachine"
)

// maxProblems caps how many problems of one kind a check reports.
const maxProblems = 10

// problems collects what the checks found wrong.
type problems struct {
	kind string
	list []string
	more int
}

func (p *problems) addf(format string, args ...any) {
	if len(p.list) >= maxProblems {
		p.more++
		return
	}
	p.list = append(p.list, fmt.Sprintf(format, args...))
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	s := p.kind + ":\n  " + strings.Join(p.list, "\n  ")
	if p.more > 0 {
		s += fmt.Sprintf("\n  ... and %d more", p.more)
	}
	return fmt.Errorf("%s", s)
}

// checkLinearizable checks the history with porcupine. On a violation it
// writes the visualization to a file under outDir and names it.
func checkLinearizable(ops []*op, timeout time.Duration, outDir, name string) (porcupine.CheckResult, string, error) {
	res, info := porcupine.CheckOperationsVerbose(kvModel, porcupineOps(ops), timeout)
	if res == porcupine.Ok {
		return res, "", nil
	}
	path := filepath.Join(outDir, name+".html")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return res, "", err
	}
	if err := porcupine.VisualizePath(kvModel, info, path); err != nil {
		return res, "", fmt.Errorf("visualize: %w", err)
	}
	return res, path, nil
}

// writtenSeq returns the seq a write that was acknowledged as applied got
// (a delete's seq is not in its reply), 0 if none.
func writtenSeq(o *op) uint64 {
	if o.outcome != done || o.kind == opGet || !o.applied || o.del {
		return 0
	}
	return o.result.seq
}

// seenSeq is the largest seq an op that returned saw or wrote.
func seenSeq(o *op) uint64 {
	return max(o.prev.seq, o.result.seq)
}

// checkSeqOrder checks what the per-key model cannot: seqs are global. A
// write acknowledged as applied gets a seq larger than every seq seen or
// written by an op that returned before the write was sent, and no two
// acknowledged writes share a seq. It also reports malformed replies.
func checkSeqOrder(ops []*op) error {
	p := &problems{kind: "global seq order"}
	var returned, writes []*op
	bySeq := map[uint64]*op{}
	for _, o := range ops {
		if (o.outcome == unknown || o.outcome == failed) && strings.Contains(o.err, errMalformed.Error()) {
			p.addf("malformed reply: %v", o)
		}
		if o.outcome != done {
			continue
		}
		returned = append(returned, o)
		if s := writtenSeq(o); s != 0 {
			writes = append(writes, o)
			if prev := bySeq[s]; prev != nil {
				p.addf("two writes got seq %d:\n    %v\n    %v", s, prev, o)
			}
			bySeq[s] = o
		}
	}
	slices.SortFunc(returned, func(a, b *op) int { return cmp.Compare(a.ret, b.ret) })
	slices.SortFunc(writes, func(a, b *op) int { return cmp.Compare(a.call, b.call) })
	var maxSeen uint64
	var maxOp *op
	i := 0
	for _, w := range writes {
		for ; i < len(returned) && returned[i].ret < w.call; i++ {
			if s := seenSeq(returned[i]); s > maxSeen {
				maxSeen, maxOp = s, returned[i]
			}
		}
		if writtenSeq(w) <= maxSeen {
			p.addf("a write got seq %d, not above seq %d seen by an op that had returned before it was sent:\n    before: %v\n    write:  %v",
				writtenSeq(w), maxSeen, maxOp, w)
		}
	}
	return p.err()
}

// wevent is one change a watcher delivered.
type wevent struct {
	rev       uint64
	seq       uint64 // the key's seq after the change (a delete's: the deleted value's)
	key       string
	prev, cur val
	node      uint64 // the node whose stream delivered it
}

func (e wevent) String() string {
	return fmt.Sprintf("revision %d %s: %v -> %v (from node %d)", e.rev, e.key, e.prev, e.cur, e.node)
}

// checkWatch checks the events a watcher delivered, from the first
// revision on, against the history and the final state (every key of the
// run and its value, lastRev the store's final revision):
//
//   - ordered, no gap, no repeat: every revision of the run is one change
//     of a watched key (each op writes one key), so the events have
//     revisions 2, 3, ..., lastRev;
//   - replaying them gives the final state, and each event's prev is the
//     value the replay holds for its key;
//   - each event that writes a value is a write of the history (values are
//     unique) that was sent to that key, not refused and not reported
//     unapplied, applied once, with the seq its reply gave; every write
//     acknowledged as applied is among the events.
func checkWatch(name string, events []wevent, ops []*op, lastRev uint64, final map[string]val) error {
	p := &problems{kind: "watch " + name}
	first := uint64(statemachine.FirstRevision + 1)
	if uint64(len(events)) != lastRev-first+1 {
		p.addf("%d events, want %d (revisions %d to the final %d)", len(events), lastRev-first+1, first, lastRev)
	}
	for i, e := range events {
		if e.rev != uint64(i)+first {
			p.addf("event %d has revision %d, want %d: %v", i, e.rev, uint64(i)+first, e)
			break // the rest follows from the first
		}
	}
	state := map[string]val{}
	for _, e := range events {
		if e.prev != state[e.key] {
			p.addf("event's prev %v, but replaying the events before it gives %v: %v", e.prev, state[e.key], e)
		}
		if e.cur.exists && e.cur.seq != e.seq {
			p.addf("event's value has seq %d: %v", e.cur.seq, e)
		}
		if e.cur.exists {
			state[e.key] = e.cur
		} else {
			delete(state, e.key)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(final)) {
		if state[k] != final[k] {
			p.addf("key %s: replaying the events gives %v, the final state holds %v", k, state[k], final[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(state)) {
		if _, ok := final[k]; !ok {
			p.addf("key %s: replaying the events gives %v, absent in the final state", k, state[k])
		}
	}

	writes := map[string]*op{}
	for _, o := range ops {
		if o.kind != opGet && !o.del {
			writes[o.value] = o
		}
	}
	seen := map[string]wevent{}
	for _, e := range events {
		if !e.cur.exists {
			continue
		}
		if first, dup := seen[e.cur.data]; dup {
			p.addf("value %q written twice:\n    %v\n    %v", e.cur.data, first, e)
		}
		seen[e.cur.data] = e
		o := writes[e.cur.data]
		switch {
		case o == nil:
			p.addf("no write of the history wrote %q: %v", e.cur.data, e)
		case o.key != e.key:
			p.addf("event on %s, the write was to %s: %v; %v", e.key, o.key, e, o)
		case o.outcome == notProposed:
			p.addf("a write the server said was not proposed took effect: %v; %v", e, o)
		case o.outcome == done && !o.applied:
			p.addf("a write reported unapplied took effect: %v; %v", e, o)
		case o.outcome == done && o.result.seq != e.cur.seq:
			p.addf("a write reported seq %d, the event has seq %d: %v; %v", o.result.seq, e.cur.seq, e, o)
		}
	}
	for _, o := range ops {
		if writtenSeq(o) == 0 {
			continue
		}
		if _, ok := seen[o.value]; !ok {
			p.addf("an acknowledged write is missing from the events: %v", o)
		}
	}
	return p.err()
}

// resolveUnknown returns the history with the outcome of the writes whose
// reply was lost taken from the watch events, which checkWatch found to be
// every change of the run, once: a write whose value is among them took
// effect with that event's prev and value (it still never returns), and one
// whose value is not had no effect and is left out. Unknown deletes stay
// unknown (an event does not say which delete made it). Without this the
// search is exponential in the number of unknown writes per key; with it a
// long run's history checks in seconds.
func resolveUnknown(ops []*op, events []wevent) []*op {
	byValue := map[string]wevent{}
	for _, e := range events {
		if e.cur.exists {
			byValue[e.cur.data] = e
		}
	}
	out := make([]*op, 0, len(ops))
	for _, o := range ops {
		if o.outcome != unknown || o.kind == opGet || o.del {
			out = append(out, o)
			continue
		}
		e, ok := byValue[o.value]
		if !ok {
			continue
		}
		r := *o
		r.outcome, r.resolved, r.err = done, true, ""
		r.applied, r.prev, r.result = true, e.prev, e.cur
		out = append(out, &r)
	}
	return out
}
