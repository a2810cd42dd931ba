package databendjson

// TxnReply is the result of a TxnRequest:
// {"success":true,"responses":[...],"execution_path":"then"}.
type TxnReply struct {
	Success       bool
	Responses     []TxnOpResponse
	ExecutionPath string // "then", "else" or "operation:{i}"
}

var txnReplyFields = fields{
	names:    []string{"success", "responses", "execution_path"},
	required: []string{"success", "responses", "execution_path"},
}

func (v *TxnReply) encode(e *encoder) {
	e.objOpen()
	e.key("success")
	e.boolean(v.Success)
	writeList(e, "responses", v.Responses, func(r *TxnOpResponse) { r.encode(e) })
	e.key("execution_path")
	e.str(v.ExecutionPath)
	e.objClose()
}

func (v *TxnReply) decode(d *decoder) error {
	v.Responses = []TxnOpResponse{}
	_, err := d.object(&txnReplyFields, func(i int) error {
		switch i {
		case 0:
			return d.readBool(&v.Success)
		case 1:
			return readList(d, &v.Responses, (*TxnOpResponse).decode)
		default:
			return d.readStr(&v.ExecutionPath)
		}
	})
	return err
}

// KvTransactionReply is the result of a KvTransaction:
// {"executed_branch":0,"responses":[...]}; ExecutedBranch nil (null) when
// no branch ran.
type KvTransactionReply struct {
	ExecutedBranch *uint32
	Responses      []TxnOpResponse
}

var kvTransactionReplyFields = fields{names: []string{"executed_branch", "responses"}, required: []string{"responses"}}

func (v *KvTransactionReply) encode(e *encoder) {
	e.objOpen()
	writePtr(e, "executed_branch", v.ExecutedBranch, func(b *uint32) { e.u64(uint64(*b)) })
	writeList(e, "responses", v.Responses, func(r *TxnOpResponse) { r.encode(e) })
	e.objClose()
}

func (v *KvTransactionReply) decode(d *decoder) error {
	v.Responses = []TxnOpResponse{}
	_, err := d.object(&kvTransactionReplyFields, func(i int) error {
		if i == 0 {
			return pointer(d, &v.ExecutedBranch, d.readU32)
		}
		return readList(d, &v.Responses, (*TxnOpResponse).decode)
	})
	return err
}

// TxnOpResponse is the result of one TxnOp: {"response":{"Get":{...}}}.
// Response nil is written as null.
type TxnOpResponse struct {
	Response TxnResponse
}

// TxnResponse is the oneof of a TxnOpResponse: *TxnGetResponse ("Get"),
// *TxnPutResponse ("Put"), *TxnDeleteResponse ("Delete"),
// *TxnDeleteByPrefixResponse ("DeleteByPrefix") or
// *FetchIncreaseU64Response ("FetchIncreaseU64").
type TxnResponse interface {
	variantShape
	isTxnResponse()
}

func (*TxnGetResponse) isTxnResponse()            {}
func (*TxnPutResponse) isTxnResponse()            {}
func (*TxnDeleteResponse) isTxnResponse()         {}
func (*TxnDeleteByPrefixResponse) isTxnResponse() {}
func (*FetchIncreaseU64Response) isTxnResponse()  {}

func (*TxnGetResponse) variant() string            { return "Get" }
func (*TxnPutResponse) variant() string            { return "Put" }
func (*TxnDeleteResponse) variant() string         { return "Delete" }
func (*TxnDeleteByPrefixResponse) variant() string { return "DeleteByPrefix" }
func (*FetchIncreaseU64Response) variant() string  { return "FetchIncreaseU64" }

