package databendjson

// KvRequest is the JSON in RaftRequest.data of the KvApi and KvReadV1 RPCs
// (Databend's MetaGrpcReq and MetaGrpcReadReq): {"UpsertKV":{...}},
// {"GetKV":{"key":"k"}}, {"MGetKV":{"keys":[...]}} or
// {"ListKV":{"prefix":"p/"}}. The KvApi RPC takes UpsertKV (and, from
// older clients, the three reads); KvReadV1 takes the three reads.
type KvRequest interface {
	variantShape
	isKvRequest()
}

func (*UpsertKV) isKvRequest() {}
func (*GetKV) isKvRequest()    {}
func (*MGetKV) isKvRequest()   {}
func (*ListKV) isKvRequest()   {}

func (*GetKV) variant() string  { return "GetKV" }
func (*MGetKV) variant() string { return "MGetKV" }
func (*ListKV) variant() string { return "ListKV" }

var kvRequestVariants = []string{"UpsertKV", "GetKV", "MGetKV", "ListKV"}

func newKvRequest(name string) KvRequest {
	switch name {
	case "UpsertKV":
		return &UpsertKV{}
	case "GetKV":
		return &GetKV{}
	case "MGetKV":
		return &MGetKV{}
	default:
		return &ListKV{}
	}
}

// MarshalKvRequest returns r as RaftRequest.data.
func MarshalKvRequest(r KvRequest) ([]byte, error) {
	return marshalWith(func(e *encoder) { encodeSum(e, "KvRequest", r) })
}

// UnmarshalKvRequest reads RaftRequest.data.
func UnmarshalKvRequest(data []byte) (KvRequest, error) {
	var r KvRequest
	err := unmarshalWith(data, func(d *decoder) error {
		return decodeSum(d, "KvRequest", kvRequestVariants, newKvRequest, &r)
	})
	return r, err
}

// GetKV reads one key: {"key":"k"}. Reply: GetKVReply.
type GetKV struct {
	Key string
}

func (v *GetKV) encode(e *encoder) { encodeString1(e, &keyFields, v.Key) }

func (v *GetKV) decode(d *decoder) error { return decodeString1(d, &keyFields, &v.Key) }

// MGetKV reads several keys: {"keys":["a","b"]}. Reply: MGetKVReply.
type MGetKV struct {
	Keys []string
}

var keysFields = fields{names: []string{"keys"}, required: []string{"keys"}}

func (v *MGetKV) encode(e *encoder) {
	e.objOpen()
	writeList(e, "keys", v.Keys, func(k *string) { e.str(*k) })
	e.objClose()
}

func (v *MGetKV) decode(d *decoder) error {
	_, err := d.object(&keysFields, func(int) error {
		return readList(d, &v.Keys, func(k *string, d *decoder) error { return d.readStr(k) })
	})
	return err
}

// ListKV lists the keys under a prefix: {"prefix":"p/"}. Reply:
// ListKVReply.
type ListKV struct {
	Prefix string
}

func (v *ListKV) encode(e *encoder) { encodeString1(e, &prefixFields, v.Prefix) }

func (v *ListKV) decode(d *decoder) error { return decodeString1(d, &prefixFields, &v.Prefix) }

// GetKVReply is RaftReply.data for GetKV: the SeqV, or null.
type GetKVReply struct {
	Value *SeqV
}

func (v *GetKVReply) encode(e *encoder) {
	if v.Value == nil {
		e.null()
		return
	}
	v.Value.encode(e)
}

func (v *GetKVReply) decode(d *decoder) error {
	return pointer(d, &v.Value, func(s *SeqV) error { return s.decode(d) })
}

// MGetKVReply is RaftReply.data for MGetKV: one SeqV or null per key, in
// the order asked.
type MGetKVReply struct {
	Values []*SeqV
}

func (v *MGetKVReply) encode(e *encoder) {
	e.arrOpen()
	for _, s := range v.Values {
		e.elem()
		(&GetKVReply{Value: s}).encode(e)
	}
	e.arrClose()
}

func (v *MGetKVReply) decode(d *decoder) error {
	v.Values = []*SeqV{}
	return d.array(func(int) error {
		var r GetKVReply
		err := r.decode(d)
		v.Values = append(v.Values, r.Value)
		return err
	})
}

// KeySeqV is one item of a ListKVReply, written as a pair: ["k",{...}].
type KeySeqV struct {
	Key   string
	Value SeqV
}

// ListKVReply is RaftReply.data for ListKV: [["k",{...}],...], in key
// order.
type ListKVReply struct {
	Items []KeySeqV
}

func (v *ListKVReply) encode(e *encoder) {
	e.arrOpen()
	for i := range v.Items {
		e.elem()
		e.arrOpen()
		e.elem()
		e.str(v.Items[i].Key)
		e.elem()
		v.Items[i].Value.encode(e)
		e.arrClose()
	}
	e.arrClose()
}

func (v *ListKVReply) decode(d *decoder) error {
	v.Items = []KeySeqV{}
	return d.array(func(int) error {
		var it KeySeqV
		n := 0
		err := d.array(func(i int) error {
			n++
			switch i {
			case 0:
				return d.readStr(&it.Key)
			case 1:
				return it.Value.decode(d)
			default:
				return d.shapeErr("a list item is [key, value]")
			}
		})
		if err == nil && n != 2 {
			err = d.shapeErr("a list item is [key, value], got %d elements", n)
		}
		v.Items = append(v.Items, it)
		return err
	})
}
