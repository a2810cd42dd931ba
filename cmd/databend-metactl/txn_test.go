package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/client/clienttest"
)

func exact(n uint64) *metapb.MatchSeq { return &metapb.MatchSeq{Kind: metapb.MatchSeq_EXACT, Seq: n} }

func TestParseTxn(t *testing.T) {
	tests := []struct {
		name string
		json string
		want *metapb.TxnRequest
	}{
		{"empty", `{}`, &metapb.TxnRequest{}},
		{"readme example", `{
			"condition": [{"key": "k", "seq": {"eq": 3}}],
			"if_then":   [{"put": {"key": "k", "value": "v", "ttl": "30s"}}],
			"else_then": [{"get": {"key": "k"}}]}`,
			&metapb.TxnRequest{
				Condition: []*metapb.TxnCondition{{Key: "k", Op: metapb.TxnCondition_EQ, Target: &metapb.TxnCondition_Seq{Seq: 3}}},
				IfThen:    []*metapb.TxnOp{{Request: &metapb.TxnOp_Put{Put: &metapb.TxnPut{Key: "k", Value: []byte("v"), TtlMs: 30000}}}},
				ElseThen:  []*metapb.TxnOp{{Request: &metapb.TxnOp_Get{Get: &metapb.TxnGet{Key: "k"}}}},
			}},
		{"every target, comparison and op", `{
			"condition": [
				{"key": "a", "seq": {"ne": 1}},
				{"key": "a", "seq": {"gt": 18446744073709551615}},
				{"key": "b", "value": {"ge": "héllo"}},
				{"key": "b", "value_base64": {"lt": "AP8="}},
				{"key": "p/", "keys_with_prefix": {"le": 10}}
			],
			"if_then": [
				{"put": {"key": "c", "value_base64": "AAE=", "expire_at_ms": 1700000000000, "match_seq": 7}},
				{"put": {"key": "c", "value": "", "match_seq": {"ge": 2}}},
				{"delete": {"key": "d", "match_seq": {"exact": 0}}},
				{"delete_by_prefix": {"prefix": "e/"}},
				{"fetch_increase_u64": {"key": "f", "delta": 5, "max_value": 100, "match_seq": 3}},
				{"put_sequential": {"prefix": "q/", "sequence_key": "q_seq", "value": "job", "ttl": "1m30s"}}
			]}`,
			&metapb.TxnRequest{
				Condition: []*metapb.TxnCondition{
					{Key: "a", Op: metapb.TxnCondition_NE, Target: &metapb.TxnCondition_Seq{Seq: 1}},
					{Key: "a", Op: metapb.TxnCondition_GT, Target: &metapb.TxnCondition_Seq{Seq: 18446744073709551615}},
					{Key: "b", Op: metapb.TxnCondition_GE, Target: &metapb.TxnCondition_Value{Value: []byte("héllo")}},
					{Key: "b", Op: metapb.TxnCondition_LT, Target: &metapb.TxnCondition_Value{Value: []byte{0, 0xff}}},
					{Key: "p/", Op: metapb.TxnCondition_LE, Target: &metapb.TxnCondition_KeysWithPrefix{KeysWithPrefix: 10}},
				},
				IfThen: []*metapb.TxnOp{
					{Request: &metapb.TxnOp_Put{Put: &metapb.TxnPut{Key: "c", Value: []byte{0, 1}, ExpireAtMs: 1700000000000, MatchSeq: exact(7)}}},
					{Request: &metapb.TxnOp_Put{Put: &metapb.TxnPut{Key: "c", Value: []byte{}, MatchSeq: &metapb.MatchSeq{Kind: metapb.MatchSeq_GE, Seq: 2}}}},
					{Request: &metapb.TxnOp_Delete{Delete: &metapb.TxnDelete{Key: "d", MatchSeq: exact(0)}}},
					{Request: &metapb.TxnOp_DeleteByPrefix{DeleteByPrefix: &metapb.TxnDeleteByPrefix{Prefix: "e/"}}},
					{Request: &metapb.TxnOp_FetchIncreaseU64{FetchIncreaseU64: &metapb.FetchIncreaseU64{Key: "f", Delta: 5, MaxValue: 100, MatchSeq: exact(3)}}},
					{Request: &metapb.TxnOp_PutSequential{PutSequential: &metapb.PutSequential{Prefix: "q/", SequenceKey: "q_seq", Value: []byte("job"), TtlMs: 90000}}},
				},
			}},
		{"branches", `{"branches": [
			{"predicate": {"key": "lock", "seq": {"eq": 0}}, "ops": [{"put": {"key": "lock", "value": "me"}}]},
			{"predicate": {"or": [{"key": "lock", "value": {"eq": "me"}}, {"and": [{"key": "x", "seq": {"gt": 1}}, {"or": []}]}]}},
			{"ops": [{"get": {"key": "lock"}}]}
		]}`,
			&metapb.TxnRequest{Branches: []*metapb.ConditionalOps{
				{
					Predicate: &metapb.BoolExpression{Conditions: []*metapb.TxnCondition{{Key: "lock", Target: &metapb.TxnCondition_Seq{}}}},
					Ops:       []*metapb.TxnOp{{Request: &metapb.TxnOp_Put{Put: &metapb.TxnPut{Key: "lock", Value: []byte("me")}}}},
				},
				{Predicate: &metapb.BoolExpression{
					Combiner:   metapb.BoolExpression_OR,
					Conditions: []*metapb.TxnCondition{{Key: "lock", Target: &metapb.TxnCondition_Value{Value: []byte("me")}}},
					Children: []*metapb.BoolExpression{{
						Conditions: []*metapb.TxnCondition{{Key: "x", Op: metapb.TxnCondition_GT, Target: &metapb.TxnCondition_Seq{Seq: 1}}},
						Children:   []*metapb.BoolExpression{{Combiner: metapb.BoolExpression_OR}},
					}},
				}},
				{Ops: []*metapb.TxnOp{{Request: &metapb.TxnOp_Get{Get: &metapb.TxnGet{Key: "lock"}}}}},
			}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTxn([]byte(tt.json))
			if err != nil {
				t.Fatalf("parseTxn: %v", err)
			}
			if !proto.Equal(got, tt.want) {
				t.Fatalf("parseTxn =\n%s\nwant\n%s", prototext.Format(got), prototext.Format(tt.want))
			}
		})
	}
}

