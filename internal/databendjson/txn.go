package databendjson

// The transaction types are protobuf messages (meta.proto, request.proto)
// that Databend also serializes with serde (prost structs with derived
// Serialize): fields in .proto declaration order with any oneof last,
// optional and message fields written as null when unset, bytes as arrays
// of numbers, enums as their integer, a oneof as {"Variant":{...}} with the
// field name in CamelCase.

// TxnRequest is a transaction, the Cmd variant "Transaction":
// {"condition":[...],"if_then":[...],"else_then":[...]}, or with ordered
// branches {"operations":[...],"condition":[],"if_then":[],"else_then":[]}
// ("operations" is left out when empty).
type TxnRequest struct {
	Operations []ConditionalOperation
	Condition  []TxnCondition
	IfThen     []TxnOp
	ElseThen   []TxnOp
}

var txnRequestFields = fields{
	names:    []string{"operations", "condition", "if_then", "else_then"},
	required: []string{"condition", "if_then", "else_then"},
}

func (v *TxnRequest) encode(e *encoder) {
	e.objOpen()
	if len(v.Operations) > 0 {
		writeList(e, "operations", v.Operations, func(o *ConditionalOperation) { o.encode(e) })
	}
	writeList(e, "condition", v.Condition, func(c *TxnCondition) { c.encode(e) })
	writeList(e, "if_then", v.IfThen, func(o *TxnOp) { o.encode(e) })
	writeList(e, "else_then", v.ElseThen, func(o *TxnOp) { o.encode(e) })
	e.objClose()
}

func (v *TxnRequest) decode(d *decoder) error {
	v.Condition, v.IfThen, v.ElseThen = []TxnCondition{}, []TxnOp{}, []TxnOp{}
	_, err := d.object(&txnRequestFields, func(i int) error {
		switch i {
		case 0:
			return readList(d, &v.Operations, (*ConditionalOperation).decode)
		case 1:
			return readList(d, &v.Condition, (*TxnCondition).decode)
		case 2:
			return readList(d, &v.IfThen, (*TxnOp).decode)
		default:
			return readList(d, &v.ElseThen, (*TxnOp).decode)
		}
	})
	return err
}

// readList reads an array of T.
func readList[T any](d *decoder, list *[]T, read func(*T, *decoder) error) error {
	*list = []T{}
	return d.array(func(int) error {
		var v T
		err := read(&v, d)
		*list = append(*list, v)
		return err
	})
}

// ConditionResult is the comparison of a TxnCondition, written as its
// protobuf number.
type ConditionResult int32

const (
	CondEQ ConditionResult = 0
	CondGT ConditionResult = 1
	CondGE ConditionResult = 2
	CondLT ConditionResult = 3
	CondLE ConditionResult = 4
	CondNE ConditionResult = 5
)

// TxnCondition compares a key's seq, value or the number of keys under it
// as a prefix with Target: {"key":"k","expected":0,"target":{"Seq":0}}.
type TxnCondition struct {
	Key      string
	Expected ConditionResult
	Target   TxnTarget
}

// TargetKind is the variant of a TxnTarget.
type TargetKind uint8

const (
	TargetNone           TargetKind = iota // null (no target)
	TargetValue                            // {"Value":[bytes]}
	TargetSeq                              // {"Seq":n}
	TargetKeysWithPrefix                   // {"KeysWithPrefix":n}
)

// TxnTarget is the right-hand side of a TxnCondition.
type TxnTarget struct {
	Kind  TargetKind
	Value []byte // TargetValue
	N     uint64 // TargetSeq, TargetKeysWithPrefix
}

var (
	txnConditionFields = fields{names: []string{"key", "expected", "target"}, required: []string{"key", "expected"}}
	targetVariants     = []string{"Value", "Seq", "KeysWithPrefix"}
)

func (v *TxnCondition) encode(e *encoder) {
	e.objOpen()
	e.key("key")
	e.str(v.Key)
	e.key("expected")
	e.i64(int64(v.Expected))
	e.key("target")
	switch v.Target.Kind {
	case TargetNone:
		e.null()
	case TargetValue:
		e.variantOpen("Value")
		e.bytes(v.Target.Value)
		e.objClose()
	case TargetSeq, TargetKeysWithPrefix:
		e.variantOpen(targetVariants[v.Target.Kind-1])
		e.u64(v.Target.N)
		e.objClose()
	default:
		e.fail("TxnTarget kind %d", v.Target.Kind)
		e.null()
	}
	e.objClose()
}

