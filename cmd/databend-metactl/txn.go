package main

import (
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/client"
)

func newTxnCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "txn --file T.json",
		Short: "Run a transaction from a JSON file",
		Long: `Run a transaction: conditions and ops applied as one atomic raft entry.

The file (--file -: standard input) holds the JSON form of the transaction,
documented in README.md, "Transactions in JSON". Either conditions that must
all hold, the ops to run then, and the ops to run otherwise:

  {"condition": [{"key": "k", "seq": {"eq": 3}}],
   "if_then":   [{"put": {"key": "k", "value": "v", "ttl": "30s"}}],
   "else_then": [{"get": {"key": "k"}}]}

or ordered branches, of which the first whose predicate holds runs (no
predicate: always):

  {"branches": [
     {"predicate": {"or": [{"key": "lock", "seq": {"eq": 0}},
                           {"key": "lock", "value": {"eq": "me"}}]},
      "ops": [{"put": {"key": "lock", "value": "me", "ttl": "10s"}}]},
     {"ops": [{"get": {"key": "lock"}}]}]}

One form or the other: "branches" with "condition", "if_then" or
"else_then", or an empty "branches", is refused.

Condition targets: seq, value, value_base64, keys_with_prefix (the key is
the prefix); comparisons: eq ne gt ge lt le. Ops: get, put, delete,
delete_by_prefix, fetch_increase_u64, put_sequential. Values are UTF-8
strings under "value", or base64 under "value_base64". An unknown field is
an error naming it (exit status 2).

Output: which branch ran (execution_path "then", "else", "branch:N" or
"none") and one response per op. JSON: {"success":B,"execution_path":P,
"responses":[{"get":{"key":K,"value":V|null}}, {"put":{"key":K,"applied":B,
"prev":V|null,"current":V|null}}, ...]}, V as in get ({"seq":N,"value":S}).

A transaction is retried on another address only when that cannot apply it
twice; on an ambiguous failure it reports that it may have been applied.`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().String("file", "", "the transaction as JSON; - reads standard input (required)")
	cmd.RunE = runE(func(cmd *cobra.Command) error {
		file, err := requireString(cmd, "file")
		if err != nil {
			return err
		}
		data, err := readFileArg(cmd, file)
		if err != nil {
			return inputError{fmt.Errorf("read the txn file: %w", err)}
		}
		req, err := parseTxn(data)
		if err != nil {
			return inputError{fmt.Errorf("txn file %s: %w", file, err)}
		}
		reply, err := a.cli.Txn(a.ctx, req)
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if a.output == "json" {
			return writeJSON(out, newTxnReplyJSON(reply))
		}
		return printTxnText(out, reply)
	})
	return cmd
}

// The JSON output of txn.
type (
	txnReplyJSON struct {
		Success       bool              `json:"success"`
		ExecutionPath string            `json:"execution_path"`
		Responses     []txnResponseJSON `json:"responses"`
	}
	// txnResponseJSON has one field set, named for the op.
	txnResponseJSON struct {
		Get              *txnGetJSON           `json:"get,omitempty"`
		Put              *txnPutJSON           `json:"put,omitempty"`
		Delete           *txnDeleteJSON        `json:"delete,omitempty"`
		DeleteByPrefix   *txnDeletePrefixJSON  `json:"delete_by_prefix,omitempty"`
		FetchIncreaseU64 *txnFetchIncreaseJSON `json:"fetch_increase_u64,omitempty"`
		PutSequential    *txnPutSeqJSON        `json:"put_sequential,omitempty"`
	}
	txnGetJSON struct {
		Key   string     `json:"key"`
		Value *valueJSON `json:"value"`
	}
	txnPutJSON struct {
		Key     string     `json:"key"`
		Applied bool       `json:"applied"`
		Prev    *valueJSON `json:"prev"`
		Current *valueJSON `json:"current"`
	}
	txnDeleteJSON struct {
		Key     string     `json:"key"`
		Success bool       `json:"success"`
		Prev    *valueJSON `json:"prev"`
	}
	txnDeletePrefixJSON struct {
		Prefix string `json:"prefix"`
		Count  uint64 `json:"count"`
	}
	txnFetchIncreaseJSON struct {
		Key       string `json:"key"`
		Applied   bool   `json:"applied"`
		Before    uint64 `json:"before"`
		BeforeSeq uint64 `json:"before_seq"`
		After     uint64 `json:"after"`
		AfterSeq  uint64 `json:"after_seq"`
	}
	txnPutSeqJSON struct {
		Key     string     `json:"key"`
		Current *valueJSON `json:"current"`
	}
)

// kvOf converts a value of key as the server returned it (nil: absent).
func kvOf(key string, v *metapb.SeqV) client.KV {
	if v == nil {
		return client.KV{Key: key}
	}
	return client.KV{Key: key, Seq: v.GetSeq(), Data: v.GetData(), ExpireAtMs: v.GetExpireAtMs(),
		CreateSeq: v.GetCreateSeq(), Version: v.GetVersion()}
}

