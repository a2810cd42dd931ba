package chaos

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// fault is one kind of fault: inject applies it, holds it and heals it.
// An error is a harness failure or a cluster that did not recover (a
// member that cannot join or leave): it fails the run.
type fault struct {
	name   string
	weight int
	inject func(nm *nemesis) error
}

// faults is the catalog the nemesis draws from.
var faults = []fault{
	{"kill", 3, (*nemesis).kill},
	{"pause", 2, (*nemesis).pause},
	{"isolate-leader", 3, (*nemesis).isolateLeader},
	{"partition", 2, (*nemesis).partition},
	{"one-way", 2, (*nemesis).oneWay},
	{"delay", 1, (*nemesis).delay},
	{"flaky", 1, (*nemesis).flaky},
	{"transfer-leader", 2, (*nemesis).transferLeader},
	{"membership", 1, (*nemesis).membership},
	{"wipe", 1, (*nemesis).wipe},
}

// nemesis injects one fault at a time, drawn with its own seeded RNG, so
// that the same seed gives the same sequence of faults (their timing
// relative to the clients' requests differs from run to run).
type nemesis struct {
	c      *cluster
	rng    *rand.Rand
	log    *runLog
	counts map[string]int
}

func newNemesis(c *cluster, log *runLog, seed uint64) *nemesis {
	return &nemesis{c: c, rng: rand.New(rand.NewPCG(seed, 0xfa17)), log: log, counts: map[string]int{}}
}

// run injects faults until the deadline.
func (nm *nemesis) run(deadline time.Time) error {
	total := 0
	for _, f := range faults {
		total += f.weight
	}
	for time.Now().Before(deadline) {
		x := nm.rng.IntN(total)
		var f fault
		for _, f = range faults {
			if x < f.weight {
				break
			}
			x -= f.weight
		}
		nm.counts[f.name]++
		nm.log.logf("fault %s: begin (members %v)", f.name, nm.c.memberIDs())
		err := f.inject(nm)
		if herr := nm.c.healAll(); herr != nil {
			err = errors.Join(err, herr)
		}
		if err != nil {
			nm.log.logf("fault %s: %v", f.name, err)
			return fmt.Errorf("fault %s: %w", f.name, err)
		}
		// Every fault is over: the cluster must elect a leader that
		// every member follows.
		l, err := nm.c.waitLeader(clusterTimeout)
		if err != nil {
			nm.log.logf("fault %s: healed, but no leader after %v: %v", f.name, clusterTimeout, err)
			return fmt.Errorf("no leader %v after healing fault %s: %w", clusterTimeout, f.name, err)
		}
		nm.log.logf("fault %s: healed; leader %v", f.name, l)
		nm.sleep(300, 1500)
	}
	return nil
}

// sleep sleeps a random time between lo and hi milliseconds.
func (nm *nemesis) sleep(lo, hi int) {
	time.Sleep(time.Duration(lo+nm.rng.IntN(hi-lo+1)) * time.Millisecond)
}

// victim returns the leader with probability pLeader (if there is one),
// else a random running member.
func (nm *nemesis) victim(pLeader float64) *node {
	if nm.rng.Float64() < pLeader {
		if l := nm.c.leader(); l != nil {
			return l
		}
	}
	var running []*node
	for _, n := range nm.c.members() {
		if n.running() {
			running = append(running, n)
		}
	}
	if len(running) == 0 {
		return nil
	}
	return running[nm.rng.IntN(len(running))]
}

func (nm *nemesis) kill() error {
	v := nm.victim(0.5)
	if v == nil {
		return nil
	}
	nm.log.logf("SIGKILL %v", v)
	if err := v.kill(); err != nil {
		return err
	}
	nm.sleep(300, 3000)
	nm.log.logf("restart %v", v)
	return v.start(nm.c.bin)
}

func (nm *nemesis) pause() error {
	v := nm.victim(0.7)
	if v == nil {
		return nil
	}
	nm.log.logf("SIGSTOP %v", v)
	if err := v.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	nm.sleep(1000, 4000)
	nm.log.logf("SIGCONT %v", v)
	return v.signal(syscall.SIGCONT)
}

// randomMode returns cut or stall.
func (nm *nemesis) randomMode() rule {
	if nm.rng.IntN(2) == 0 {
		return rule{mode: cut}
	}
	return rule{mode: stall}
}

// between returns the links from every node of a to every node of b.
func between(a, b []uint64) []link {
	var out []link
	for _, x := range a {
		for _, y := range b {
			if x != y {
				out = append(out, link{x, y})
			}
		}
	}
	return out
}

func (nm *nemesis) others(id uint64) []uint64 {
	return slices.DeleteFunc(nm.c.memberIDs(), func(m uint64) bool { return m == id })
}

func (nm *nemesis) isolateLeader() error {
	l := nm.c.leader()
	if l == nil {
		return nil
	}
	r := nm.randomMode()
	rest := nm.others(l.id)
	nm.log.logf("isolate leader %v both ways (%v)", l, r.mode)
	nm.c.nw.set(r, append(between([]uint64{l.id}, rest), between(rest, []uint64{l.id})...)...)
	nm.sleep(1500, 5000)
	nm.c.nw.heal()
	return nil
}

func (nm *nemesis) partition() error {
	ids := nm.c.memberIDs()
	nm.rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	k := 1 + nm.rng.IntN(max(1, (len(ids)-1)/2))
	a, b := ids[:k], ids[k:]
	r := nm.randomMode()
	nm.log.logf("partition %v | %v (%v)", a, b, r.mode)
	nm.c.nw.set(r, append(between(a, b), between(b, a)...)...)
	nm.sleep(1500, 5000)
	nm.c.nw.heal()
	return nil
}