func TestParseTxnErrors(t *testing.T) {
	tests := []struct {
		json string
		want string // the error contains it
	}{
		{`[]`, "want a JSON object {...}, got an array"},
		{`{"conditon": []}`, `unknown field "conditon" (known: condition, if_then, else_then, branches)`},
		{`{"if_then": [{"put": {"key": "k", "vaule": "v"}}]}`, `if_then[0].put: unknown field "vaule" (known: key, value, value_base64, ttl, expire_at_ms, match_seq)`},
		{`{"if_then": [{"put": {"key": "k"}}]}`, `if_then[0].put: "value" or "value_base64" is required`},
		{`{"if_then": [{"put": {"key": "k", "value": "v", "value_base64": "dg=="}}]}`, `if_then[0].put: give one of value, value_base64, not several`},
		{`{"if_then": [{"put": {"value": "v"}}]}`, `if_then[0].put: "key" is required`},
		{`{"if_then": [{"put": {"key": "", "value": "v"}}]}`, `if_then[0].put: "key" is required (a non-empty string)`},
		{`{"if_then": [{"put": {"key": 5, "value": "v"}}]}`, `if_then[0].put.key: want a string, got a number`},
		{`{"if_then": [{"put": {"key": "k", "value": "v", "ttl": "soon"}}]}`, `if_then[0].put.ttl: invalid duration "soon"`},
		{`{"if_then": [{"put": {"key": "k", "value": "v", "ttl": 30}}]}`, `if_then[0].put.ttl: want a string, got a number (a duration such as "30s"`},
		{`{"if_then": [{"put": {"key": "k", "value": "v", "ttl": "10us"}}]}`, `at least 1ms`},
		{`{"if_then": [{"put": {"key": "k", "value": "v", "ttl": "1s", "expire_at_ms": 5}}]}`, `give one of ttl, expire_at_ms, not several`},
		{`{"if_then": [{"put": {"key": "k", "value_base64": "***"}}]}`, `if_then[0].put.value_base64: invalid base64`},
		{`{"if_then": [{"put": {"key": "k", "value": "v", "match_seq": -1}}]}`, `if_then[0].put.match_seq: want an integer in 0..18446744073709551615, got -1`},
		{`{"if_then": [{"put": {"key": "k", "value": "v", "match_seq": {"le": 1}}}]}`, `if_then[0].put.match_seq: unknown field "le" (known: exact, ge)`},
		{`{"if_then": [{"put": {"key": "k", "value": "v", "match_seq": "3"}}]}`, `if_then[0].put.match_seq: want a seq N, {"exact": N} or {"ge": N}, got a string`},
		{`{"else_then": [{"get": {"key": "k"}, "delete": {"key": "k"}}]}`, `else_then[0]: give one of get, put, delete, delete_by_prefix, fetch_increase_u64, put_sequential, not several (got get, delete)`},
		{`{"else_then": [{}]}`, `else_then[0]: one of get, put, delete`},
		{`{"else_then": [{"getx": {}}]}`, `else_then[0]: unknown field "getx"`},
		{`{"else_then": {"get": {"key": "k"}}}`, `else_then: want an array [...], got an object`},
		{`{"else_then": [{"delete_by_prefix": {}}]}`, `else_then[0].delete_by_prefix: "prefix" is required`},
		{`{"else_then": [{"delete_by_prefix": {"prefix": ""}}]}`, `else_then[0].delete_by_prefix: "prefix" is required (a non-empty string)`},
		{`{"condition": [{"key": "", "keys_with_prefix": {"eq": 0}}]}`, `condition[0]: "key" is required (a non-empty string; the prefix for keys_with_prefix)`},
		{`{"else_then": [{"fetch_increase_u64": {"key": "n", "delta": 1.5}}]}`, `else_then[0].fetch_increase_u64.delta: want an integer in -9223372036854775808..9223372036854775807, got 1.5`},
		{`{"else_then": [{"put_sequential": {"prefix": "q/", "value": "v"}}]}`, `else_then[0].put_sequential: "sequence_key" is required`},
		{`{"else_then": [{"put_sequential": {"sequence_key": "s", "value": "v", "expire_at_ms": 1}}]}`, `unknown field "expire_at_ms"`},
		{`{"condition": [{"key": "k"}]}`, `condition[0]: one of seq, value, value_base64, keys_with_prefix is required`},
		{`{"condition": [{"key": "k", "seq": {"eq": 1}, "value": {"eq": "v"}}]}`, `condition[0]: give one of seq, value, value_base64, keys_with_prefix, not several`},
		{`{"condition": [{"key": "k", "seq": {"equals": 1}}]}`, `condition[0].seq: unknown field "equals" (known: eq, ne, gt, ge, lt, le)`},
		{`{"condition": [{"key": "k", "seq": {"eq": 1, "ne": 2}}]}`, `condition[0].seq: give one of eq, ne, gt, ge, lt, le, not several`},
		{`{"condition": [{"key": "k", "seq": {"eq": "1"}}]}`, `condition[0].seq.eq: want an integer >= 0, got a string`},
		{`{"condition": [{"key": "k", "value": {"eq": 1}}]}`, `condition[0].value.eq: want a string, got a number`},
		{`{"condition": [{"seq": {"eq": 1}}]}`, `condition[0]: "key" is required`},
		{`{"condition": [{"key": "k", "seq": 1}]}`, `condition[0].seq: want a JSON object {...}, got a number`},
		{`{"condition": [], "branches": [{}]}`, `"branches" cannot be combined with "condition"`},
		{`{"if_then": [{"put": {"key": "k", "value": "v"}}], "branches": []}`, `"branches" cannot be combined with "condition", "if_then" or "else_then": use one form`},
		{`{"branches": [], "else_then": []}`, `"branches" cannot be combined`},
		{`{"branches": []}`, `"branches" is empty: give at least one branch`},
		{"{\"if_then\": [{\"put\": {\"key\": \"k\xff\", \"value\": \"v\"}}]}", `invalid UTF-8 at line 1, column 32: the file must be UTF-8 text`},
		{"{\"if_then\": [\n{\"put\": {\"key\": \"k\", \"value\": \"\xc3\"}}]}", `invalid UTF-8 at line 2, column 32`},
		{`{"branches": [{"predicate": {"and": [], "key": "k"}}]}`, `branches[0].predicate: an expression has exactly one field, "and" or "or"`},
		{`{"branches": [{"predicate": {"or": [{"key": "k", "seq": {"eq": 1}}, {"and": [{"key": "k", "seq": {"xx": 1}}]}]}}]}`, `branches[0].predicate.or[1].and[0].seq: unknown field "xx"`},
		{`{"branches": [{"predicate": {"not": []}}]}`, `branches[0].predicate: unknown field "not" (known: and, or, key, seq, value, value_base64, keys_with_prefix)`},
		{`{"branches": [{"ops": [{"get": {"key": "k"}}], "then": []}]}`, `branches[0]: unknown field "then" (known: predicate, ops)`},
		{`{"branches": [{"ops": [{"get": {"key": ""}}]}]}`, `branches[0].ops[0].get: "key" is required`},
		{`{"if_then": [], "if_then": []}`, `field "if_then" given twice`},
		{`{"if_then": [}`, `invalid JSON at line 1, column 14: invalid character '}'`},
		{"{\n  \"if_then\": [\n  {\"get\": {\"key\": \"k\"},\n]}", `invalid JSON at line 4, column 1: invalid character ']'`},
		{`{"if_then": []} {}`, `invalid JSON at line 1, column 17: invalid character '{' after top-level value`},
		{``, `empty file`},
		{`{"x`, `invalid JSON`},
		{`{"if_then": [{"put": {"key": "k", "value": null}}]}`, `if_then[0].put.value: want a string, got null`},
	}
	for _, tt := range tests {
		_, err := parseTxn([]byte(tt.json))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseTxn(%s) = %v\nwant an error containing %q", tt.json, err, tt.want)
		}
	}
}

