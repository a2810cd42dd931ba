package databendjson

// SeqV is a stored value as Databend's state machine keeps it (Rust's
// seq_marked SeqV<KVMeta, Vec<u8>>), in the GenericKV lines of a dump and
// in KvApi replies: {"seq":2,"meta":{"expire_at":1667291025},"data":[49]}.
// Meta nil is written as null. This is not the protobuf SeqV of transaction
// replies (ProtoSeqV), whose fields are in another order.
type SeqV struct {
	Seq  uint64
	Meta *KVMeta
	Data []byte
}

var seqVFields = fields{names: []string{"seq", "meta", "data"}, required: []string{"seq", "data"}}

func (v *SeqV) encode(e *encoder) {
	e.objOpen()
	e.key("seq")
	e.u64(v.Seq)
	writePtr(e, "meta", v.Meta, func(m *KVMeta) { m.encode(e) })
	e.key("data")
	e.bytes(v.Data)
	e.objClose()
}

func (v *SeqV) decode(d *decoder) error {
	_, err := d.object(&seqVFields, func(i int) error {
		switch i {
		case 0:
			return d.readU64(&v.Seq)
		case 1:
			return pointer(d, &v.Meta, func(m *KVMeta) error { return m.decode(d) })
		default:
			return d.readBytes(&v.Data)
		}
	})
	return err
}

// KVMeta is a stored value's metadata: {"expire_at":1667291025},
// {"proposed_at_ms":1111111111111} or {}.
type KVMeta struct {
	// ExpireAt is seconds or milliseconds since the epoch (see
	// ExpireAtMs). Current form: absent; databend-meta before 2025 wrote
	// "expire_at":null.
	ExpireAt Opt[uint64]
	// ProposedAtMs is the time_ms of the entry that wrote the value (set
	// by databend-meta since 2025); left out when nil.
	ProposedAtMs *uint64
}

var kvMetaFields = fields{names: []string{"expire_at", "proposed_at_ms"}}

func (v *KVMeta) encode(e *encoder) {
	e.objOpen()
	writeOpt(e, "expire_at", v.ExpireAt, FormAbsent, e.u64)
	writeSkipNil(e, "proposed_at_ms", v.ProposedAtMs, func(t *uint64) { e.u64(*t) })
	e.objClose()
}

func (v *KVMeta) decode(d *decoder) error {
	present, err := d.object(&kvMetaFields, func(i int) error {
		if i == 0 {
			return optional(d, &v.ExpireAt, d.readU64)
		}
		return pointer(d, &v.ProposedAtMs, d.readU64)
	})
	absentForm(&v.ExpireAt, present, 0)
	return err
}

// ExpireAtMs returns the expiry in Unix milliseconds, and false when the
// value does not expire.
func (v *KVMeta) ExpireAtMs() (uint64, bool) {
	if v == nil || !v.ExpireAt.Valid {
		return 0, false
	}
	return ExpireAtMs(v.ExpireAt.Value), true
}

// MillisThreshold is where Databend's flexible timestamps switch unit: an
// expire_at greater than it is in milliseconds, one up to it in seconds
// (state_machine_api's flexible_timestamp_to_duration; the comment in
// request.proto that says 1_000_000_000_000 is not what the code does).
const MillisThreshold = 100_000_000_000

// ExpireAtMs converts a Databend expire_at (seconds or milliseconds since
// the epoch) to milliseconds.
func ExpireAtMs(expireAt uint64) uint64 {
	if expireAt > MillisThreshold {
		return expireAt
	}
	return expireAt * 1000
}

// ExpireKey is the key of an expiry index line: the expiry in Unix ms and
// the seq the expiring key had when it was written:
// {"time_ms":1667291025000,"seq":157}.
type ExpireKey struct {
	TimeMs uint64
	Seq    uint64
}

var expireKeyFields = fields{names: []string{"time_ms", "seq"}, required: []string{"time_ms", "seq"}}

func (v *ExpireKey) encode(e *encoder) { encodeU64Pair(e, &expireKeyFields, v.TimeMs, v.Seq) }

func (v *ExpireKey) decode(d *decoder) error {
	return decodeU64Pair(d, &expireKeyFields, &v.TimeMs, &v.Seq)
}

// ExpireValue is the value of an expiry index line: the key that expires,
// and the internal seq of the index record, left out when 0:
// {"seq":1,"key":"..."} (V004) or {"key":"..."} (V003).
type ExpireValue struct {
	Seq uint64
	Key string
}

var expireValueFields = fields{names: []string{"seq", "key"}, required: []string{"key"}}

func (v *ExpireValue) encode(e *encoder) {
	e.objOpen()
	if v.Seq != 0 {
		e.key("seq")
		e.u64(v.Seq)
	}
	e.key("key")
	e.str(v.Key)
	e.objClose()
}

func (v *ExpireValue) decode(d *decoder) error {
	_, err := d.object(&expireValueFields, func(i int) error {
		if i == 0 {
			return d.readU64(&v.Seq)
		}
		return d.readStr(&v.Key)
	})
	return err
}

// Change is the reply to an UpsertKV (RaftReply.data of KvApi): the value
// before and after, null when absent: {"ident":null,"prev":null,"result":{...}}.
type Change struct {
	Ident  *uint64
	Prev   *SeqV
	Result *SeqV
}

var changeFields = fields{names: []string{"ident", "prev", "result"}}

func (v *Change) encode(e *encoder) {
	e.objOpen()
	writePtr(e, "ident", v.Ident, func(i *uint64) { e.u64(*i) })
	writePtr(e, "prev", v.Prev, func(s *SeqV) { s.encode(e) })
	writePtr(e, "result", v.Result, func(s *SeqV) { s.encode(e) })
	e.objClose()
}

func (v *Change) decode(d *decoder) error {
	_, err := d.object(&changeFields, func(i int) error {
		switch i {
		case 0:
			return pointer(d, &v.Ident, d.readU64)
		case 1:
			return pointer(d, &v.Prev, func(s *SeqV) error { return s.decode(d) })
		default:
			return pointer(d, &v.Result, func(s *SeqV) error { return s.decode(d) })
		}
	})
	return err
}
