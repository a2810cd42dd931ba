package statemachine

import "hash/crc64"

// HashKV returns a deterministic 64-bit hash of the keys the snapshot
// holds, each with its data and meta as the snapshot encoding writes them
// (seqs, revisions, version, expiry): the CRC-64 (ECMA) of those records,
// in key order. Unlike StateMachine.Hash it leaves out what may differ
// between nodes at the same revision (the clock, the member table, the
// history and its size), so two nodes at the same Revision have the same
// HashKV: etcd's HashKV. O(keys), on the snapshot's copy.
func (s *Snapshot) HashKV() uint64 {
	h := crc64.New(crcECMA)
	e := newEncoder(h)
	s.tree.Scan(func(v kv) bool {
		e.record(v)
		return true
	})
	e.flush()
	return h.Sum64()
}