func (nm *nemesis) oneWay() error {
	l := nm.c.leader()
	if l == nil {
		return nil
	}
	r := nm.randomMode()
	rest := nm.others(l.id)
	if nm.rng.IntN(2) == 0 {
		nm.log.logf("one way: nothing from leader %v reaches %v (%v)", l, rest, r.mode)
		nm.c.nw.set(r, between([]uint64{l.id}, rest)...)
	} else {
		nm.log.logf("one way: nothing from %v reaches leader %v (%v)", rest, l, r.mode)
		nm.c.nw.set(r, between(rest, []uint64{l.id})...)
	}
	nm.sleep(1500, 4000)
	nm.c.nw.heal()
	return nil
}

func (nm *nemesis) delay() error {
	d := time.Duration(20+nm.rng.IntN(280)) * time.Millisecond
	ids := nm.c.memberIDs()
	var links []link
	if nm.rng.IntN(2) == 0 {
		v := ids[nm.rng.IntN(len(ids))]
		rest := nm.others(v)
		links = append(between([]uint64{v}, rest), between(rest, []uint64{v})...)
		nm.log.logf("delay %v on every link of node %d", d, v)
	} else {
		links = between(ids, ids)
		nm.log.logf("delay %v on every link", d)
	}
	nm.c.nw.set(rule{delay: d}, links...)
	nm.sleep(2000, 5000)
	nm.c.nw.heal()
	return nil
}

func (nm *nemesis) flaky() error {
	v := nm.victim(0.5)
	if v == nil {
		return nil
	}
	nm.log.logf("flaky: resetting the connections of %v", v)
	end := time.Now().Add(time.Duration(2000+nm.rng.IntN(2000)) * time.Millisecond)
	resets := 0
	for time.Now().Before(end) {
		resets += nm.c.nw.reset(v.id)
		nm.sleep(100, 500)
	}
	nm.log.logf("flaky: %d connections reset", resets)
	return nil
}

func (nm *nemesis) transferLeader() error {
	for range 1 + nm.rng.IntN(3) {
		l := nm.c.leader()
		if l == nil {
			return nil
		}
		var to uint64
		if others := nm.others(l.id); nm.rng.IntN(3) > 0 && len(others) > 0 {
			to = others[nm.rng.IntN(len(others))]
		}
		res, err := l.transferLeader(to)
		nm.log.logf("transfer leader from %v to %d: %s %v", l, to, res, err)
		nm.sleep(200, 1000)
	}
	return nil
}

// membership adds a node (a learner that catches up, then a voter) under
// load and removes it again with databend-meta --leave-id.
func (nm *nemesis) membership() error {
	n, err := nm.c.join(0)
	if err != nil {
		return err
	}
	nm.sleep(500, 2000)
	nm.log.logf("remove %v", n)
	if err := nm.c.leave(n.id); err != nil {
		return err
	}
	nm.c.setMember(n.id, false)
	if err := nm.c.waitVoters(clusterTimeout); err != nil {
		return err
	}
	return n.kill()
}

// wipe kills a member, removes it, deletes its data and brings a fresh
// node in with a new id (raft ids are never reused).
func (nm *nemesis) wipe() error {
	v := nm.victim(0.3)
	if v == nil {
		return nil
	}
	nm.log.logf("wipe %v: kill, remove, delete raft_dir", v)
	if err := v.kill(); err != nil {
		return err
	}
	if err := nm.c.leave(v.id); err != nil {
		return err
	}
	nm.c.setMember(v.id, false)
	if err := os.RemoveAll(filepath.Join(v.dir, "raft")); err != nil {
		return err
	}
	if err := nm.c.waitVoters(clusterTimeout); err != nil {
		return err
	}
	// The new node takes over the gRPC port, so that clients configured
	// with the old endpoints (the client watcher) reach the cluster.
	_, err := nm.c.join(v.grpcPort)
	return err
}

// join starts a new node that joins through the members' advertised
// addresses and waits until it is a voter everywhere.
//
// grpcPort, if not 0, is the new node's gRPC port.
func (c *cluster) join(grpcPort int) (*node, error) {
	n, err := c.newNode(grpcPort)
	if err != nil {
		return nil, err
	}
	var via []string
	for _, m := range c.members() {
		via = append(via, m.raftAddr())
	}
	if err := n.writeConfig(via, c.snapshotEvery); err != nil {
		return nil, err
	}
	c.log.logf("start %v, join via %v", n, via)
	if err := n.start(c.bin); err != nil {
		return nil, err
	}
	c.setMember(n.id, true)
	if err := c.waitVoters(clusterTimeout); err != nil {
		return nil, fmt.Errorf("%v did not become a voter: %w", n, err)
	}
	c.log.logf("%v is a voter", n)
	return n, nil
}

// healAll removes every network rule, resumes paused members and restarts
// members that are down.
func (c *cluster) healAll() error {
	c.nw.heal()
	var errs []error
	for _, n := range c.members() {
		paused := n.mn.Paused()
		if paused {
			errs = append(errs, n.signal(syscall.SIGCONT))
		}
		if err := n.mn.Crashed(); err != nil {
			errs = append(errs, err)
		}
		if !n.running() {
			c.log.logf("restart %v", n)
			errs = append(errs, n.start(c.bin))
		}
	}
	return errors.Join(errs...)
}
