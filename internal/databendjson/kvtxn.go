package databendjson

// KvTransaction is the Cmd variant "KvTransaction" (databend-meta 2026,
// Rust-native types, not protobuf): ordered branches, the first whose
// predicate holds runs: {"branches":[{"predicate":...,"operations":[...]}]}.
type KvTransaction struct {
	Branches []KvBranch
}

// KvBranch: {"predicate":{"And":[]},"operations":[...]}.
type KvBranch struct {
	Predicate  KvPredicate
	Operations []KvOperation
}

// KvPredicateKind is the variant of a KvPredicate.
type KvPredicateKind uint8

const (
	PredAnd  KvPredicateKind = iota // {"And":[...]}: all hold (none: true)
	PredOr                          // {"Or":[...]}: one holds (none: false)
	PredLeaf                        // {"Leaf":{...}}: one comparison
)

// KvPredicate is a tree of conditions.
type KvPredicate struct {
	Kind KvPredicateKind
	Sub  []KvPredicate // PredAnd, PredOr
	Leaf KvCondition   // PredLeaf
}

// KvCondition compares a key's attribute with Target:
// {"key":"k","target":{"Seq":5},"op":"Eq"}.
type KvCondition struct {
	Key    string
	Target KvOperand
	Op     KvCompare
}

// KvOperandKind is the variant of a KvOperand.
type KvOperandKind uint8

const (
	OperandSeq            KvOperandKind = iota // {"Seq":n}
	OperandValue                               // {"Value":[bytes]}
	OperandKeysWithPrefix                      // {"KeysWithPrefix":n}
)

// KvOperand is the right-hand side of a KvCondition.
type KvOperand struct {
	Kind  KvOperandKind
	N     uint64 // OperandSeq, OperandKeysWithPrefix
	Value []byte // OperandValue
}

// KvCompare is a comparison, written as its name: "Eq", "Ne", "Lt", "Le",
// "Gt" or "Ge".
type KvCompare string

const (
	CompareEq KvCompare = "Eq"
	CompareNe KvCompare = "Ne"
	CompareLt KvCompare = "Lt"
	CompareLe KvCompare = "Le"
	CompareGt KvCompare = "Gt"
	CompareGe KvCompare = "Ge"
)

var (
	kvTransactionFields = fields{names: []string{"branches"}, required: []string{"branches"}}
	kvBranchFields      = fields{names: []string{"predicate", "operations"}, required: []string{"predicate", "operations"}}
	kvConditionFields   = fields{names: []string{"key", "target", "op"}, required: []string{"key", "target", "op"}}
	predicateVariants   = []string{"And", "Or", "Leaf"}
	operandVariants     = []string{"Seq", "Value", "KeysWithPrefix"}
	compareVariants     = []string{"Eq", "Ne", "Lt", "Le", "Gt", "Ge"}
)

func (v *KvTransaction) encode(e *encoder) {
	e.objOpen()
	writeList(e, "branches", v.Branches, func(b *KvBranch) { b.encode(e) })
	e.objClose()
}

func (v *KvTransaction) decode(d *decoder) error {
	_, err := d.object(&kvTransactionFields, func(int) error {
		return readList(d, &v.Branches, (*KvBranch).decode)
	})
	return err
}

func (v *KvBranch) encode(e *encoder) {
	e.objOpen()
	e.key("predicate")
	v.Predicate.encode(e)
	e.key("operations")
	e.arrOpen()
	for _, op := range v.Operations {
		e.elem()
		encodeSum(e, "KvOperation", op)
	}
	e.arrClose()
	e.objClose()
}

func (v *KvBranch) decode(d *decoder) error {
	_, err := d.object(&kvBranchFields, func(i int) error {
		if i == 0 {
			return v.Predicate.decode(d)
		}
		v.Operations = []KvOperation{}
		return d.array(func(int) error {
			var op KvOperation
			err := decodeSum(d, "KvOperation", kvOperationVariants, newKvOperation, &op)
			v.Operations = append(v.Operations, op)
			return err
		})
	})
	return err
}

func (v *KvPredicate) encode(e *encoder) {
	switch v.Kind {
	case PredAnd, PredOr:
		e.variantOpen(predicateVariants[v.Kind])
		e.arrOpen()
		for i := range v.Sub {
			e.elem()
			v.Sub[i].encode(e)
		}
		e.arrClose()
	case PredLeaf:
		e.variantOpen("Leaf")
		v.Leaf.encode(e)
	default:
		e.fail("KvPredicate kind %d", v.Kind)
		e.objOpen()
	}
	e.objClose()
}