func (v *TxnCondition) decode(d *decoder) error {
	_, err := d.object(&txnConditionFields, func(i int) error {
		switch i {
		case 0:
			return d.readStr(&v.Key)
		case 1:
			n, err := d.int(32)
			v.Expected = ConditionResult(n)
			return err
		}
		v.Target = TxnTarget{}
		if isNull, err := d.null(); err != nil || isNull {
			return err
		}
		return d.variant("target", targetVariants, func(name string, hasValue bool) error {
			if err := d.dataOnly(name, hasValue); err != nil {
				return err
			}
			v.Target.Kind = TargetKind(indexOf(targetVariants, name) + 1)
			if name == "Value" {
				return d.readBytes(&v.Target.Value)
			}
			return d.readU64(&v.Target.N)
		})
	})
	return err
}

// CombiningOperator joins the parts of a BooleanExpression, written as its
// protobuf number.
type CombiningOperator int32

const (
	CombineAnd CombiningOperator = 0
	CombineOr  CombiningOperator = 1
)

// BooleanExpression is a branch predicate:
// {"operator":1,"sub_expressions":[],"conditions":[...]}.
type BooleanExpression struct {
	Operator       CombiningOperator
	SubExpressions []BooleanExpression
	Conditions     []TxnCondition
}

var booleanExpressionFields = fields{
	names:    []string{"operator", "sub_expressions", "conditions"},
	required: []string{"operator", "sub_expressions", "conditions"},
}

func (v *BooleanExpression) encode(e *encoder) {
	e.objOpen()
	e.key("operator")
	e.i64(int64(v.Operator))
	writeList(e, "sub_expressions", v.SubExpressions, func(b *BooleanExpression) { b.encode(e) })
	writeList(e, "conditions", v.Conditions, func(c *TxnCondition) { c.encode(e) })
	e.objClose()
}

func (v *BooleanExpression) decode(d *decoder) error {
	_, err := d.object(&booleanExpressionFields, func(i int) error {
		switch i {
		case 0:
			n, err := d.int(32)
			v.Operator = CombiningOperator(n)
			return err
		case 1:
			return readList(d, &v.SubExpressions, (*BooleanExpression).decode)
		default:
			return readList(d, &v.Conditions, (*TxnCondition).decode)
		}
	})
	return err
}

// ConditionalOperation is one branch of a TxnRequest's operations:
// {"predicate":{...},"operations":[...]}; Predicate nil (null) holds.
type ConditionalOperation struct {
	Predicate  *BooleanExpression
	Operations []TxnOp
}

var conditionalOperationFields = fields{names: []string{"predicate", "operations"}, required: []string{"operations"}}

func (v *ConditionalOperation) encode(e *encoder) {
	e.objOpen()
	writePtr(e, "predicate", v.Predicate, func(b *BooleanExpression) { b.encode(e) })
	writeList(e, "operations", v.Operations, func(o *TxnOp) { o.encode(e) })
	e.objClose()
}

func (v *ConditionalOperation) decode(d *decoder) error {
	_, err := d.object(&conditionalOperationFields, func(i int) error {
		if i == 0 {
			return pointer(d, &v.Predicate, func(b *BooleanExpression) error { return b.decode(d) })
		}
		return readList(d, &v.Operations, (*TxnOp).decode)
	})
	return err
}

// TxnOp is one operation of a transaction: {"request":{"Put":{...}}}.
// Request nil is written as null.
type TxnOp struct {
	Request TxnOpRequest
}

// TxnOpRequest is the oneof of a TxnOp: *TxnGetRequest ("Get"),
// *TxnPutRequest ("Put"), *TxnDeleteRequest ("Delete"),
// *TxnDeleteByPrefixRequest ("DeleteByPrefix"), *FetchIncreaseU64
// ("FetchIncreaseU64") or *PutSequential ("PutSequential").
type TxnOpRequest interface {
	variantShape
	isTxnOpRequest()
}

func (*TxnGetRequest) isTxnOpRequest()            {}
func (*TxnPutRequest) isTxnOpRequest()            {}
func (*TxnDeleteRequest) isTxnOpRequest()         {}
func (*TxnDeleteByPrefixRequest) isTxnOpRequest() {}
func (*FetchIncreaseU64) isTxnOpRequest()         {}
func (*PutSequential) isTxnOpRequest()            {}

