package statemachine

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/peerpb"
)

func TestEntryRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		timeMs uint64
		cmd    *peerpb.Command
	}{
		{"upsert", 1_700_000_000_000, upsertCmd(ttl(exact(put("a", "1"), 3), 500))},
		{"delete", 1, upsertCmd(del("a"))},
		{"no body", 0, &peerpb.Command{Proposer: 7, RequestId: 9}},
		{"max time", math.MaxUint64, upsertCmd(put("k", ""))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := EncodeEntry(tt.timeMs, tt.cmd)
			if err != nil {
				t.Fatal(err)
			}
			if data[0] != EntryVersion {
				t.Fatalf("version byte %d", data[0])
			}
			timeMs, cmd, err := DecodeEntry(data)
			if err != nil {
				t.Fatal(err)
			}
			if timeMs != tt.timeMs || !proto.Equal(cmd, tt.cmd) {
				t.Fatalf("got (%d, %v), want (%d, %v)", timeMs, cmd, tt.timeMs, tt.cmd)
			}
		})
	}
}

func TestEncodeEntryNilCommand(t *testing.T) {
	if _, err := EncodeEntry(1, nil); err == nil {
		t.Fatal("EncodeEntry(nil) succeeded")
	}
}

func TestDecodeEntryErrors(t *testing.T) {
	valid, err := EncodeEntry(5, upsertCmd(put("a", "b")))
	if err != nil {
		t.Fatal(err)
	}
	newer := bytes.Clone(valid)
	newer[0] = 2
	badProto := append(bytes.Clone(valid[:EntryHeaderSize]), 0xff, 0xff, 0xff)
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"nil", nil, ErrInvalidEntry},
		{"8 bytes", valid[:8], ErrInvalidEntry},
		{"version 0", append([]byte{0}, valid[1:]...), ErrUnknownEntryVersion},
		{"version 2", newer, ErrUnknownEntryVersion},
		{"bad proto", badProto, ErrInvalidEntry},
		{"truncated proto", valid[:len(valid)-1], ErrInvalidEntry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, cmd, err := DecodeEntry(tt.data)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if cmd != nil {
				t.Fatalf("cmd = %v on error", cmd)
			}
		})
	}
	// A header with no command is a valid empty command.
	if _, cmd, err := DecodeEntry(valid[:EntryHeaderSize]); err != nil || cmd.GetBody() != nil {
		t.Fatalf("header only: cmd %v, err %v", cmd, err)
	}
}

func TestRestamp(t *testing.T) {
	data, err := EncodeEntry(5, upsertCmd(put("a", "b")))
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Clone(data[EntryHeaderSize:])
	if !Restamp(data, 12345) {
		t.Fatal("Restamp of a valid entry returned false")
	}
	timeMs, _, err := DecodeEntry(data)
	if err != nil || timeMs != 12345 {
		t.Fatalf("after Restamp: time %d, err %v", timeMs, err)
	}
	if !bytes.Equal(data[EntryHeaderSize:], body) {
		t.Fatal("Restamp changed the command")
	}

	for _, bad := range [][]byte{nil, {}, data[:8], append([]byte{2}, data[1:]...)} {
		orig := bytes.Clone(bad)
		if Restamp(bad, 1) {
			t.Errorf("Restamp(%x) = true", orig)
		}
		if !bytes.Equal(bad, orig) {
			t.Errorf("Restamp changed invalid data %x to %x", orig, bad)
		}
	}
}