func (v *KvPredicate) decode(d *decoder) error {
	return d.variant("Predicate", predicateVariants, func(name string, hasValue bool) error {
		*v = KvPredicate{Kind: KvPredicateKind(indexOf(predicateVariants, name))}
		if err := d.dataOnly(name, hasValue); err != nil {
			return err
		}
		if v.Kind == PredLeaf {
			return v.Leaf.decode(d)
		}
		return readList(d, &v.Sub, (*KvPredicate).decode)
	})
}

func (v *KvCondition) encode(e *encoder) {
	e.objOpen()
	e.key("key")
	e.str(v.Key)
	e.key("target")
	switch v.Target.Kind {
	case OperandSeq, OperandKeysWithPrefix:
		e.variantOpen(operandVariants[v.Target.Kind])
		e.u64(v.Target.N)
	case OperandValue:
		e.variantOpen("Value")
		e.bytes(v.Target.Value)
	default:
		e.fail("KvOperand kind %d", v.Target.Kind)
		e.objOpen()
	}
	e.objClose()
	e.key("op")
	if indexOf(compareVariants, string(v.Op)) < 0 {
		e.fail("KvCompare %q", v.Op)
	}
	e.str(string(v.Op))
	e.objClose()
}

func (v *KvCondition) decode(d *decoder) error {
	_, err := d.object(&kvConditionFields, func(i int) error {
		switch i {
		case 0:
			return d.readStr(&v.Key)
		case 1:
			return d.variant("Operand", operandVariants, func(name string, hasValue bool) error {
				v.Target = KvOperand{Kind: KvOperandKind(indexOf(operandVariants, name))}
				if err := d.dataOnly(name, hasValue); err != nil {
					return err
				}
				if v.Target.Kind == OperandValue {
					return d.readBytes(&v.Target.Value)
				}
				return d.readU64(&v.Target.N)
			})
		default:
			return d.variant("CompareOperator", compareVariants, func(name string, hasValue bool) error {
				v.Op = KvCompare(name)
				return d.unitOnly(name, hasValue)
			})
		}
	})
	return err
}

// KvOperation is an operation of a KvBranch: *KvGet ("Get"), *KvPut
// ("Put"), *KvDelete ("Delete"), *KvDeleteByPrefix ("DeleteByPrefix"),
// *KvFetchIncreaseU64 ("FetchIncreaseU64") or *KvPutSequential
// ("PutSequential").
type KvOperation interface {
	variantShape
	isKvOperation()
}

func (*KvGet) isKvOperation()              {}
func (*KvPut) isKvOperation()              {}
func (*KvDelete) isKvOperation()           {}
func (*KvDeleteByPrefix) isKvOperation()   {}
func (*KvFetchIncreaseU64) isKvOperation() {}
func (*KvPutSequential) isKvOperation()    {}

func (*KvGet) variant() string              { return "Get" }
func (*KvPut) variant() string              { return "Put" }
func (*KvDelete) variant() string           { return "Delete" }
func (*KvDeleteByPrefix) variant() string   { return "DeleteByPrefix" }
func (*KvFetchIncreaseU64) variant() string { return "FetchIncreaseU64" }
func (*KvPutSequential) variant() string    { return "PutSequential" }

var kvOperationVariants = []string{"Get", "Put", "Delete", "DeleteByPrefix", "FetchIncreaseU64", "PutSequential"}

func newKvOperation(name string) KvOperation {
	switch name {
	case "Get":
		return &KvGet{}
	case "Put":
		return &KvPut{}
	case "Delete":
		return &KvDelete{}
	case "DeleteByPrefix":
		return &KvDeleteByPrefix{}
	case "FetchIncreaseU64":
		return &KvFetchIncreaseU64{}
	default:
		return &KvPutSequential{}
	}
}

// KvKeyLookup names the key an operation acts on, and the seq it must
// have: {"key":"k","match_seq":null}.
type KvKeyLookup struct {
	Key      string
	MatchSeq *uint64 // written as null when nil
}

// KvPayload is a value to write and its expiry:
// {"value":[..],"expire_at_ms":null,"ttl_ms":null}.
type KvPayload struct {
	Value      []byte
	ExpireAtMs *uint64 // written as null when nil
	TTLMs      *uint64 // written as null when nil; wins over ExpireAtMs
}

var (
	kvKeyLookupFields = fields{names: []string{"key", "match_seq"}, required: []string{"key"}}
	kvPayloadFields   = fields{names: []string{"value", "expire_at_ms", "ttl_ms"}, required: []string{"value"}}
)

func (v *KvKeyLookup) encode(e *encoder) {
	e.objOpen()
	e.key("key")
	e.str(v.Key)
	writePtr(e, "match_seq", v.MatchSeq, func(s *uint64) { e.u64(*s) })
	e.objClose()
}

