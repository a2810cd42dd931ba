package main

// --output databend: what Databend's databend-metactl prints, for the
// commands whose output differs from ours (status, member-list, get,
// upsert, watch). Its forms are Rust's: serde JSON for get, {:?} for
// upsert's values, the Display of databend-meta's protobuf types for
// watch, and status's "Name: value" lines.

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/metasrv/metasrv/api/databendpb"
	"github.com/metasrv/metasrv/client"
	"github.com/metasrv/metasrv/internal/databendjson"
)

// outputDatabend is the --output value that selects Databend's forms.
const outputDatabend = "databend"

// dbGetJSON is get's line: the value as serde writes Option<SeqV>
// ({"seq":N,"meta":M,"data":[bytes]}), or null for an absent key.
func dbGetJSON(kv client.KV) ([]byte, error) {
	var v *databendjson.SeqV
	if kv.Exists() {
		v = &databendjson.SeqV{Seq: kv.Seq, Data: kv.Data}
		if m := kv.Meta; m.Set {
			v.Meta = &databendjson.KVMeta{}
			if m.HasExpireAt {
				v.Meta.ExpireAt = databendjson.Some(m.ExpireAt)
			}
			if m.HasProposedAt {
				at := m.ProposedAtMs
				v.Meta.ProposedAtMs = &at
			}
		}
	}
	return databendjson.Marshal(&databendjson.GetKVReply{Value: v})
}

// dbUpsertLine is upsert's line: "upsert-result: KEY: PREV -> RESULT",
// the values as Rust's {:?} of Option<SeqV>.
func dbUpsertLine(key string, res client.UpsertResult) string {
	return fmt.Sprintf("upsert-result: %s: %s -> %s", dbKey(key), dbSeqVDebug(res.Prev), dbSeqVDebug(res.Result))
}

// dbKey is a key in databend-metactl's lines: as it is (Databend's keys
// are UTF-8 strings), or Go-quoted when it is not UTF-8, which Databend's
// API never shows.
func dbKey(key string) string {
	if utf8.ValidString(key) {
		return key
	}
	return strconv.Quote(key)
}

// dbSeqVDebug is {:?} of Option<SeqV>: the data is never shown.
func dbSeqVDebug(kv client.KV) string {
	if !kv.Exists() {
		return "None"
	}
	meta := "None"
	if m := kv.Meta; m.Set {
		meta = fmt.Sprintf("Some(KVMeta { expire_at: %s, proposed_at_ms: %s })",
			optDebug(m.ExpireAt, m.HasExpireAt), optDebug(m.ProposedAtMs, m.HasProposedAt))
	}
	return fmt.Sprintf(`Some(SeqV { seq: %d, meta: %s, data: "[binary]" })`, kv.Seq, meta)
}

func optDebug(v uint64, ok bool) string {
	if !ok {
		return "None"
	}
	return "Some(" + strconv.FormatUint(v, 10) + ")"
}

// dbWatchLine is watch's line for one response: "received-watch-event: "
// then INIT: (the initial flush) or CHANGE:, then "(KEY: PREV -> CURRENT)",
// or None for the response that ends the flush.
func dbWatchLine(ev client.WatchEvent) string {
	typ := "CHANGE"
	if ev.Initialization {
		typ = "INIT"
	}
	event := "None"
	if !ev.FlushDone {
		event = fmt.Sprintf("(%s: %s -> %s)", dbKey(ev.Key), dbSeqVDisplay(ev.Prev), dbSeqVDisplay(ev.Current))
	}
	return "received-watch-event: " + typ + ":" + event
}

// dbSeqVDisplay is the Display of an optional protobuf SeqV:
// "(seq=N [META] 'DATA')", the data as bytes when it is not UTF-8; None
// when absent.
func dbSeqVDisplay(kv client.KV) string {
	if !kv.Exists() {
		return "None"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "(seq=%d [", kv.Seq)
	if m := kv.Meta; m.Set {
		var parts []string
		if m.HasExpireAt {
			parts = append(parts, "expire="+dbTime(databendjson.ExpireAtMs(m.ExpireAt)))
		}
		if m.HasProposedAt {
			parts = append(parts, "proposed="+dbTime(m.ProposedAtMs))
		}
		b.WriteString(strings.Join(parts, ", "))
	}
	b.WriteString("] ")
	if utf8.Valid(kv.Data) {
		b.WriteString("'" + string(kv.Data) + "')")
	} else {
		b.WriteString(bytesDebug(kv.Data) + ")")
	}
	return b.String()
}

// dbTime is a Unix ms time as databend-meta displays it, in UTC.
func dbTime(ms uint64) string {
	return time.UnixMilli(int64(ms)).UTC().Format("2006-01-02T15:04:05.000")
}

// bytesDebug is Rust's {:?} of a byte vector: [1, 2, 3].
func bytesDebug(p []byte) string {
	s := make([]string, len(p))
	for i, c := range p {
		s[i] = strconv.Itoa(int(c))
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// writeDatabendStatus writes a node's status as databend-metactl status
// prints it. Replication lists the followers by id (databend-meta's map
// has no order), with " *" after those behind last_applied.
func writeDatabendStatus(w io.Writer, st *databendpb.ClusterStatus) error {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("BinaryVersion: %s", st.GetBinaryVersion())
	line("DataVersion: %s", st.GetDataVersion())
	line("RaftLogSize: %d", st.GetRaftLogSize())
	if s := st.GetRaftLogStatus(); s != nil {
		line("RaftLog:")
		line("  - CacheItems: %d", s.GetCacheItems())
		line("  - CacheUsedSize: %d", s.GetCacheUsedSize())
		line("  - WALTotalSize: %d", s.GetWalTotalSize())
		line("  - WALOpenChunkSize: %d", s.GetWalOpenChunkSize())
		line("  - WALOffset: %d", s.GetWalOffset())
		line("  - WALClosedChunkCount: %d", s.GetWalClosedChunkCount())
		line("  - WALClosedChunkTotalSize: %d", s.GetWalClosedChunkTotalSize())
		line("  - WALClosedChunkSizes:")
		sizes := s.GetWalClosedChunkSizes()
		for _, k := range slices.Sorted(maps.Keys(sizes)) {
			line("    - %s: %d", k, sizes[k])
		}
	}
	line("SnapshotKeyCount: %d", st.GetSnapshotKeyCount())
	line("Node: id=%d raft=%s", st.GetId(), st.GetEndpoint())
	line("State: %s", st.GetState())
	if st.Leader != nil {
		line("Leader: %s", st.GetLeader())
	}
	line("CurrentTerm: %d", st.GetCurrentTerm())
	line("LastSeq: %d", st.GetLastSeq())
	line("LastLogIndex: %d", st.GetLastLogIndex())
	line("LastApplied: %s", st.GetLastApplied())
	if st.SnapshotLastLogId != nil {
		line("SnapshotLastLogID: %s", st.GetSnapshotLastLogId())
	}
	if st.Purged != nil {
		line("Purged: %s", st.GetPurged())
	}
	if rep := st.GetReplication(); len(rep) > 0 {
		line("Replication:")
		for _, id := range slices.Sorted(maps.Keys(rep)) {
			mark := ""
			if rep[id] != st.GetLastApplied() {
				mark = " *"
			}
			line("  - [%d] %s%s", id, rep[id], mark)
		}
	}
	if len(st.GetVoters()) > 0 {
		line("Voters:")
		for _, v := range st.GetVoters() {
			line("  - %s", v)
		}
	}
	if len(st.GetNonVoters()) > 0 {
		line("NonVoters:")
		for _, v := range st.GetNonVoters() {
			line("  - %s", v)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
