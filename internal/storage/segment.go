package storage

import "go.etcd.io/etcd/server/v3/storage/wal"

// SetWALSegmentSize sets the size, in bytes, of the WAL segments this
// process writes from now on: each new segment file is preallocated to it
// (as is wal/0.tmp, the next one, made ready ahead of time), and a segment
// is cut once it holds that much. Segments of another size, written
// before, are read as usual; a record larger than a segment makes it grow.
//
// etcd's wal package, which writes the segments, keeps this size in a
// package variable (wal.SegmentSizeBytes) that every WAL reads at every
// write: it is one value for the whole process. Call SetWALSegmentSize
// once, before the first Open, as databend-meta does with
// raft_config.wal_segment_size; never while a Storage is open. Processes
// that run several nodes (tests) leave it alone: every node gets the
// default, etcd's 64 MB.
func SetWALSegmentSize(n int64) { wal.SegmentSizeBytes = n }
