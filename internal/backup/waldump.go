package backup

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/peerpb"
	"github.com/metasrv/metasrv/internal/statemachine"
	"github.com/metasrv/metasrv/internal/storage"
)

// DumpWAL writes every record of the WAL in raft_dir dir to w, one line per
// record, oldest first (see FormatWALRecord). It reads the files read-only
// and takes no lock, so it works on the directory of a running node too.
// A record that cannot be read ends the dump with an error naming the file
// and offset, after the lines of every record before it.
func DumpWAL(dir string, w io.Writer) error {
	bw := bufio.NewWriter(w)
	err := storage.ReadWALRecords(dir, func(rec storage.WALRecord) error {
		_, err := fmt.Fprintln(bw, FormatWALRecord(rec))
		return err
	})
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return err
}

// FormatWALRecord describes one WAL record on one line:
//
//	<file>@<offset> crc crc=0x1234abcd
//	<file>@<offset> metadata {"id":1,"cluster_name":"prod"}
//	<file>@<offset> snapshot index=I term=T conf_state={voters=[1 2 3] ...}
//	<file>@<offset> hard_state term=T vote=V commit=C
//	<file>@<offset> entry term=T index=I type=normal empty
//	<file>@<offset> entry term=T index=I type=normal time_ms=... time=<RFC 3339> command={...}
//	<file>@<offset> entry term=T index=I type=conf_change_v2 changes=[add_learner(2)] context={...}
//
// Commands and conf change contexts are protobuf text; a record or command
// that cannot be decoded shows decode_error="..." instead.
func FormatWALRecord(rec storage.WALRecord) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s@%d ", rec.File, rec.Offset)
	switch rec.Type {
	case wal.CrcType:
		fmt.Fprintf(&b, "crc crc=0x%08x", rec.Crc)
	case wal.MetadataType:
		fmt.Fprintf(&b, "metadata %s", rec.Data)
	case wal.SnapshotType:
		var s walpb.Snapshot
		if err := proto.Unmarshal(rec.Data, &s); err != nil {
			fmt.Fprintf(&b, "snapshot decode_error=%q", err.Error())
			break
		}
		fmt.Fprintf(&b, "snapshot index=%d term=%d conf_state=%s", s.GetIndex(), s.GetTerm(), confStateText(s.GetConfState()))
	case wal.StateType:
		var hs raftpb.HardState
		if err := proto.Unmarshal(rec.Data, &hs); err != nil {
			fmt.Fprintf(&b, "hard_state decode_error=%q", err.Error())
			break
		}
		fmt.Fprintf(&b, "hard_state term=%d vote=%d commit=%d", hs.GetTerm(), hs.GetVote(), hs.GetCommit())
	case wal.EntryType:
		var e raftpb.Entry
		if err := proto.Unmarshal(rec.Data, &e); err != nil {
			fmt.Fprintf(&b, "entry decode_error=%q", err.Error())
			break
		}
		b.WriteString("entry ")
		b.WriteString(entryText(&e))
	default:
		fmt.Fprintf(&b, "unknown_record type=%d bytes=%d", rec.Type, len(rec.Data))
	}
	return b.String()
}

// entryText describes a raft log entry: term, index, type and decoded data.
func entryText(e *raftpb.Entry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "term=%d index=%d", e.GetTerm(), e.GetIndex())
	switch e.GetType() {
	case raftpb.EntryNormal:
		b.WriteString(" type=normal")
		if len(e.GetData()) == 0 {
			b.WriteString(" empty")
			break
		}
		timeMs, cmd, err := statemachine.DecodeEntry(e.GetData())
		if err != nil {
			fmt.Fprintf(&b, " bytes=%d decode_error=%q", len(e.GetData()), err.Error())
			break
		}
		fmt.Fprintf(&b, " time_ms=%d time=%s command={%s}", timeMs,
			time.UnixMilli(int64(timeMs)).UTC().Format("2006-01-02T15:04:05.000Z"), textOf(cmd))
	case raftpb.EntryConfChange:
		b.WriteString(" type=conf_change")
		var cc raftpb.ConfChange
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			fmt.Fprintf(&b, " decode_error=%q", err.Error())
			break
		}
		b.WriteString(confChangeText(cc.AsV2()))
	case raftpb.EntryConfChangeV2:
		b.WriteString(" type=conf_change_v2")
		var cc raftpb.ConfChangeV2
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			fmt.Fprintf(&b, " decode_error=%q", err.Error())
			break
		}
		b.WriteString(confChangeText(&cc))
	default:
		fmt.Fprintf(&b, " type=%v bytes=%d", e.GetType(), len(e.GetData()))
	}
	return b.String()
}

// confChangeText is " changes=[...] context={...}" (or with a
// transition= first for a joint change).
func confChangeText(cc *raftpb.ConfChangeV2) string {
	var b strings.Builder
	if t := cc.GetTransition(); t != raftpb.ConfChangeTransitionAuto {
		fmt.Fprintf(&b, " transition=%v", t)
	}
	b.WriteString(" changes=[")
	for i, c := range cc.GetChanges() {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s(%d)", changeName(c.GetType()), c.GetNodeId())
	}
	b.WriteString("]")
	if len(cc.GetContext()) == 0 {
		return b.String()
	}
	var ctx peerpb.ConfChangeContext
	if err := proto.Unmarshal(cc.GetContext(), &ctx); err != nil {
		fmt.Fprintf(&b, " context_decode_error=%q", err.Error())
		return b.String()
	}
	fmt.Fprintf(&b, " context={%s}", textOf(&ctx))
	return b.String()
}

func changeName(t raftpb.ConfChangeType) string {
	switch t {
	case raftpb.ConfChangeAddNode:
		return "add_node"
	case raftpb.ConfChangeRemoveNode:
		return "remove_node"
	case raftpb.ConfChangeUpdateNode:
		return "update_node"
	case raftpb.ConfChangeAddLearnerNode:
		return "add_learner"
	default:
		return t.String()
	}
}

func confStateText(cs *raftpb.ConfState) string {
	s := fmt.Sprintf("{voters=%v learners=%v", cs.GetVoters(), cs.GetLearners())
	if len(cs.GetVotersOutgoing()) > 0 || len(cs.GetLearnersNext()) > 0 {
		s += fmt.Sprintf(" voters_outgoing=%v learners_next=%v", cs.GetVotersOutgoing(), cs.GetLearnersNext())
	}
	if cs.GetAutoLeave() {
		s += " auto_leave=true"
	}
	return s + "}"
}

// textOf is m in protobuf text on one line. (prototext may vary the spacing
// between releases; the content is stable.)
func textOf(m proto.Message) string {
	return prototext.MarshalOptions{}.Format(m)
}
