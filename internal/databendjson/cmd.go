package databendjson

// LogEntry is Databend's application data in a raft entry (the payload
// variant "Normal"): {"time_ms":1667290820099,"cmd":{...}}.
type LogEntry struct {
	// TxID: written as "txid":null by databend-meta before 2025-07-19,
	// absent since (current form: absent). Never set in practice.
	TxID Opt[TxID]
	// TimeMs is the leader's wall clock in Unix ms when it proposed the
	// entry; the state machine uses it as "now" for expiry and TTLs. Left
	// out when nil (databend-metactl import writes such entries).
	TimeMs *uint64
	Cmd    Cmd
}

// TxID is the client request id of early Databend versions:
// {"client":"...","serial":1}.
type TxID struct {
	Client string
	Serial uint64
}

var (
	logEntryFields = fields{names: []string{"txid", "time_ms", "cmd"}, required: []string{"cmd"}}
	txIDFields     = fields{names: []string{"client", "serial"}, required: []string{"client", "serial"}}
)

func (v *LogEntry) encode(e *encoder) {
	e.objOpen()
	writeOpt(e, "txid", v.TxID, FormAbsent, func(t TxID) { t.encode(e) })
	writeSkipNil(e, "time_ms", v.TimeMs, func(t *uint64) { e.u64(*t) })
	e.key("cmd")
	encodeCmd(e, v.Cmd)
	e.objClose()
}

func (v *LogEntry) decode(d *decoder) error {
	present, err := d.object(&logEntryFields, func(i int) error {
		switch i {
		case 0:
			return optional(d, &v.TxID, func(t *TxID) error { return t.decode(d) })
		case 1:
			return pointer(d, &v.TimeMs, d.readU64)
		default:
			return decodeCmd(d, &v.Cmd)
		}
	})
	absentForm(&v.TxID, present, 0)
	return err
}

func (v *TxID) encode(e *encoder) {
	e.objOpen()
	e.key("client")
	e.str(v.Client)
	e.key("serial")
	e.u64(v.Serial)
	e.objClose()
}

func (v *TxID) decode(d *decoder) error {
	_, err := d.object(&txIDFields, func(i int) error {
		if i == 0 {
			return d.readStr(&v.Client)
		}
		return d.readU64(&v.Serial)
	})
	return err
}

// Cmd is a command for Databend's state machine, written as
// {"Variant":{...}}: *AddNode, *RemoveNode, *SetFeature, *UpsertKV,
// *TxnRequest (the variant "Transaction") or *KvTransaction.
type Cmd interface {
	variantShape
	isCmd()
}

func (*AddNode) isCmd()       {}
func (*RemoveNode) isCmd()    {}
func (*SetFeature) isCmd()    {}
func (*UpsertKV) isCmd()      {}
func (*TxnRequest) isCmd()    {}
func (*KvTransaction) isCmd() {}

func (*AddNode) variant() string       { return "AddNode" }
func (*RemoveNode) variant() string    { return "RemoveNode" }
func (*SetFeature) variant() string    { return "SetFeature" }
func (*UpsertKV) variant() string      { return "UpsertKV" }
func (*TxnRequest) variant() string    { return "Transaction" }
func (*KvTransaction) variant() string { return "KvTransaction" }

var cmdVariants = []string{"AddNode", "RemoveNode", "SetFeature", "UpsertKV", "Transaction", "KvTransaction"}

func newCmd(name string) Cmd {
	switch name {
	case "AddNode":
		return &AddNode{}
	case "RemoveNode":
		return &RemoveNode{}
	case "SetFeature":
		return &SetFeature{}
	case "UpsertKV":
		return &UpsertKV{}
	case "Transaction":
		return &TxnRequest{}
	default:
		return &KvTransaction{}
	}
}

// MarshalCmd returns c as Databend writes a Cmd: {"UpsertKV":{...}}.
func MarshalCmd(c Cmd) ([]byte, error) {
	return marshalWith(func(e *encoder) { encodeCmd(e, c) })
}

// UnmarshalCmd reads a Cmd.
func UnmarshalCmd(data []byte) (Cmd, error) {
	var c Cmd
	err := unmarshalWith(data, func(d *decoder) error { return decodeCmd(d, &c) })
	return c, err
}

