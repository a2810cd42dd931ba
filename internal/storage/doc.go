// Package storage is the durable raft log of a metasrv node: the etcd
// write-ahead log (go.etcd.io/etcd/server/v3/storage/wal) and snapshot files
// in raft_dir, mirrored in the raft.MemoryStorage that go.etcd.io/raft
// reads. Snapshot data is never held in memory: the snapshots raft sees
// carry a reference to their file in Data, and their files are written,
// verified, sent and restored by streaming.
//
// # Use
//
//	s, err := storage.Open(cfg.RaftDir, cfg.ID, cfg.ClusterName, lg)
//	// ErrLocked, ErrIDMismatch, ErrClusterMismatch, ErrCorrupt, ErrDiskFull:
//	// print the message (one line, saying what to do) and exit.
//	if s.Bootstrapped() {
//		r, err := s.OpenSnapshotData(s.LoadedSnapshot()) // if not raft.IsEmptySnap
//		sm.Restore(r); r.Close() // then raft.RestartNode
//	} // else raft.StartNode (single) or start empty and join
//	c := &raft.Config{Storage: s, Applied: s.LoadedSnapshot().GetMetadata().GetIndex(), ...}
//
//	// raftnode's append goroutine (raft runs with AsyncStorageWrites), for
//	// the snapshot, hard state and entries of raft's MsgStorageAppend
//	// messages, one or several at a time:
//	if err := s.Save(hs, ents, snap); err != nil { stop the node }
//	// then send the responses that needed them.
//
//	// Background, once enough entries were applied since the last snapshot:
//	err := s.CreateSnapshot(applied, confState, sm.Snapshot(), keep) // an io.WriterTo
//
//	// Transport: stream the file of a MsgSnap raft sends, and store the
//	// file a peer streams before stepping its MsgSnap:
//	f, size, err := s.OpenSnapshot(m.Snapshot)
//	m.Snapshot.Data, err = s.ReceiveSnapshot(m.Snapshot.Metadata, stream, size)
//
//	s.Close()
//
//	// Offline, on the raft_dir of a stopped node that Open refused:
//	rep, err := storage.Repair(dir, lg)
//
// Pass s itself as raft.Config.Storage.
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
//	    etcd WAL segments, preallocated to SetWALSegmentSize's size each
//	    (raft_config.wal_segment_size, 64 MB by default; a record larger
//	    than that makes its segment grow). Every segment starts with
//	    a CRC record and a metadata record, then holds entry, hard state,
//	    snapshot and CRC records, each length-prefixed, 8-byte aligned and
//	    chained by CRC-32C (see the etcd wal package). The metadata is JSON:
//	        {"id":1,"cluster_name":"prod"}
//	    the node id and cluster name this raft_dir belongs to; Open refuses a
//	    raft_dir whose metadata differs from the configuration.
//	raft_dir/wal/0.tmp, 1.tmp
//	    the next segment, preallocated ahead of time by etcd.
//	raft_dir/wal/*.wal.broken, *.wal.broken.N
//	    the original of a segment whose torn last record Open truncated,
//	    or that Repair cut or set aside. Nothing reads them.
//	raft_dir/snap/%016x-%016x.snap    (term - index)
//	    snapshot files, written in one pass (the state machine streams its
//	    encoding into the file), so the data length and CRC come last:
//	        offset  size  field
//	        0       8     magic "MSRVRSNP"
//	        8       4     format version, uint32 big endian: 1
//	        12      8     term, uint64 big endian
//	        20      8     index
//	        28      4     n: length of the conf state
//	        32      n     raftpb.ConfState, protobuf
//	        32+n    D     data: the state machine snapshot (statemachine's encoding)
//	        end-12  8     D, uint64 big endian
//	        end-4   4     CRC-32C (Castagnoli) of every byte before it
//	    A file is written to a temporary name (*.snap.tmp-*), fsync'd,
//	    renamed into place and its directory fsync'd. Readers check it
//	    while streaming it: Open reads every candidate through once,
//	    restoring reads it again and fails at the end unless the CRC and
//	    the length match; a file in any other format is damaged. The 2
//	    newest are kept.
//	raft_dir/snap/%016x-%016x.snap.recv-*
//	    a snapshot file a peer streamed (ReceiveSnapshot), verified and
//	    fsync'd, waiting for raft to take it: Save renames it into place.
//	    One raft did not take is deleted once the node's own snapshot
//	    passes its index, and on Open, as are *.snap.tmp-* files.
//	raft_dir/snap/*.snap.broken, *.snap.broken.N
//	    a snapshot file that failed its CRC and that Open passed over (the
//	    WAL stood in for it), or that Repair set aside.
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
// it.
//
// # Damage
//
// Open first reads every WAL record of every file (scanWAL), checking the
// CRC chain within and across files and that every payload decodes, and
// changing nothing. A crash during a WAL write leaves a torn last record:
// the file ends inside it, or sectors of it read as zeros. Open truncates
// it (keeping the original as *.wal.broken) and so loses only that record,
// which Save had not yet acknowledged. Damage is told from a torn write by
// what follows it: a record whose CRC continues the chain after the damage
// proves that the damaged bytes had been written before, so the damage is
// bit rot or a bad sector, and Open refuses (ErrCorrupt) rather than
// truncate acknowledged records as etcd's reader alone would (it takes a
// damaged length field, or a zeroed sector inside a record, for a torn
// tail). Damage in an older file or in a file's head is never torn.
// Limit: damage that leaves no intact record after it (in the last record,
// or zeroing the second-to-last one whole) cannot be told from a torn
// write, and drops that record.
//
// A snapshot file that fails its CRC (or is missing) is passed over for an
// older one only when the WAL replays the log from it through the skipped
// snapshot's own index and term (checkFallback); by raft's log matching the
// replayed log then builds the same state. A snapshot installed from the
// leader usually skips entries this node never had, so its loss is
// ErrCorrupt.
//
// ErrCorrupt's message names the damaged file and the ways to recover:
// rejoin the cluster as a new node, import a backup, or Repair (the
// `databend-metactl repair` command), which keeps the intact part: it cuts
// the WAL at the damage and sets aside what follows, or, when the damage
// lies in WAL files wholly before an intact snapshot, sets those aside and
// loses nothing. Entries cut away are lost on this node, which is safe only
// if it rejoins a cluster whose other members still hold them.
//
// # File system
//
// Snapshot files, LOCK, raft_dir and snap/ with their fsyncs, and the
// purge's removals go through vfs (fs.go), a small interface of only the
// operations Storage makes: Open uses the operating system's (osFS);
// tests use a faultFS that fails, cuts short or crashes any of them and
// models what a power loss takes away, as an ordinary user. The WAL's
// files are etcd's: its wal package opens, writes, preallocates and
// fsyncs them itself through *os.File, with no seam beneath. The seam
// there is Storage's WAL write boundary (walLog): a walFault is called
// before each WAL write and after each one raft needs fsync'd, so a test
// fails the write or its fsync, but cannot tear a record (the torn-write
// tests cut the files instead) nor drop what etcd fsync'd. The WAL
// readers, the truncation of a torn WAL tail and the offline tools
// (OpenReadOnly, Repair) use the os directly.
//
// # Write errors and a full disk
//
// A write or fsync error from Save or CreateSnapshot means the on-disk
// state is unknown: the node must stop, never carry on. Nothing Save or
// CreateSnapshot acknowledged depends on a later write, so a restart finds
// it all. ENOSPC is wrapped in ErrDiskFull, naming raft_dir: WAL segments
// are preallocated (64 MB), so a full disk shows when the next segment is
// created or a snapshot file written; a record cut short by it is dropped
// as a torn write on the next start, once space is freed.
package storage