// optValueJSON is a value in JSON output, nil (null) when absent.
func optValueJSON(key string, v *metapb.SeqV) *valueJSON {
	if v == nil {
		return nil
	}
	j := newValueJSON(kvOf(key, v))
	return &j
}

func newTxnReplyJSON(r *metapb.TxnReply) txnReplyJSON {
	out := txnReplyJSON{Success: r.GetSuccess(), ExecutionPath: r.GetExecutionPath(), Responses: []txnResponseJSON{}}
	for _, resp := range r.GetResponses() {
		var j txnResponseJSON
		switch x := resp.GetResponse().(type) {
		case *metapb.TxnOpResponse_Get:
			j.Get = &txnGetJSON{Key: x.Get.GetKey(), Value: optValueJSON(x.Get.GetKey(), x.Get.GetValue())}
		case *metapb.TxnOpResponse_Put:
			p := x.Put
			j.Put = &txnPutJSON{Key: p.GetKey(), Applied: p.GetApplied(),
				Prev: optValueJSON(p.GetKey(), p.GetPrev()), Current: optValueJSON(p.GetKey(), p.GetCurrent())}
		case *metapb.TxnOpResponse_Delete:
			d := x.Delete
			j.Delete = &txnDeleteJSON{Key: d.GetKey(), Success: d.GetSuccess(), Prev: optValueJSON(d.GetKey(), d.GetPrev())}
		case *metapb.TxnOpResponse_DeleteByPrefix:
			j.DeleteByPrefix = &txnDeletePrefixJSON{Prefix: x.DeleteByPrefix.GetPrefix(), Count: x.DeleteByPrefix.GetCount()}
		case *metapb.TxnOpResponse_FetchIncreaseU64:
			f := x.FetchIncreaseU64
			j.FetchIncreaseU64 = &txnFetchIncreaseJSON{Key: f.GetKey(), Applied: f.GetApplied(),
				Before: f.GetBefore(), BeforeSeq: f.GetBeforeSeq(), After: f.GetAfter(), AfterSeq: f.GetAfterSeq()}
		case *metapb.TxnOpResponse_PutSequential:
			p := x.PutSequential
			j.PutSequential = &txnPutSeqJSON{Key: p.GetKey(), Current: optValueJSON(p.GetKey(), p.GetCurrent())}
		}
		out.Responses = append(out.Responses, j)
	}
	return out
}

// printTxnText prints the reply for people:
//
//	success:        true
//	execution_path: then
//	[0] put "k": applied, prev seq=0 (absent), current seq=4 value="v"
func printTxnText(w io.Writer, r *metapb.TxnReply) error {
	fmt.Fprintf(w, "success:        %v\n", r.GetSuccess())
	fmt.Fprintf(w, "execution_path: %s\n", r.GetExecutionPath())
	if len(r.GetResponses()) == 0 {
		_, err := fmt.Fprintln(w, "responses:      none")
		return err
	}
	applied := func(b bool) string {
		if b {
			return "applied"
		}
		return "not applied (match_seq did not match)"
	}
	for i, resp := range r.GetResponses() {
		var line string
		switch x := resp.GetResponse().(type) {
		case *metapb.TxnOpResponse_Get:
			k := x.Get.GetKey()
			line = fmt.Sprintf("get %q: %s", k, valueText(kvOf(k, x.Get.GetValue())))
		case *metapb.TxnOpResponse_Put:
			p := x.Put
			line = fmt.Sprintf("put %q: %s, prev %s, current %s", p.GetKey(), applied(p.GetApplied()),
				valueText(kvOf(p.GetKey(), p.GetPrev())), valueText(kvOf(p.GetKey(), p.GetCurrent())))
		case *metapb.TxnOpResponse_Delete:
			d := x.Delete
			done := "deleted"
			if !d.GetSuccess() {
				done = "nothing deleted"
			}
			line = fmt.Sprintf("delete %q: %s, prev %s", d.GetKey(), done, valueText(kvOf(d.GetKey(), d.GetPrev())))
		case *metapb.TxnOpResponse_DeleteByPrefix:
			line = fmt.Sprintf("delete_by_prefix %q: %d keys deleted", x.DeleteByPrefix.GetPrefix(), x.DeleteByPrefix.GetCount())
		case *metapb.TxnOpResponse_FetchIncreaseU64:
			f := x.FetchIncreaseU64
			line = fmt.Sprintf("fetch_increase_u64 %q: %s, before %d (seq %d), after %d (seq %d)", f.GetKey(), applied(f.GetApplied()),
				f.GetBefore(), f.GetBeforeSeq(), f.GetAfter(), f.GetAfterSeq())
		case *metapb.TxnOpResponse_PutSequential:
			p := x.PutSequential
			line = fmt.Sprintf("put_sequential %q: %s", p.GetKey(), valueText(kvOf(p.GetKey(), p.GetCurrent())))
		default:
			line = "(empty response)"
		}
		if _, err := fmt.Fprintf(w, "[%s] %s\n", strconv.Itoa(i), line); err != nil {
			return err
		}
	}
	return nil
}
