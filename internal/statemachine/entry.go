package statemachine

import (
	"encoding/binary"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/peerpb"
)

// Log entry header: version byte then the leader's time.
const (
	// EntryVersion is the format version written in byte 0 of every entry.
	EntryVersion = 1
	// EntryHeaderSize is the size of the header before the command.
	EntryHeaderSize = 9
)

// EncodeEntry returns the data of a normal log entry: the header (version,
// timeMs) followed by cmd marshaled deterministically. timeMs is the
// proposer's wall clock in Unix ms; the leader overwrites it with Restamp.
func EncodeEntry(timeMs uint64, cmd *peerpb.Command) ([]byte, error) {
	if cmd == nil {
		return nil, errors.New("statemachine: encode entry: nil command")
	}
	opts := proto.MarshalOptions{Deterministic: true}
	buf := make([]byte, EntryHeaderSize, EntryHeaderSize+opts.Size(cmd))
	buf[0] = EntryVersion
	binary.BigEndian.PutUint64(buf[1:EntryHeaderSize], timeMs)
	buf, err := opts.MarshalAppend(buf, cmd)
	if err != nil {
		return nil, fmt.Errorf("statemachine: encode entry: %w", err)
	}
	return buf, nil
}

// DecodeEntry parses the data of a normal log entry. Errors wrap
// ErrInvalidEntry (short data, bad command) or ErrUnknownEntryVersion.
// Empty data (the leader's no-op entry) is an error here: the caller applies
// it with ApplyEmpty.
func DecodeEntry(data []byte) (timeMs uint64, cmd *peerpb.Command, err error) {
	if len(data) < EntryHeaderSize {
		return 0, nil, fmt.Errorf("%w: %d bytes, the header alone is %d", ErrInvalidEntry, len(data), EntryHeaderSize)
	}
	if data[0] != EntryVersion {
		return 0, nil, fmt.Errorf("%w: version %d, this binary reads version %d; upgrade this node",
			ErrUnknownEntryVersion, data[0], EntryVersion)
	}
	timeMs = binary.BigEndian.Uint64(data[1:EntryHeaderSize])
	cmd = new(peerpb.Command)
	if err := proto.Unmarshal(data[EntryHeaderSize:], cmd); err != nil {
		return 0, nil, fmt.Errorf("%w: command: %w", ErrInvalidEntry, err)
	}
	return timeMs, cmd, nil
}

// Restamp overwrites the time in an entry header in place. It returns false,
// leaving data untouched, when data does not start with a valid header.
func Restamp(data []byte, timeMs uint64) bool {
	if len(data) < EntryHeaderSize || data[0] != EntryVersion {
		return false
	}
	binary.BigEndian.PutUint64(data[1:EntryHeaderSize], timeMs)
	return true
}