func encodeCmd(e *encoder, c Cmd) { encodeSum(e, "Cmd", c) }

func decodeCmd(d *decoder, c *Cmd) error { return decodeSum(d, "Cmd", cmdVariants, newCmd, c) }

// AddNode adds a cluster member to the state machine's node table, or
// replaces it when Overriding:
// {"node_id":1,"node":{...},"overriding":false}.
type AddNode struct {
	NodeID     uint64
	Node       Node
	Overriding bool
	// OverridingAbsent: the field was not written (databend-meta before
	// overriding existed; it reads as false). Encoding leaves it out too.
	OverridingAbsent bool
}

var addNodeFields = fields{names: []string{"node_id", "node", "overriding"}, required: []string{"node_id", "node"}}

func (v *AddNode) encode(e *encoder) {
	e.objOpen()
	e.key("node_id")
	e.u64(v.NodeID)
	e.key("node")
	v.Node.encode(e)
	if !v.OverridingAbsent || v.Overriding {
		e.key("overriding")
		e.boolean(v.Overriding)
	}
	e.objClose()
}

func (v *AddNode) decode(d *decoder) error {
	present, err := d.object(&addNodeFields, func(i int) error {
		switch i {
		case 0:
			return d.readU64(&v.NodeID)
		case 1:
			return v.Node.decode(d)
		default:
			return d.readBool(&v.Overriding)
		}
	})
	v.OverridingAbsent = present&(1<<2) == 0
	return err
}

// RemoveNode removes a member from the node table: {"node_id":3}.
type RemoveNode struct {
	NodeID uint64
}

var removeNodeFields = fields{names: []string{"node_id"}, required: []string{"node_id"}}

func (v *RemoveNode) encode(e *encoder) {
	e.objOpen()
	e.key("node_id")
	e.u64(v.NodeID)
	e.objClose()
}

func (v *RemoveNode) decode(d *decoder) error {
	_, err := d.object(&removeNodeFields, func(int) error { return d.readU64(&v.NodeID) })
	return err
}

// SetFeature turns a state machine feature on or off on every node:
// {"feature":"...","enable":true}.
type SetFeature struct {
	Feature string
	Enable  bool
}

var setFeatureFields = fields{names: []string{"feature", "enable"}, required: []string{"feature", "enable"}}

func (v *SetFeature) encode(e *encoder) {
	e.objOpen()
	e.key("feature")
	e.str(v.Feature)
	e.key("enable")
	e.boolean(v.Enable)
	e.objClose()
}

func (v *SetFeature) decode(d *decoder) error {
	_, err := d.object(&setFeatureFields, func(i int) error {
		if i == 0 {
			return d.readStr(&v.Feature)
		}
		return d.readBool(&v.Enable)
	})
	return err
}

// UpsertKV writes or deletes one key if its seq matches:
// {"key":"k","seq":{"Exact":0},"value":{"Update":[118]},"value_meta":null}.
// It is both a Cmd and the KvApi request (KvRequest variant "UpsertKV").
type UpsertKV struct {
	Key       string
	Seq       MatchSeq
	Value     Operation
	ValueMeta *MetaSpec // written as null when nil
}

var upsertKVFields = fields{
	names:    []string{"key", "seq", "value", "value_meta"},
	required: []string{"key", "seq", "value"},
}

func (v *UpsertKV) encode(e *encoder) {
	e.objOpen()
	e.key("key")
	e.str(v.Key)
	e.key("seq")
	v.Seq.encode(e)
	e.key("value")
	v.Value.encode(e)
	writePtr(e, "value_meta", v.ValueMeta, func(m *MetaSpec) { m.encode(e) })
	e.objClose()
}

func (v *UpsertKV) decode(d *decoder) error {
	_, err := d.object(&upsertKVFields, func(i int) error {
		switch i {
		case 0:
			return d.readStr(&v.Key)
		case 1:
			return v.Seq.decode(d)
		case 2:
			return v.Value.decode(d)
		default:
			return pointer(d, &v.ValueMeta, func(m *MetaSpec) error { return m.decode(d) })
		}
	})
	return err
}

// MatchSeqKind is the variant of a MatchSeq.
type MatchSeqKind uint8

