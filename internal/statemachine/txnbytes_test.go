package statemachine

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/metasrv/metasrv/api/metapb"
)

// TestValidateTxnBytes: the key and value bytes of every part of a
// transaction count against the limit given, which MaxTxnBytes caps.
func TestValidateTxnBytes(t *testing.T) {
	const limit = 1000
	big := func(n int) []byte { return bytes.Repeat([]byte("v"), n) }
	tests := []struct {
		name  string
		req   *metapb.TxnRequest
		limit int
		want  string // a part of the error; "" = valid
	}{
		{"at the limit", &metapb.TxnRequest{IfThen: []*metapb.TxnOp{
			opPutReq(&metapb.TxnPut{Key: "k", Value: big(limit - 1)}),
		}}, limit, ""},
		{"over the limit", &metapb.TxnRequest{IfThen: []*metapb.TxnOp{
			opPutReq(&metapb.TxnPut{Key: "kk", Value: big(limit - 1)}),
		}}, limit, "1001 bytes of keys and values, at most 1000"},
		{"counted over every part", &metapb.TxnRequest{
			Condition: []*metapb.TxnCondition{{Key: "k", Target: &metapb.TxnCondition_Value{Value: big(limit / 2)}}},
			ElseThen: []*metapb.TxnOp{
				{Request: &metapb.TxnOp_PutSequential{PutSequential: &metapb.PutSequential{
					Prefix: "p", SequenceKey: "s", Value: big(limit/2 - 2),
				}}},
			},
		}, limit, "1001 bytes"},
		{"keys of gets and deletes count", &metapb.TxnRequest{Branches: []*metapb.ConditionalOps{
			{Ops: []*metapb.TxnOp{opGet(string(big(600))), opDel(string(big(401)), nil)}},
		}}, limit, "1001 bytes"},
		{"a limit over MaxTxnBytes is MaxTxnBytes", &metapb.TxnRequest{IfThen: []*metapb.TxnOp{opPut("k", "v")}}, MaxTxnBytes + 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateTxnBytes(tt.req, tt.limit)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ValidateTxnBytes: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidTxn) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ValidateTxnBytes = %v, want ErrInvalidTxn with %q", err, tt.want)
			}
		})
	}
}