var (
	txnOpResponseFields  = fields{names: []string{"response"}}
	txnResponseVariants  = []string{"Get", "Put", "Delete", "DeleteByPrefix", "FetchIncreaseU64"}
	keyValueFields       = fields{names: []string{"key", "value"}, required: []string{"key"}}
	putResponseFields    = fields{names: []string{"key", "prev_value", "current"}, required: []string{"key"}}
	deleteResponseFields = fields{names: []string{"key", "success", "prev_value"}, required: []string{"key", "success"}}
	deleteByPrefixFields = fields{names: []string{"prefix", "count"}, required: []string{"prefix", "count"}}
	fetchIncreaseFields  = fields{
		names:    []string{"key", "before_seq", "before", "after_seq", "after"},
		required: []string{"key", "before_seq", "before", "after_seq", "after"},
	}
)

func newTxnResponse(name string) TxnResponse {
	switch name {
	case "Get":
		return &TxnGetResponse{}
	case "Put":
		return &TxnPutResponse{}
	case "Delete":
		return &TxnDeleteResponse{}
	case "DeleteByPrefix":
		return &TxnDeleteByPrefixResponse{}
	default:
		return &FetchIncreaseU64Response{}
	}
}

func (v *TxnOpResponse) encode(e *encoder) {
	e.objOpen()
	writeOneof(e, "response", "TxnOpResponse response", v.Response)
	e.objClose()
}

func (v *TxnOpResponse) decode(d *decoder) error {
	_, err := d.object(&txnOpResponseFields, func(int) error {
		return optionalSum(d, "response", txnResponseVariants, newTxnResponse, &v.Response)
	})
	return err
}

// writeProtoSeqV writes an optional SeqV field of a response.
func writeProtoSeqV(e *encoder, name string, v *ProtoSeqV) {
	writePtr(e, name, v, func(s *ProtoSeqV) { s.encode(e) })
}

func readProtoSeqV(d *decoder, v **ProtoSeqV) error {
	return pointer(d, v, func(s *ProtoSeqV) error { return s.decode(d) })
}

// TxnGetResponse: {"key":"k","value":{"seq":1,"data":[..],"meta":null}}.
type TxnGetResponse struct {
	Key   string
	Value *ProtoSeqV // null when the key is absent
}

func (v *TxnGetResponse) encode(e *encoder) {
	e.objOpen()
	e.key("key")
	e.str(v.Key)
	writeProtoSeqV(e, "value", v.Value)
	e.objClose()
}

func (v *TxnGetResponse) decode(d *decoder) error {
	_, err := d.object(&keyValueFields, func(i int) error {
		if i == 0 {
			return d.readStr(&v.Key)
		}
		return readProtoSeqV(d, &v.Value)
	})
	return err
}

// TxnPutResponse: {"key":"k","prev_value":null,"current":{...}}.
type TxnPutResponse struct {
	Key       string
	PrevValue *ProtoSeqV
	Current   *ProtoSeqV
}

func (v *TxnPutResponse) encode(e *encoder) {
	e.objOpen()
	e.key("key")
	e.str(v.Key)
	writeProtoSeqV(e, "prev_value", v.PrevValue)
	writeProtoSeqV(e, "current", v.Current)
	e.objClose()
}

func (v *TxnPutResponse) decode(d *decoder) error {
	_, err := d.object(&putResponseFields, func(i int) error {
		switch i {
		case 0:
			return d.readStr(&v.Key)
		case 1:
			return readProtoSeqV(d, &v.PrevValue)
		default:
			return readProtoSeqV(d, &v.Current)
		}
	})
	return err
}

// TxnDeleteResponse: {"key":"k","success":true,"prev_value":{...}}.
type TxnDeleteResponse struct {
	Key       string
	Success   bool
	PrevValue *ProtoSeqV
}

func (v *TxnDeleteResponse) encode(e *encoder) {
	e.objOpen()
	e.key("key")
	e.str(v.Key)
	e.key("success")
	e.boolean(v.Success)
	writeProtoSeqV(e, "prev_value", v.PrevValue)
	e.objClose()
}

func (v *TxnDeleteResponse) decode(d *decoder) error {
	_, err := d.object(&deleteResponseFields, func(i int) error {
		switch i {
		case 0:
			return d.readStr(&v.Key)
		case 1:
			return d.readBool(&v.Success)
		default:
			return readProtoSeqV(d, &v.PrevValue)
		}
	})
	return err
}

