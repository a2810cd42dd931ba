// Package databendjson is Databend's meta-service JSON in Go: the shapes
// databend-meta serializes with serde (commands in raft log entries, the
// KvApi requests and replies, transactions, stored values) and the
// databend-metactl export format, one JSON array per line. It reads them
// exactly as databend-meta writes them and writes them back byte for byte,
// so that metasrv can import a databend-meta dump, apply its commands, and
// export in Databend's format. It holds no semantics: what a command does
// is the state machine's business. docs/DATABEND.md describes the data
// model with examples from real dumps.
//
// # Usage
//
// Read a dump and write it again:
//
//	r := databendjson.NewReader(f)
//	w := databendjson.NewWriter(out)
//	for {
//	    l, err := r.Next() // io.EOF after the last line; errors name the line
//	    if err == io.EOF {
//	        break
//	    }
//	    switch e := l.Entry.(type) {
//	    case *databendjson.DumpGenericKV: // e.Key, e.Value.Seq, e.Value.Meta.ExpireAtMs(), e.Value.Data
//	    case *databendjson.DumpLogEntry: // e.Entry.Payload.(*databendjson.LogEntry).Cmd
//	    }
//	    err = w.Write(l)
//	}
//	err = w.Flush()
//
// One value: Unmarshal and Marshal for the struct types (*UpsertKV,
// *TxnRequest, *SeqV, ...); UnmarshalCmd and MarshalCmd for a Cmd
// ({"UpsertKV":{...}}); UnmarshalKvRequest and MarshalKvRequest for
// RaftRequest.data of the KvApi and KvReadV1 RPCs. Replies: *Change for an
// upsert, *GetKVReply, *MGetKVReply, *ListKVReply, *TxnReply.
//
// # Mapping
//
// A Rust struct is a Go struct with the same fields in the same order (the
// order they are written in). A Rust enum whose variants carry different
// structs is a Go interface, each variant a type (Cmd: *AddNode,
// *UpsertKV, *TxnRequest, ...; DumpEntry: *DumpGenericKV, ...); an enum of
// unit or scalar variants is a struct with a Kind (MatchSeq, Operation,
// TxnTarget, ...). An Option that is always written is a pointer (nil is
// null) or, when Databend leaves it out when None, a pointer that is then
// left out; each field's doc says which. Vec<u8> is []byte, written as an
// array of numbers ([104,105]); u64 is uint64; protobuf enums are their
// integer types.
//
// Some fields are written differently by different databend-meta versions
// ("txid":null before 2025, "expire_at":null in a KVMeta, a Put without
// "match_seq"). They are Opt values: decoding records the form found
// (Form: FormNull or FormAbsent) and encoding writes it again, so every
// line round-trips byte for byte; a value built in Go (Form zero,
// FormDefault) is written as today's databend-meta writes it.
//
// # Strictness
//
// The decoder accepts what serde_json accepts for these types (fields in
// any order, white space, escapes, a missing Option as None) with one
// exception: an unknown field is an error, where serde ignores it, so that
// a dump from a newer Databend is refused rather than imported with a field
// silently dropped. Every decoding error is an *Error that says the line
// (Reader), the path to the value (LogEntry.payload.Normal.cmd.UpsertKV.seq),
// the byte offset and what was wrong, and wraps ErrSyntax or ErrShape.
// Encoders refuse values Databend cannot hold (ErrValue): a nil variant, an
// unknown Kind, a string that is not UTF-8.
package databendjson
