package databendapi

import (
	"fmt"

	"github.com/metasrv/metasrv/api/databendpb"
	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/api/peerpb"
	"github.com/metasrv/metasrv/internal/databendjson"
)

// CmdToNative translates a command of Databend's raft log (the cmd of a
// Normal entry, databendjson.LogEntry) into the native command that makes
// the same change to the keys when applied at the entry's time_ms. It
// goes through the face's translations of the same requests: an UpsertKV
// as KvApi's, a Transaction as the Transaction RPC's (its JSON is the
// protobuf TxnRequest's serde form).
//
// AddNode, RemoveNode and SetFeature change no key: each becomes an empty
// transaction, so that its entry still moves the clock and removes the
// keys expired before its time, as databend-meta does before every
// command. metasrv's members follow raft's configuration, and it keeps no
// features. A KvTransaction is refused: it is not translated yet.
func CmdToNative(c databendjson.Cmd) (*peerpb.Command, error) {
	switch c := c.(type) {
	case *databendjson.UpsertKV:
		return &peerpb.Command{Body: &peerpb.Command_Upsert{Upsert: upsertToNative(c)}}, nil
	case *databendjson.TxnRequest:
		txn, err := txnToNative(jsonTxnToPB(c))
		if err != nil {
			return nil, fmt.Errorf("Transaction: %w", err)
		}
		return &peerpb.Command{Body: &peerpb.Command_Txn{Txn: txn}}, nil
	case *databendjson.AddNode, *databendjson.RemoveNode, *databendjson.SetFeature:
		return &peerpb.Command{Body: &peerpb.Command_Txn{Txn: &metapb.TxnRequest{}}}, nil
	case *databendjson.KvTransaction:
		return nil, invalidf("a KvTransaction raft-log command is not translated by metasrv yet; apply it through the KvTransaction RPC")
	}
	return nil, invalidf("raft-log command %T is not one of UpsertKV, Transaction, KvTransaction, AddNode, RemoveNode, SetFeature", c)
}

// jsonTxnToPB is a Transaction command as the protobuf TxnRequest it is
// the serde form of: the same fields, no semantics.
func jsonTxnToPB(t *databendjson.TxnRequest) *databendpb.TxnRequest {
	out := &databendpb.TxnRequest{
		Condition: jsonConditionsToPB(t.Condition),
		IfThen:    jsonOpsToPB(t.IfThen),
		ElseThen:  jsonOpsToPB(t.ElseThen),
	}
	for _, b := range t.Operations {
		pb := &databendpb.ConditionalOperation{Operations: jsonOpsToPB(b.Operations)}
		if b.Predicate != nil {
			pb.Predicate = jsonExprToPB(b.Predicate)
		}
		out.Operations = append(out.Operations, pb)
	}
	return out
}

func jsonExprToPB(e *databendjson.BooleanExpression) *databendpb.BooleanExpression {
	out := &databendpb.BooleanExpression{
		Operator:   databendpb.BooleanExpression_CombiningOperator(e.Operator),
		Conditions: jsonConditionsToPB(e.Conditions),
	}
	for i := range e.SubExpressions {
		out.SubExpressions = append(out.SubExpressions, jsonExprToPB(&e.SubExpressions[i]))
	}
	return out
}

func jsonConditionsToPB(cs []databendjson.TxnCondition) []*databendpb.TxnCondition {
	out := make([]*databendpb.TxnCondition, len(cs))
	for i, c := range cs {
		pc := &databendpb.TxnCondition{Key: c.Key, Expected: databendpb.TxnCondition_ConditionResult(c.Expected)}
		switch c.Target.Kind {
		case databendjson.TargetValue:
			pc.Target = &databendpb.TxnCondition_Value{Value: c.Target.Value}
		case databendjson.TargetSeq:
			pc.Target = &databendpb.TxnCondition_Seq{Seq: c.Target.N}
		case databendjson.TargetKeysWithPrefix:
			pc.Target = &databendpb.TxnCondition_KeysWithPrefix{KeysWithPrefix: c.Target.N}
		}
		out[i] = pc
	}
	return out
}

func jsonOpsToPB(ops []databendjson.TxnOp) []*databendpb.TxnOp {
	out := make([]*databendpb.TxnOp, len(ops))
	for i, op := range ops {
		po := &databendpb.TxnOp{}
		switch r := op.Request.(type) {
		case *databendjson.TxnGetRequest:
			po.Request = &databendpb.TxnOp_Get{Get: &databendpb.TxnGetRequest{Key: r.Key}}
		case *databendjson.TxnPutRequest:
			po.Request = &databendpb.TxnOp_Put{Put: &databendpb.TxnPutRequest{
				Key: r.Key, Value: r.Value, ExpireAt: r.ExpireAt, TtlMs: r.TTLMs, MatchSeq: r.MatchSeq.Ptr(),
			}}
		case *databendjson.TxnDeleteRequest:
			po.Request = &databendpb.TxnOp_Delete{Delete: &databendpb.TxnDeleteRequest{Key: r.Key, MatchSeq: r.MatchSeq.Ptr()}}
		case *databendjson.TxnDeleteByPrefixRequest:
			po.Request = &databendpb.TxnOp_DeleteByPrefix{DeleteByPrefix: &databendpb.TxnDeleteByPrefixRequest{Prefix: r.Prefix}}
		case *databendjson.FetchIncreaseU64:
			po.Request = &databendpb.TxnOp_FetchIncreaseU64{FetchIncreaseU64: &databendpb.FetchIncreaseU64{
				Key: r.Key, Delta: r.Delta, MaxValue: r.MaxValue, MatchSeq: r.MatchSeq,
			}}
		case *databendjson.PutSequential:
			po.Request = &databendpb.TxnOp_PutSequential{PutSequential: &databendpb.PutSequential{
				Prefix: r.Prefix, SequenceKey: r.SequenceKey, Value: r.Value, ExpiresAtMs: r.ExpiresAtMs, TtlMs: r.TTLMs,
			}}
		}
		out[i] = po
	}
	return out
}