func (v *KvKeyLookup) decode(d *decoder) error {
	_, err := d.object(&kvKeyLookupFields, func(i int) error {
		if i == 0 {
			return d.readStr(&v.Key)
		}
		return pointer(d, &v.MatchSeq, d.readU64)
	})
	return err
}

func (v *KvPayload) encode(e *encoder) {
	e.objOpen()
	e.key("value")
	e.bytes(v.Value)
	writePtr(e, "expire_at_ms", v.ExpireAtMs, func(t *uint64) { e.u64(*t) })
	writePtr(e, "ttl_ms", v.TTLMs, func(t *uint64) { e.u64(*t) })
	e.objClose()
}

func (v *KvPayload) decode(d *decoder) error {
	_, err := d.object(&kvPayloadFields, func(i int) error {
		switch i {
		case 0:
			return d.readBytes(&v.Value)
		case 1:
			return pointer(d, &v.ExpireAtMs, d.readU64)
		default:
			return pointer(d, &v.TTLMs, d.readU64)
		}
	})
	return err
}

// KvGet: {"key":"k"}.
type KvGet struct {
	Key string
}

func (v *KvGet) encode(e *encoder) { encodeString1(e, &keyFields, v.Key) }

func (v *KvGet) decode(d *decoder) error { return decodeString1(d, &keyFields, &v.Key) }

// KvPut: {"target":{...},"payload":{...}}.
type KvPut struct {
	Target  KvKeyLookup
	Payload KvPayload
}

var kvPutFields = fields{names: []string{"target", "payload"}, required: []string{"target", "payload"}}

func (v *KvPut) encode(e *encoder) {
	e.objOpen()
	e.key("target")
	v.Target.encode(e)
	e.key("payload")
	v.Payload.encode(e)
	e.objClose()
}

func (v *KvPut) decode(d *decoder) error {
	_, err := d.object(&kvPutFields, func(i int) error {
		if i == 0 {
			return v.Target.decode(d)
		}
		return v.Payload.decode(d)
	})
	return err
}

// KvDelete: {"target":{...}}.
type KvDelete struct {
	Target KvKeyLookup
}

var targetFields = fields{names: []string{"target"}, required: []string{"target"}}

func (v *KvDelete) encode(e *encoder) {
	e.objOpen()
	e.key("target")
	v.Target.encode(e)
	e.objClose()
}

func (v *KvDelete) decode(d *decoder) error {
	_, err := d.object(&targetFields, func(int) error { return v.Target.decode(d) })
	return err
}

// KvDeleteByPrefix: {"prefix":"p/"}.
type KvDeleteByPrefix struct {
	Prefix string
}

func (v *KvDeleteByPrefix) encode(e *encoder) { encodeString1(e, &prefixFields, v.Prefix) }

func (v *KvDeleteByPrefix) decode(d *decoder) error {
	return decodeString1(d, &prefixFields, &v.Prefix)
}

// KvFetchIncreaseU64: {"target":{...},"delta":1,"floor":0}.
type KvFetchIncreaseU64 struct {
	Target KvKeyLookup
	Delta  int64
	Floor  uint64
}

var kvFetchIncreaseFields = fields{names: []string{"target", "delta", "floor"}, required: []string{"target", "delta", "floor"}}

func (v *KvFetchIncreaseU64) encode(e *encoder) {
	e.objOpen()
	e.key("target")
	v.Target.encode(e)
	e.key("delta")
	e.i64(v.Delta)
	e.key("floor")
	e.u64(v.Floor)
	e.objClose()
}

func (v *KvFetchIncreaseU64) decode(d *decoder) error {
	_, err := d.object(&kvFetchIncreaseFields, func(i int) error {
		switch i {
		case 0:
			return v.Target.decode(d)
		case 1:
			n, err := d.int(64)
			v.Delta = n
			return err
		default:
			return d.readU64(&v.Floor)
		}
	})
	return err
}

// KvPutSequential: {"prefix":"p/","sequence_key":"s","payload":{...}}.
type KvPutSequential struct {
	Prefix      string
	SequenceKey string
	Payload     KvPayload
}

var kvPutSequentialFields = fields{
	names:    []string{"prefix", "sequence_key", "payload"},
	required: []string{"prefix", "sequence_key", "payload"},
}

func (v *KvPutSequential) encode(e *encoder) {
	e.objOpen()
	e.key("prefix")
	e.str(v.Prefix)
	e.key("sequence_key")
	e.str(v.SequenceKey)
	e.key("payload")
	v.Payload.encode(e)
	e.objClose()
}

func (v *KvPutSequential) decode(d *decoder) error {
	_, err := d.object(&kvPutSequentialFields, func(i int) error {
		switch i {
		case 0:
			return d.readStr(&v.Prefix)
		case 1:
			return d.readStr(&v.SequenceKey)
		default:
			return v.Payload.decode(d)
		}
	})
	return err
}