func (*TxnGetRequest) variant() string            { return "Get" }
func (*TxnPutRequest) variant() string            { return "Put" }
func (*TxnDeleteRequest) variant() string         { return "Delete" }
func (*TxnDeleteByPrefixRequest) variant() string { return "DeleteByPrefix" }
func (*FetchIncreaseU64) variant() string         { return "FetchIncreaseU64" }
func (*PutSequential) variant() string            { return "PutSequential" }

var (
	txnOpFields         = fields{names: []string{"request"}}
	txnOpRequestVariant = []string{"Get", "Put", "Delete", "DeleteByPrefix", "FetchIncreaseU64", "PutSequential"}
)

func newTxnOpRequest(name string) TxnOpRequest {
	switch name {
	case "Get":
		return &TxnGetRequest{}
	case "Put":
		return &TxnPutRequest{}
	case "Delete":
		return &TxnDeleteRequest{}
	case "DeleteByPrefix":
		return &TxnDeleteByPrefixRequest{}
	case "FetchIncreaseU64":
		return &FetchIncreaseU64{}
	default:
		return &PutSequential{}
	}
}

func (v *TxnOp) encode(e *encoder) {
	e.objOpen()
	writeOneof(e, "request", "TxnOp request", v.Request)
	e.objClose()
}

func (v *TxnOp) decode(d *decoder) error {
	_, err := d.object(&txnOpFields, func(int) error {
		return optionalSum(d, "request", txnOpRequestVariant, newTxnOpRequest, &v.Request)
	})
	return err
}

// TxnGetRequest reads a key: {"key":"k"}.
type TxnGetRequest struct {
	Key string
}

var keyFields = fields{names: []string{"key"}, required: []string{"key"}}

func (v *TxnGetRequest) encode(e *encoder) { encodeString1(e, &keyFields, v.Key) }

func (v *TxnGetRequest) decode(d *decoder) error { return decodeString1(d, &keyFields, &v.Key) }

// TxnPutRequest writes a key:
// {"key":"k","value":[118],"expire_at":null,"match_seq":null}.
type TxnPutRequest struct {
	Key   string
	Value []byte
	// PrevValue: the removed prev_value flag (proto field 3), which
	// databend-meta wrote as "prev_value":true until it was dropped;
	// current form: absent.
	PrevValue Opt[bool]
	// ExpireAt is seconds or milliseconds since the epoch (ExpireAtMs);
	// written as null when nil.
	ExpireAt *uint64
	// TTLMs counts from the entry's time_ms and wins over ExpireAt; left
	// out when nil.
	TTLMs *uint64
	// MatchSeq makes the put conditional on the key's seq (added
	// 2026-02); current form: null. Older dumps have no such field.
	MatchSeq Opt[uint64]
}

var txnPutRequestFields = fields{
	names:    []string{"key", "value", "prev_value", "expire_at", "ttl_ms", "match_seq"},
	required: []string{"key", "value"},
}

func (v *TxnPutRequest) encode(e *encoder) {
	e.objOpen()
	e.key("key")
	e.str(v.Key)
	e.key("value")
	e.bytes(v.Value)
	writeOpt(e, "prev_value", v.PrevValue, FormAbsent, e.boolean)
	writePtr(e, "expire_at", v.ExpireAt, func(t *uint64) { e.u64(*t) })
	writeSkipNil(e, "ttl_ms", v.TTLMs, func(t *uint64) { e.u64(*t) })
	writeOpt(e, "match_seq", v.MatchSeq, FormNull, e.u64)
	e.objClose()
}

func (v *TxnPutRequest) decode(d *decoder) error {
	present, err := d.object(&txnPutRequestFields, func(i int) error {
		switch i {
		case 0:
			return d.readStr(&v.Key)
		case 1:
			return d.readBytes(&v.Value)
		case 2:
			return optional(d, &v.PrevValue, d.readBool)
		case 3:
			return pointer(d, &v.ExpireAt, d.readU64)
		case 4:
			return pointer(d, &v.TTLMs, d.readU64)
		default:
			return optional(d, &v.MatchSeq, d.readU64)
		}
	})
	absentForm(&v.PrevValue, present, 2)
	absentForm(&v.MatchSeq, present, 5)
	return err
}

// TxnDeleteRequest deletes a key, if MatchSeq is set only when its seq
// matches: {"key":"k","match_seq":null}.
type TxnDeleteRequest struct {
	Key string
	// PrevValue: the removed prev_value flag (proto field 2), written as
	// "prev_value":true by older databend-meta; current form: absent.
	PrevValue Opt[bool]
	// MatchSeq: current form null.
	MatchSeq Opt[uint64]
}

var txnDeleteRequestFields = fields{names: []string{"key", "prev_value", "match_seq"}, required: []string{"key"}}

