// Package storage is the durable raft log of a metasrv node: the etcd
// write-ahead log (go.etcd.io/etcd/server/v3/storage/wal) and snapshot files
// (go.etcd.io/etcd/server/v3/etcdserver/api/snap) in raft_dir, mirrored in
// the raft.MemoryStorage that go.etcd.io/raft reads.
//
// # Use
//
//	s, err := storage.Open(cfg.RaftDir, cfg.ID, cfg.ClusterName, lg)
//	// ErrLocked, ErrIDMismatch, ErrClusterMismatch, ErrCorrupt: tell the user, exit.
//	if s.Bootstrapped() {
//		sm.Restore(s.LoadedSnapshot().GetData()) // then raft.RestartNode
//	} // else raft.StartNode (single) or start empty and join
//	c := &raft.Config{Storage: s, Applied: s.LoadedSnapshot().GetMetadata().GetIndex(), ...}
//
//	// Ready loop, one goroutine:
//	if err := s.Save(rd.HardState, rd.Entries, rd.Snapshot); err != nil { stop the node }
//	// then send messages, apply, Advance.
//
//	// Background, once enough entries were applied since the last snapshot:
//	err := s.CreateSnapshot(applied, confState, sm.Encode(), keep)
//
//	s.Close()
//
// Pass s itself as raft.Config.Storage: s.Snapshot shares the snapshot data
// instead of copying it as MemoryStorage.Snapshot would.
//
// # On-disk layout
//
//	raft_dir/LOCK
//	    The running process holds an exclusive lock on this file, taken
//	    without waiting (an open file description lock on Linux, flock
//	    elsewhere) and released by the kernel when the process exits or
//	    dies, so a LOCK left by a crash never blocks a restart. Its content
//	    is the holder's pid in decimal, for error messages only.
//	raft_dir/wal/%016x-%016x.wal      (sequence number - first raft index)
//	    etcd WAL segments, 64 MB preallocated each. Every segment starts with
//	    a CRC record and a metadata record, then holds entry, hard state,
//	    snapshot and CRC records, each length-prefixed, 8-byte aligned and
//	    chained by CRC-32C (see the etcd wal package). The metadata is JSON:
//	        {"id":1,"cluster_name":"prod"}
//	    the node id and cluster name this raft_dir belongs to; Open refuses a
//	    raft_dir whose metadata differs from the configuration.
//	raft_dir/wal/0.tmp, 1.tmp
//	    the next segment, preallocated ahead of time by etcd.
//	raft_dir/wal/*.wal.broken
//	    the original of a segment whose torn last record Open truncated.
//	raft_dir/snap/%016x-%016x.snap    (term - index)
//	    etcd snap files: a CRC-32C-checked raftpb.Snapshot whose Data is the
//	    state machine snapshot (statemachine's encoding). The 2 newest are
//	    kept. A file that fails its CRC is renamed *.snap.broken when read.
//
// # Durability contract
//
// When Save returns nil, the entries, term and vote it was given are
// fsync'd (fdatasync) in the WAL, and a snapshot it was given is fsync'd in
// snap/ and recorded in the WAL; the commit index alone is fsync'd lazily
// (raft.MustSync), which raft permits. Raft may then send messages that
// promise them (votes, append acks). When CreateSnapshot returns nil the
// snapshot file and its WAL record are fsync'd.
//
// A snapshot file is always made durable (file and directory) before its WAL
// record, so the WAL never refers to a missing file; on start Open loads the
// newest snapshot that is both on disk and recorded in the WAL at or below
// the committed index (wal.ValidSnapshotEntries), then replays the WAL after
// it. A crash during a WAL write leaves a torn last record; Open truncates
// it (wal.Repair) and so loses only that record, which Save had not yet
// acknowledged. Any other damage is ErrCorrupt and needs an operator.
//
// A write or fsync error from Save or CreateSnapshot means the on-disk state
// is unknown: the node must stop, never carry on.
package storage
