// Package backup exports the state of a metasrv cluster as a dump file and
// builds the node directories of a new cluster from one; it also prints a
// raft_dir's WAL for inspection. databend-metactl's export, import and
// dump-raft-log-wal commands are thin wrappers around it.
//
// Besides its own format (below), it reads and writes the dumps of
// databend-metactl (Databend's data versions V002 to V004 in, V004 out):
// Import takes either, ExportDatabend and DatabendLines write Databend's.
// docs/DATABEND.md (sections 2, 3 and 8) says what is kept and how;
// databend.go is the one place values are translated.
//
// # Use
//
//	// Export, from a running node (internal/server: after a read barrier):
//	err := backup.ExportStateMachine(w, sm, clusterName, nowMs)
//	// or from the raft_dir of a stopped node:
//	ld, err := backup.LoadDir(dir, lg)
//	err = backup.ExportStateMachine(w, ld.SM, ld.ClusterName, nowMs)
//
//	// Import, once per node of the new cluster, with the same dump and
//	// initial cluster; then start every node with plain databend-meta:
//	res, err := backup.Import(backup.ImportConfig{Dir: d, ID: 11,
//		InitialCluster: []backup.Node{{ID: 11, RaftAddress: "a:28103"}, ...}}, dumpFile)
//
//	// Read a dump:
//	r, err := backup.NewReader(f) // checks the header
//	for { kv, err := r.Next(); if err == io.EOF { break } ... } // EOF: footer verified
//
// # Dump format (version 1)
//
// UTF-8 text, one JSON object per line, each line ended by "\n", fields in
// this order (a reader must not depend on the order):
//
//	{"type":"header","format_version":1,"cluster_name":"prod","exported_at_ms":1700000000000,
//	 "last_seq":42,"applied_index":97,"clock_ms":1699999999000,
//	 "nodes":[{"id":1,"raft_address":"10.0.0.1:28103","grpc_address":"10.0.0.1:9191","voter":true}, ...]}
//	{"type":"kv","key":"a","seq":40,"create_seq":3,"version":7,"expire_at_ms":1700000100000,"value":"text"}
//	{"type":"kv","key":"b","seq":41,"create_seq":41,"version":1,"value_base64":"AAEC"}
//	{"type":"kv","key_base64":"/w==","seq":39,"create_seq":39,"version":1,"value":""}
//	{"type":"footer","keys":3,"last_seq":42}
//
// (The header is one line; it is wrapped here.)
//
//   - header, first: format_version is 1. last_seq is the state's global
//     sequence number: every key's seq is at most it, and a cluster restored
//     from the dump gives its next write last_seq + 1. applied_index is the
//     raft index the state was taken at and nodes the exported cluster's
//     members, both for information. clock_ms, optional, is the state
//     machine's clock (the largest log entry time it had applied): a
//     restored cluster's clock starts there, so it never goes back.
//     exported_at_ms is the exporter's wall clock.
//   - kv, one per key, in strictly ascending byte order of the keys: the
//     key is under "key" when it is valid UTF-8, else under "key_base64"
//     (RFC 4648 standard, padded; etcd's API writes keys that are any
//     bytes), exactly one of the two, never empty; seq is
//     the seq of the key's last change, create_seq the seq that created it
//     (1 <= create_seq <= seq <= last_seq), version the number of updates
//     since it was created (>= 1), expire_at_ms the expiry in Unix ms
//     (absent = never; never 0). The value is under "value" when it is
//     valid UTF-8, else under "value_base64" (RFC 4648 standard, padded);
//     exactly one of the two. Keys that had expired but were not yet removed
//     are included: the state machine removes them at its next apply, and
//     a restored cluster does the same.
//   - footer, last: the number of kv lines and last_seq again. A dump
//     without it is truncated; nothing may follow it.
//
// Reader is strict: an unknown type or field, a missing or null field, a
// number out of range, keys out of order, counts that disagree, or a
// missing header or footer are errors naming the line (*LineError).
//
// # Import
//
// Import writes a raft_dir that looks like the directory of a node that has
// just installed a snapshot: a raft snapshot at index ImportIndex (1), term
// ImportTerm (1), ConfState voters = the ids of the initial cluster, whose
// data is the state machine snapshot encoding of the dump (EncodeSnapshot:
// applied index 1, the dump's last seq and clock, every key as it was, an
// empty event history, and the member table = the initial cluster), and
// the hard state {term 1, commit 1}. Every node gets the same snapshot, so
// the nodes agree on the log at index 1; the first leader is elected in
// term 2 and appends from index 2. The old cluster's log indexes are not
// kept (applied_index stays in the dump header for reference).
//
// # Limitations
//
//   - Member grpc addresses: the initial cluster gives raft addresses, and
//     grpc addresses only if the operator gives them (metactl import
//     --initial-grpc). Without them member-list shows empty grpc addresses
//     until each node records its own; the server does not yet do that.
//   - The watch event history is not exported: a watch cannot resume from
//     a seq at or before the restored last_seq (EventsBetween reports
//     ErrCompacted) and must re-read.
//   - An export reads the whole state from an O(1) copy; the dump's size is
//     about the JSON size of every key and value. Import holds the whole
//     encoded state in memory (the raft snapshot is one buffer).
package backup