func FuzzParseTxn(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"condition":[{"key":"k","seq":{"eq":3}}],"if_then":[{"put":{"key":"k","value":"v","ttl":"30s"}}],"else_then":[{"get":{"key":"k"}}]}`,
		`{"branches":[{"predicate":{"or":[{"key":"a","value_base64":{"lt":"AP8="}},{"and":[]}]},"ops":[{"fetch_increase_u64":{"key":"n","delta":1,"match_seq":{"ge":2}}}]}]}`,
		`{"if_then":[{"put_sequential":{"prefix":"q/","sequence_key":"s","value":"x"}},{"delete_by_prefix":{"prefix":"p"}}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := parseTxn(data)
		if err != nil {
			if req != nil {
				t.Fatalf("a request with an error")
			}
			return
		}
		if _, err := proto.Marshal(req); err != nil {
			t.Fatalf("parsed %q into a request that does not marshal: %v", data, err)
		}
		if len(req.GetBranches()) > 0 && (len(req.GetCondition()) > 0 || len(req.GetIfThen()) > 0 || len(req.GetElseThen()) > 0) {
			t.Fatalf("parsed %q into both forms", data)
		}
	})
}

// writeFile writes content to a file in a temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The JSON output of txn, with every field checked.
type (
	valueOutJSON struct {
		Seq         uint64  `json:"seq"`
		Value       *string `json:"value"`
		ValueBase64 *string `json:"value_base64"`
		ExpireAtMs  *uint64 `json:"expire_at_ms"`
	}
	txnOut struct {
		Success       bool   `json:"success"`
		ExecutionPath string `json:"execution_path"`
		Responses     []struct {
			Get *struct {
				Key   string        `json:"key"`
				Value *valueOutJSON `json:"value"`
			} `json:"get"`
			Put *struct {
				Key     string        `json:"key"`
				Applied bool          `json:"applied"`
				Prev    *valueOutJSON `json:"prev"`
				Current *valueOutJSON `json:"current"`
			} `json:"put"`
			Delete *struct {
				Key     string        `json:"key"`
				Success bool          `json:"success"`
				Prev    *valueOutJSON `json:"prev"`
			} `json:"delete"`
			DeleteByPrefix *struct {
				Prefix string `json:"prefix"`
				Count  uint64 `json:"count"`
			} `json:"delete_by_prefix"`
			FetchIncreaseU64 *struct {
				Key       string `json:"key"`
				Applied   bool   `json:"applied"`
				Before    uint64 `json:"before"`
				BeforeSeq uint64 `json:"before_seq"`
				After     uint64 `json:"after"`
				AfterSeq  uint64 `json:"after_seq"`
			} `json:"fetch_increase_u64"`
			PutSequential *struct {
				Key     string        `json:"key"`
				Current *valueOutJSON `json:"current"`
			} `json:"put_sequential"`
		} `json:"responses"`
	}
)