// TxnDeleteByPrefixResponse: {"prefix":"p/","count":3}.
type TxnDeleteByPrefixResponse struct {
	Prefix string
	Count  uint32
}

func (v *TxnDeleteByPrefixResponse) encode(e *encoder) {
	e.objOpen()
	e.key("prefix")
	e.str(v.Prefix)
	e.key("count")
	e.u64(uint64(v.Count))
	e.objClose()
}

func (v *TxnDeleteByPrefixResponse) decode(d *decoder) error {
	_, err := d.object(&deleteByPrefixFields, func(i int) error {
		if i == 0 {
			return d.readStr(&v.Prefix)
		}
		return d.readU32(&v.Count)
	})
	return err
}

// FetchIncreaseU64Response:
// {"key":"k","before_seq":0,"before":0,"after_seq":5,"after":1}.
type FetchIncreaseU64Response struct {
	Key       string
	BeforeSeq uint64
	Before    uint64
	AfterSeq  uint64
	After     uint64
}

func (v *FetchIncreaseU64Response) encode(e *encoder) {
	e.objOpen()
	e.key("key")
	e.str(v.Key)
	for i, n := range []uint64{v.BeforeSeq, v.Before, v.AfterSeq, v.After} {
		e.key(fetchIncreaseFields.names[i+1])
		e.u64(n)
	}
	e.objClose()
}

func (v *FetchIncreaseU64Response) decode(d *decoder) error {
	_, err := d.object(&fetchIncreaseFields, func(i int) error {
		if i == 0 {
			return d.readStr(&v.Key)
		}
		return d.readU64([]*uint64{&v.BeforeSeq, &v.Before, &v.AfterSeq, &v.After}[i-1])
	})
	return err
}

// ProtoSeqV is the protobuf SeqV inside transaction replies. Its JSON
// differs from SeqV's: fields in proto order, meta fields always written:
// {"seq":1,"data":[..],"meta":{"expire_at":null,"proposed_at_ms":1}}.
type ProtoSeqV struct {
	Seq  uint64
	Data []byte
	Meta *ProtoKVMeta // written as null when nil
}

var protoSeqVFields = fields{names: []string{"seq", "data", "meta"}, required: []string{"seq", "data"}}

func (v *ProtoSeqV) encode(e *encoder) {
	e.objOpen()
	e.key("seq")
	e.u64(v.Seq)
	e.key("data")
	e.bytes(v.Data)
	writePtr(e, "meta", v.Meta, func(m *ProtoKVMeta) { m.encode(e) })
	e.objClose()
}

func (v *ProtoSeqV) decode(d *decoder) error {
	_, err := d.object(&protoSeqVFields, func(i int) error {
		switch i {
		case 0:
			return d.readU64(&v.Seq)
		case 1:
			return d.readBytes(&v.Data)
		default:
			return pointer(d, &v.Meta, func(m *ProtoKVMeta) error { return m.decode(d) })
		}
	})
	return err
}

// ProtoKVMeta is the protobuf KVMeta: both fields written, null when nil.
type ProtoKVMeta struct {
	ExpireAt     *uint64
	ProposedAtMs *uint64
}

var protoKVMetaFields = fields{names: []string{"expire_at", "proposed_at_ms"}}

func (v *ProtoKVMeta) encode(e *encoder) {
	e.objOpen()
	writePtr(e, "expire_at", v.ExpireAt, func(t *uint64) { e.u64(*t) })
	writePtr(e, "proposed_at_ms", v.ProposedAtMs, func(t *uint64) { e.u64(*t) })
	e.objClose()
}

func (v *ProtoKVMeta) decode(d *decoder) error {
	_, err := d.object(&protoKVMetaFields, func(i int) error {
		if i == 0 {
			return pointer(d, &v.ExpireAt, d.readU64)
		}
		return pointer(d, &v.ProposedAtMs, d.readU64)
	})
	return err
}