func (v *TxnDeleteRequest) encode(e *encoder) {
	e.objOpen()
	e.key("key")
	e.str(v.Key)
	writeOpt(e, "prev_value", v.PrevValue, FormAbsent, e.boolean)
	writeOpt(e, "match_seq", v.MatchSeq, FormNull, e.u64)
	e.objClose()
}

func (v *TxnDeleteRequest) decode(d *decoder) error {
	present, err := d.object(&txnDeleteRequestFields, func(i int) error {
		switch i {
		case 0:
			return d.readStr(&v.Key)
		case 1:
			return optional(d, &v.PrevValue, d.readBool)
		default:
			return optional(d, &v.MatchSeq, d.readU64)
		}
	})
	absentForm(&v.PrevValue, present, 1)
	absentForm(&v.MatchSeq, present, 2)
	return err
}

// TxnDeleteByPrefixRequest deletes every key that starts with Prefix:
// {"prefix":"p/"}.
type TxnDeleteByPrefixRequest struct {
	Prefix string
}

var prefixFields = fields{names: []string{"prefix"}, required: []string{"prefix"}}

func (v *TxnDeleteByPrefixRequest) encode(e *encoder) { encodeString1(e, &prefixFields, v.Prefix) }

func (v *TxnDeleteByPrefixRequest) decode(d *decoder) error {
	return decodeString1(d, &prefixFields, &v.Prefix)
}

// FetchIncreaseU64 adds Delta to the u64 stored as decimal text in Key
// after raising it to MaxValue:
// {"key":"k","match_seq":null,"delta":1,"max_value":0}.
type FetchIncreaseU64 struct {
	Key      string
	MatchSeq *uint64 // written as null when nil
	Delta    int64
	// MaxValue: the floor applied before Delta. Read as 0 when absent
	// (versions before it existed), always written.
	MaxValue uint64
}

var fetchIncreaseU64Fields = fields{
	names:    []string{"key", "match_seq", "delta", "max_value"},
	required: []string{"key", "delta"},
}

func (v *FetchIncreaseU64) encode(e *encoder) {
	e.objOpen()
	e.key("key")
	e.str(v.Key)
	writePtr(e, "match_seq", v.MatchSeq, func(s *uint64) { e.u64(*s) })
	e.key("delta")
	e.i64(v.Delta)
	e.key("max_value")
	e.u64(v.MaxValue)
	e.objClose()
}

func (v *FetchIncreaseU64) decode(d *decoder) error {
	_, err := d.object(&fetchIncreaseU64Fields, func(i int) error {
		switch i {
		case 0:
			return d.readStr(&v.Key)
		case 1:
			return pointer(d, &v.MatchSeq, d.readU64)
		case 2:
			n, err := d.int(64)
			v.Delta = n
			return err
		default:
			return d.readU64(&v.MaxValue)
		}
	})
	return err
}

// PutSequential puts Value under Prefix followed by the next number of the
// counter at SequenceKey:
// {"prefix":"p/","sequence_key":"s","value":[..],"expires_at_ms":null,"ttl_ms":null}.
type PutSequential struct {
	Prefix      string
	SequenceKey string
	Value       []byte
	ExpiresAtMs *uint64 // written as null when nil
	TTLMs       *uint64 // written as null when nil
}

var putSequentialFields = fields{
	names:    []string{"prefix", "sequence_key", "value", "expires_at_ms", "ttl_ms"},
	required: []string{"prefix", "sequence_key", "value"},
}

func (v *PutSequential) encode(e *encoder) {
	e.objOpen()
	e.key("prefix")
	e.str(v.Prefix)
	e.key("sequence_key")
	e.str(v.SequenceKey)
	e.key("value")
	e.bytes(v.Value)
	writePtr(e, "expires_at_ms", v.ExpiresAtMs, func(t *uint64) { e.u64(*t) })
	writePtr(e, "ttl_ms", v.TTLMs, func(t *uint64) { e.u64(*t) })
	e.objClose()
}

func (v *PutSequential) decode(d *decoder) error {
	_, err := d.object(&putSequentialFields, func(i int) error {
		switch i {
		case 0:
			return d.readStr(&v.Prefix)
		case 1:
			return d.readStr(&v.SequenceKey)
		case 2:
			return d.readBytes(&v.Value)
		case 3:
			return pointer(d, &v.ExpiresAtMs, d.readU64)
		default:
			return pointer(d, &v.TTLMs, d.readU64)
		}
	})
	return err
}
