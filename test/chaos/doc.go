// Package chaos is metasrv's fault-injection suite: real databend-meta
// processes on loopback, concurrent clients whose every request is
// recorded, a nemesis that kills, pauses, partitions, delays, transfers
// leadership, changes membership and wipes nodes, and checks afterwards:
// the history is linearizable (porcupine), the watches are complete, and
// every node holds the same state.
//
// The package has no code of its own; everything is in the _test files:
//
//	main_test.go      builds databend-meta once
//	network_test.go   the per-link proxy (below)
//	cluster_test.go   node processes, configs, leader and member waits
//	faults_test.go    the fault catalog and the nemesis
//	workload_test.go  the clients and the recorded history
//	model_test.go     the porcupine model of the KV API
//	check_test.go     linearizability, global seq order, watch checks
//	watch_test.go     a raw gRPC watcher and a client.Watch watcher
//	converge_test.go  the run log; convergence; exports compared
//	chaos_test.go     TestChaos: one run per cluster size
//	regress_test.go   fixed scenarios for bugs the runs found
//	*_unit_test.go    the checks and the proxy on known inputs
//
// # Running
//
//	go test ./test/chaos/                   the short run: 3 then 5 nodes, 15s of faults each (about a minute)
//	make chaos                              the long run: METASRV_CHAOS_DURATION=5m per cluster size
//	METASRV_CHAOS_SEED=N go test ./test/chaos/ -run TestChaos/5nodes   replay a seed
//
// Environment:
//
//	METASRV_CHAOS_SEED      the seed (default: from the clock); printed first by every run
//	METASRV_CHAOS_DURATION  how long faults are injected per cluster size (default 15s)
//	METASRV_CHAOS_NODES     cluster sizes to run, e.g. "5" or "3,5" (default 3,5)
//	METASRV_CHAOS_OUT       where a failed run leaves the porcupine visualization
//	                        and the history (default $TMPDIR/metasrv-chaos)
//	METASRV_CHAOS_RACE=1    build databend-meta with the race detector
//
// The seed decides the run's shape (clients, keys, snapshot interval) and
// the sequence of faults and of each client's requests; the interleaving
// of requests with faults depends on timing, so a replay is the same
// scenario, not the same history. The run log (-v prints it as it goes;
// a failure prints it) stamps every fault with the time since the start
// of the history, the same clock as the ops.
//
// # The network: one proxy per node, attributing each connection
//
// A node reaches a peer at the raft address the peer advertises
// (raft_advertise_host:raft_api_port), the same address for every sender.
// Each node n listens on 127.0.0.1:P and advertises 127.100.0.(n+1):P:
// every 127/8 address is local on Linux, so the test's proxy for n listens
// on 127.100.0.(n+1):P, the same port on another address, and forwards to
// 127.0.0.1:P. All raft traffic into n passes through n's proxy.
//
// A proxy per receiver can only fault "everything into n" unless it knows
// who dialed. The kernel picks 127.0.0.1 as the source address of every
// loopback connection and the nodes' dialer cannot be told otherwise, so
// the source address says nothing; but the other end of an accepted
// loopback connection is a socket of this host: /proc/net/tcp maps the
// peer's address and port to the socket's inode, and /proc/PID/fd of the
// node processes (children of the test) tells which process holds it.
// So every connection is attributed to its dialing node (or "external":
// a `databend-meta --leave-id` process; such links are never faulted, and
// connections the proxy could not attribute are counted and logged).
//
// Rules are per link a->b: the connections that a dials to b. A node sends
// its raft messages on the connections it dials (one Raft client stream
// per peer), so link a->b carries exactly a's messages to b, and b's
// messages to a travel on link b->a. A rule applies to both directions of
// the link's connections (TCP needs acknowledgements both ways, so a
// one-way fault below the raft messages would not be one-way anyway):
//
//   - cut: open connections are reset, new ones are closed at once;
//   - stall: nothing is forwarded and nothing is closed: bytes wait in the
//     proxy and the kernel (like packets lost and retransmitted) and are
//     delivered, late, when the rule is lifted, unless gRPC's keepalive
//     has given the connection up first;
//   - delay d: each chunk is forwarded d after it was read, in order.
//
// This covers: isolating the leader both ways, splitting the members into
// any two sides, one-way faults (the leader's messages lost while it
// still hears the others, or the reverse), delay on one node or on every
// link, and resets of a node's connections (flaky). Not covered: losing
// individual raft messages inside a stream (the proxy sees bytes, not
// messages: a lost chunk would corrupt the HTTP/2 stream rather than drop
// a message), reordering, and faults on the client links (clients talk to
// the gRPC ports directly; a partitioned node still answers its clients
// as a partitioned server would).
//
// # Faults
//
// The nemesis injects one fault at a time, holds it for a random time (a
// few seconds), heals it, restarts whatever is down, and waits a moment:
//
//	kill              SIGKILL a node (the leader half the time), restart it
//	pause             SIGSTOP a node (mostly the leader), SIGCONT it
//	isolate-leader    cut or stall every link to and from the leader
//	partition         cut or stall every link between two random sides
//	one-way           cut or stall the leader's links out, or in
//	delay             20-300ms on one node's links or on all
//	flaky             reset a node's connections every 100-500ms
//	transfer-leader   POST /v1/ctrl/trigger_transfer_leader, 1-3 times
//	membership        a new node joins (learner, then voter), then leaves
//	                  through `databend-meta --leave-id`
//	wipe              kill a node, remove it (--leave-id), delete its
//	                  raft_dir, and join a fresh node with a new id (raft
//	                  ids are never reused) on the old node's gRPC port
//
// At most one fault holds at a time, so a majority is always alive and
// connected once a fault is healed; faults that need a majority (leave,
// join) run while nothing else is broken. Not covered: several faults at
// once, disk faults (a full disk, a failed fsync, torn writes: see the
// storage tests), clock jumps.
//
// # Clients and the history
//
// Several goroutines send requests through the gRPC API to random
// members: linearizable Get, as a Get or as a transaction that only
// reads ("if seq(k) >= 0 then get k": the server answers it after a read
// barrier, not through the log); Upsert with match_seq any, exact (the seq the
// client last saw, or 0) or ge, and deletes; Txn "if seq(k) == s (or >=
// s) then put k else get k". Every value written is unique. Each request
// is recorded with its call and return times (one clock) and its reply; a
// write that fails has an unknown outcome, unless the server marks it
// with the metasrv-not-proposed trailer (it never entered the log: it is
// left out, and the checks fail if it took effect anyway). Failed reads
// are left out. After healing, every member reads every key once more.
//
// # Checks
//
//   - porcupine, partitioned by key, with the model in model_test.go (a
//     write with an unknown outcome never returns, so it may take effect
//     at any point after its call or never); on a violation the
//     visualization (porcupine.VisualizePath) and the history are written
//     to METASRV_CHAOS_OUT and their paths printed. When the raw watch
//     passed its checks (below: it holds every change of the run, once),
//     the outcome of each unknown write is read from it first: applied
//     with the event's prev and value, or left out (resolveUnknown); it
//     still never returns. This keeps long histories with hundreds of
//     unknown writes checkable in seconds rather than minutes;
//   - global seq order across keys: a write acknowledged as applied has a
//     seq above every seq seen by any request that returned before it was
//     sent; no two writes share a seq;
//   - watches: a raw gRPC watcher that resumes with start_revision =
//     last + 1 on a random node whenever its stream ends or stays silent,
//     and a client.Watch, both from the first revision over every key of
//     the run. Every entry of the run that changes something changes one of
//     those keys (each op writes one key; deletes take no seq but a
//     revision), so the events must have revisions 2, 3, ..., the final
//     revision: in order, no gap, no repeat. Each event's prev is what the
//     replay of the earlier events holds; the replay gives the final state;
//     each event's value was written by a request of the history, once,
//     with the seq its reply gave; every acknowledged write is there;
//   - after healing, every member serves, names the leader, and has the
//     same applied index and last_seq; each member's Export (taken after
//     its linearizable barrier) is the same, byte for byte, once the
//     header's exported_at_ms is left out: this is the state machine hash
//     printed per node (metasrv exposes no hash of its own);
//   - no node exits by itself, and no node's output holds a data race,
//     panic or fatal error.
package chaos