const (
	MatchAny   MatchSeqKind = iota // "Any": no check
	MatchExact                     // {"Exact":n}: seq == n (0: the key is absent)
	MatchGE                        // {"GE":n}: seq >= n (1: the key exists)
)

// MatchSeq is the seq condition of an UpsertKV.
type MatchSeq struct {
	Kind MatchSeqKind
	N    uint64 // for MatchExact and MatchGE
}

var matchSeqVariants = []string{"Any", "Exact", "GE"}

func (v *MatchSeq) encode(e *encoder) {
	switch v.Kind {
	case MatchAny:
		e.str("Any")
		return
	case MatchExact, MatchGE:
	default:
		e.fail("MatchSeq kind %d", v.Kind)
	}
	e.variantOpen(matchSeqVariants[min(int(v.Kind), 2)])
	e.u64(v.N)
	e.objClose()
}

func (v *MatchSeq) decode(d *decoder) error {
	return d.variant("MatchSeq", matchSeqVariants, func(name string, hasValue bool) error {
		if name == "Any" {
			*v = MatchSeq{Kind: MatchAny}
			return d.unitOnly(name, hasValue)
		}
		v.Kind = MatchSeqKind(indexOf(matchSeqVariants, name))
		if err := d.dataOnly(name, hasValue); err != nil {
			return err
		}
		return d.readU64(&v.N)
	})
}

// OperationKind is the variant of an Operation.
type OperationKind uint8

const (
	OpUpdate OperationKind = iota // {"Update":[bytes]}: set the value
	OpDelete                      // "Delete": remove the key
	OpAsIs                        // "AsIs": keep the value, change only value_meta (deprecated by Databend)
)

// Operation is what an UpsertKV does to the value.
type Operation struct {
	Kind  OperationKind
	Value []byte // for OpUpdate
}

var operationVariants = []string{"Update", "Delete", "AsIs"}

func (v *Operation) encode(e *encoder) {
	switch v.Kind {
	case OpUpdate:
		e.variantOpen("Update")
		e.bytes(v.Value)
		e.objClose()
	case OpDelete, OpAsIs:
		e.str(operationVariants[v.Kind])
	default:
		e.fail("Operation kind %d", v.Kind)
		e.null()
	}
}

func (v *Operation) decode(d *decoder) error {
	return d.variant("Operation", operationVariants, func(name string, hasValue bool) error {
		*v = Operation{Kind: OperationKind(indexOf(operationVariants, name))}
		if name != "Update" {
			return d.unitOnly(name, hasValue)
		}
		if err := d.dataOnly(name, hasValue); err != nil {
			return err
		}
		return d.readBytes(&v.Value)
	})
}

// MetaSpec is the value_meta of an UpsertKV: {"expire_at":1667290884} or
// {"expire_at":null,"ttl":{"millis":100}}. ExpireAt is seconds or
// milliseconds since the epoch (see ExpireAtMs); TTL, when set, wins and
// counts from the entry's time_ms.
type MetaSpec struct {
	ExpireAt *uint64   // written as null when nil
	TTL      *Interval // left out when nil
}

var metaSpecFields = fields{names: []string{"expire_at", "ttl"}}

func (v *MetaSpec) encode(e *encoder) {
	e.objOpen()
	writePtr(e, "expire_at", v.ExpireAt, func(t *uint64) { e.u64(*t) })
	writeSkipNil(e, "ttl", v.TTL, func(i *Interval) { i.encode(e) })
	e.objClose()
}

func (v *MetaSpec) decode(d *decoder) error {
	_, err := d.object(&metaSpecFields, func(i int) error {
		if i == 0 {
			return pointer(d, &v.ExpireAt, d.readU64)
		}
		return pointer(d, &v.TTL, func(t *Interval) error { return t.decode(d) })
	})
	return err
}

// Interval is a duration in milliseconds: {"millis":100}.
type Interval struct {
	Millis uint64
}

var intervalFields = fields{names: []string{"millis"}, required: []string{"millis"}}

func (v *Interval) encode(e *encoder) {
	e.objOpen()
	e.key("millis")
	e.u64(v.Millis)
	e.objClose()
}

func (v *Interval) decode(d *decoder) error {
	_, err := d.object(&intervalFields, func(int) error { return d.readU64(&v.Millis) })
	return err
}