func TestTxnJSON(t *testing.T) {
	cl := clienttest.Start(t, 1)
	cl.Store.Put("k", []byte("old")) // seq 1
	cl.Store.Put("p/1", nil)         // seq 2
	cl.Store.Put("p/2", nil)         // seq 3
	file := writeFile(t, "t.json", `{
		"condition": [{"key": "k", "seq": {"eq": 1}}, {"key": "p/", "keys_with_prefix": {"eq": 2}}],
		"if_then": [
			{"put": {"key": "k", "value": "new", "ttl": "1h"}},
			{"get": {"key": "absent"}},
			{"delete": {"key": "k", "match_seq": 1}},
			{"delete_by_prefix": {"prefix": "p/"}},
			{"fetch_increase_u64": {"key": "n", "delta": 2, "max_value": 10}},
			{"put_sequential": {"prefix": "q/", "sequence_key": "q_seq", "value_base64": "/w=="}}
		],
		"else_then": [{"get": {"key": "k"}}]}`)

	var got txnOut
	runJSON(t, cl.Addrs(), &got, "txn", "--file", file)
	if !got.Success || got.ExecutionPath != "then" || len(got.Responses) != 6 {
		t.Fatalf("txn = %+v", got)
	}
	r := got.Responses
	if p := r[0].Put; p == nil || p.Key != "k" || !p.Applied || p.Prev == nil || !eqStr(p.Prev.Value, strp("old")) ||
		p.Current == nil || p.Current.Seq != 4 || !eqStr(p.Current.Value, strp("new")) || p.Current.ExpireAtMs == nil {
		t.Errorf("put = %+v", r[0])
	}
	if g := r[1].Get; g == nil || g.Key != "absent" || g.Value != nil {
		t.Errorf("get of an absent key = %+v, want value null", r[1])
	}
	if d := r[2].Delete; d == nil || d.Success || d.Prev == nil || d.Prev.Seq != 4 {
		t.Errorf("delete with a stale match_seq = %+v, want nothing deleted", r[2])
	}
	if d := r[3].DeleteByPrefix; d == nil || d.Prefix != "p/" || d.Count != 2 {
		t.Errorf("delete_by_prefix = %+v", r[3])
	}
	if f := r[4].FetchIncreaseU64; f == nil || !f.Applied || f.Before != 0 || f.BeforeSeq != 0 || f.After != 12 || f.AfterSeq == 0 {
		t.Errorf("fetch_increase_u64 = %+v", r[4])
	}
	if p := r[5].PutSequential; p == nil || !strings.HasPrefix(p.Key, "q/") || p.Current == nil || !eqStr(p.Current.ValueBase64, strp("/w==")) {
		t.Errorf("put_sequential = %+v", r[5])
	}

	// Again: the condition fails now, the else branch runs.
	got = txnOut{}
	runJSON(t, cl.Addrs(), &got, "txn", "--file", file)
	if got.Success || got.ExecutionPath != "else" || len(got.Responses) != 1 || got.Responses[0].Get == nil ||
		!eqStr(got.Responses[0].Get.Value.Value, strp("new")) {
		t.Fatalf("txn again = %+v", got)
	}

	// No op ran: "responses" is [], not null.
	none := writeFile(t, "none.json", `{"branches": [{"predicate": {"key": "k", "seq": {"eq": 999}}, "ops": [{"get": {"key": "k"}}]}]}`)
	stdout, _, code := runCLI(t, "--grpc-api-address", cl.Addrs()[0], "--output", "json", "txn", "--file", none)
	var raw map[string]any
	if err := json.Unmarshal([]byte(stdout), &raw); code != 0 || err != nil {
		t.Fatalf("exit %d, %q: %v", code, stdout, err)
	}
	if resp, ok := raw["responses"].([]any); !ok || len(resp) != 0 || raw["execution_path"] != "none" || raw["success"] != false {
		t.Fatalf("no branch: %s", stdout)
	}
}

