package backup

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// The state machine snapshot encoding, as internal/statemachine writes it
// (Snapshot.WriteTo) and reads it (Restore); see its doc.go. It is
// reproduced here because the state machine has no API to load keys with
// given seqs; TestSnapshotEncodingMatchesStateMachine fails if the two
// drift apart.
const (
	snapMagic   = "MSRVSNAP"
	snapVersion = 3 // with the event history, written empty here
	snapTagKV   = 1
	snapTagEnd  = 0
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// EncodeSnapshot reads the keys of the dump from r (whose header was read
// by NewReader) up to its footer, and writes to w the state machine
// snapshot encoding of that state at applied index index, with members as
// the member table: every key with its seq, create_seq, version, expiry and
// value, the dump's last seq and clock, and an empty event history (a
// watch cannot resume from before the restore). It returns the footer.
//
// The output is written as the dump is read: on error it is partial, so
// write to a buffer or a file that is discarded on error. members must be
// in ascending id order (ErrInvalidCluster otherwise).
func EncodeSnapshot(w io.Writer, r *Reader, index uint64, members []Node) (Footer, error) {
	h := r.Header()
	if _, err := encodeState(w, stateHeader{index: index, lastSeq: h.LastSeq, clockMs: h.ClockMs}, members, r); err != nil {
		return Footer{}, err
	}
	return *r.Footer(), nil
}

// stateHeader is the state around the keys of a snapshot.
type stateHeader struct {
	index, lastSeq, clockMs uint64
}

// keySource yields the keys of a state in strictly ascending key order;
// Next returns io.EOF after the last. *Reader is one.
type keySource interface {
	Next() (KV, error)
}

// encodeState writes to w the state machine snapshot encoding of the state
// h with members as the member table and the keys of src, and returns the
// number of keys written. See EncodeSnapshot.
func encodeState(w io.Writer, h stateHeader, members []Node, src keySource) (uint64, error) {
	if msg := checkNodes(members); msg != "" {
		return 0, fmt.Errorf("%w: %s", ErrInvalidCluster, msg)
	}
	e := &snapEncoder{w: bufio.NewWriterSize(w, 256<<10)}
	e.raw([]byte(snapMagic))
	e.u32(snapVersion)
	e.u64(h.index)
	e.u64(h.lastSeq)
	e.u64(h.clockMs)
	e.u32(uint32(len(members)))
	for _, m := range members {
		e.u64(m.ID)
		if m.Voter {
			e.raw([]byte{1})
		} else {
			e.raw([]byte{0})
		}
		e.str([]byte(m.RaftAddress))
		e.str([]byte(m.GrpcAddress))
	}
	var count uint64
	for {
		kv, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		e.raw([]byte{snapTagKV})
		e.str([]byte(kv.Key))
		e.str(kv.Data)
		e.uvarint(kv.Seq)
		e.uvarint(kv.CreateSeq)
		e.uvarint(kv.Version)
		e.uvarint(kv.ExpireAtMs)
		count++
		if e.err != nil {
			return 0, e.err
		}
	}
	e.raw([]byte{snapTagEnd})
	e.u64(count)
	e.u64(0) // history: no events
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], e.crc)
	if e.err == nil {
		_, e.err = e.w.Write(sum[:]) // the checksum is not part of itself
	}
	if e.err == nil {
		e.err = e.w.Flush()
	}
	if e.err != nil {
		return 0, fmt.Errorf("backup: write state machine snapshot: %w", e.err)
	}
	return count, nil
}

// snapEncoder writes through w keeping the CRC-32C of every byte. The first
// error sticks.
type snapEncoder struct {
	w   *bufio.Writer
	crc uint32
	tmp [binary.MaxVarintLen64]byte
	err error
}

func (e *snapEncoder) raw(p []byte) {
	if e.err != nil {
		return
	}
	e.crc = crc32.Update(e.crc, castagnoli, p)
	_, e.err = e.w.Write(p)
}

func (e *snapEncoder) u32(v uint32) { e.raw(binary.BigEndian.AppendUint32(e.tmp[:0], v)) }
func (e *snapEncoder) u64(v uint64) { e.raw(binary.BigEndian.AppendUint64(e.tmp[:0], v)) }

func (e *snapEncoder) uvarint(v uint64) { e.raw(binary.AppendUvarint(e.tmp[:0], v)) }

// str writes a uvarint length, then p.
func (e *snapEncoder) str(p []byte) {
	e.uvarint(uint64(len(p)))
	e.raw(p)
}
