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

	// ErrCorrupt means raft_dir cannot be loaded: unreadable WAL metadata, a
	// CRC mismatch in the middle of the WAL, a WAL that does not start at the
	// snapshot it refers to, or snapshot files without a WAL. The wrapping
	// message holds the cause. metasrv does not repair this by itself
	// (only a torn last WAL record is repaired automatically): restore
	// raft_dir from a backup, or remove it and let the node rejoin the
	// cluster as a new member.
	ErrCorrupt = errors.New("raft_dir is corrupt")

	// ErrClosed is returned by Save and CreateSnapshot after Close.
	ErrClosed = errors.New("storage is closed")
)
