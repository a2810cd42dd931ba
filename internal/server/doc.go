// Package server ties one node's raft node (internal/raftnode) and state
// machine (internal/statemachine) together. It is what the gRPC handlers,
// the admin API and the peer API call.
//
// Goroutines, all tracked and waited for by Stop:
//
//   - the apply loop (apply.go) is the only writer of the state machine: it
//     applies what raft commits in order, delivers results to waiting
//     proposals, publishes change events to watchers under applyMu, and
//     starts background snapshots (snapshot.go: an O(1) copy of the state,
//     streamed into its file while writes go on) once the log since the
//     last one holds snapshot_logs_since_last entries and as many bytes
//     as that snapshot, or 64 MiB, plus a slack of 0-49% drawn by each
//     node for each snapshot so that the nodes do not all snapshot at
//     once (snapshotDue); a snapshot from the leader arrives as a file in
//     raft_dir and is restored by streaming it;
//   - the read loop (read.go) batches linearizable reads: every read that
//     arrives while a ReadIndex round runs shares the next round, each
//     round with a fresh request context;
//   - the join loop (join.go), on a node started with join, asks the
//     listed members to add it until wait_leader_timeout, keeping where it
//     stands in AdminStatus.Join; it shares its retry loop with
//     RequestLeave (peercall.go: what retrying cannot fix ends it at once);
//   - the lessor loop (lease.go), on the leader, every tick: once per
//     term, after a linearizable barrier, it proposes the extension of
//     every lease (at least its TTL from then, as etcd's lessor does when
//     it becomes primary); then the keep-alives it answered from memory
//     (lease.go, renewals) whose lease's logged expiry is within half its
//     TTL, as keep-alive entries; then, whenever a native key or a lease
//     is due (statemachine.ExpiryDue), an ExpireRequest, whose entry
//     removes the keys and revokes the leases: their delete events come
//     on time, not with the next unrelated write;
//   - the removal watch (removal.go) asks the leader, one election timeout
//     after this node applied its own removal and after two election
//     timeouts without a leader, whether this node is still a member, and
//     stops it (ErrRemoved) when it is not.
//
// A write (propose in kv.go): wait for a known leader (else fail as
// certainly not proposed), register a request id with the current term,
// propose, and wait for the result, ctx or stop; the registration is always
// removed. When an entry of a newer term is applied, proposals of older terms
// still waiting were lost with the old leader and fail at once with
// ErrLeaderChanged (outcome unknown) instead of hanging until their deadline.
//
// Membership (membership.go): one change at a time on the leader; a joining
// node becomes a learner, catches up, then is promoted to voter. A node
// added after the log was compacted needs a snapshot that lists it, so the
// apply loop takes a fresh snapshot after such a change. A removed node
// stops (removal.go).
//
// Errors are the sentinels in server.go; internal/grpcapi maps them to gRPC
// codes in one table.
package server
