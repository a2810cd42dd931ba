package storage

import "errors"

// Errors returned by Open, Save and CreateSnapshot. They are wrapped with
// details (paths, ids, the underlying error); test them with errors.Is.
var (
	// ErrLocked means raft_dir/LOCK is held by another running process (or by
	// another Storage in this process). The wrapping message names the pid
	// written in the LOCK file when it is known. Stop that process, or give
	// this one another raft_dir.
	ErrLocked = errors.New("raft_dir is in use by another process")

	// ErrIDMismatch means the node id in the configuration differs from the id
	// stored in the WAL metadata of raft_dir. The wrapping message holds both
	// ids. Nothing on disk was changed: configure the stored id, or point
	// raft_dir at another directory (an empty one to join as a new node).
	ErrIDMismatch = errors.New("node id differs from the id stored in raft_dir")

	// ErrClusterMismatch means the cluster name in the configuration differs
	// from the one stored in the WAL metadata of raft_dir. The wrapping
	// message holds both names. Nothing on disk was changed: configure the
	// stored cluster name, or use another raft_dir.
	ErrClusterMismatch = errors.New("cluster name differs from the one stored in raft_dir")

	// ErrCorrupt means raft_dir cannot be loaded without losing data that
	// was on disk: a WAL record damaged other than by a torn last write
	// (a CRC mismatch with intact records after it, a damaged older file
	// or file head, an undecodable record), a snapshot file that is
	// damaged or missing when the WAL cannot replay the log without it,
	// a WAL that does not start at the snapshot it refers to, or snapshot
	// files without a WAL. The wrapping message, one line, names the
	// damaged file and every way to recover: rejoin the cluster as a new
	// node, restore a backup (databend-metactl import), or keep the
	// intact part with Repair (databend-metactl repair). Only a torn last
	// WAL record, never acknowledged, is dropped automatically.
	ErrCorrupt = errors.New("raft_dir is corrupt")

	// ErrDiskFull means a write to raft_dir failed with ENOSPC. Save and
	// CreateSnapshot return it like any write error (the node must stop);
	// every write acknowledged before it is on disk, and a node started
	// again once space is freed serves again with all of them (a record
	// cut short by the full disk was never acknowledged and is dropped as
	// a torn write). The wrapping message names raft_dir.
	ErrDiskFull = errors.New("no space left for raft_dir")

	// ErrClosed is returned by Save and CreateSnapshot after Close.
	ErrClosed = errors.New("storage is closed")
)