func TestTxnText(t *testing.T) {
	cl := clienttest.Start(t, 1)
	file := writeFile(t, "t.json", `{"if_then": [
		{"put": {"key": "k", "value": "v"}},
		{"get": {"key": "k"}},
		{"fetch_increase_u64": {"key": "n", "delta": 1}},
		{"delete": {"key": "k"}}]}`)
	stdout, stderr, code := runCLI(t, "--grpc-api-address", cl.Addrs()[0], "txn", "--file", file)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{
		"success:        true\n",
		"execution_path: then\n",
		`[0] put "k": applied, prev seq=0 (absent), current seq=1 value="v"`,
		`[1] get "k": seq=1 value="v"`,
		`[2] fetch_increase_u64 "n": applied, before 0 (seq 0), after 1 (seq 2)`,
		`[3] delete "k": deleted, prev seq=1 value="v"`,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestTxnBadFile(t *testing.T) {
	cl := clienttest.Start(t, 1)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"txn", "--file", writeFile(t, "bad.json", `{"if_then": [{"put": {"key": "k", "vaule": "v"}}]}`)},
			`bad.json: if_then[0].put: unknown field "vaule"`},
		{[]string{"txn", "--file", filepath.Join(t.TempDir(), "missing.json")}, "read the txn file"},
		// The server would run these as the condition form, path "then".
		{[]string{"txn", "--file", writeFile(t, "empty-branches.json", `{"branches": []}`)}, `"branches" is empty`},
		{[]string{"txn", "--file", writeFile(t, "both.json", `{"if_then": [{"put": {"key": "k", "value": "v"}}], "branches": []}`)},
			`"branches" cannot be combined with "condition", "if_then" or "else_then"`},
	}
	for _, tt := range tests {
		stdout, stderr, code := runCLI(t, append([]string{"--grpc-api-address", cl.Addrs()[0]}, tt.args...)...)
		if code != 2 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and one line containing %q", tt.args, code, stdout, stderr, tt.want)
		}
	}
	if _, stderr, code := runCLI(t, "txn"); code != 2 || !strings.Contains(stderr, "--file is required") {
		t.Errorf("txn without --file: exit %d, %q", code, stderr)
	}
	if n := cl.Servers[0].Calls("Txn"); n != 0 {
		t.Errorf("%d bad transactions reached the server", n)
	}
}

// The examples in README.md "Transactions in JSON" parse.
func TestReadmeTxnExamples(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Skipf("README.md: %v", err)
	}
	_, section, ok := strings.Cut(string(readme), "## Transactions in JSON\n")
	if !ok {
		t.Fatal(`README.md has no "## Transactions in JSON" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	blocks := strings.Split(section, "```json\n")[1:]
	if len(blocks) < 2 {
		t.Fatalf("found %d JSON examples, want at least 2", len(blocks))
	}
	for _, b := range blocks {
		b, _, _ = strings.Cut(b, "```")
		if _, err := parseTxn([]byte(b)); err != nil {
			t.Errorf("README example does not parse: %v\n%s", err, b)
		}
	}
}
