package databendjson

import (
	"strconv"
)

// Openraft's types as databend-meta instantiates them (openraft 0.10,
// leader_id_adv: a committed leader id is {term, node_id}; EmptyNode as the
// membership node).

// LeaderID is a committed leader id: {"term":1,"node_id":0}.
type LeaderID struct {
	Term   uint64
	NodeID uint64
}

var leaderIDFields = fields{names: []string{"term", "node_id"}, required: []string{"term", "node_id"}}

func (v *LeaderID) encode(e *encoder) { encodeU64Pair(e, &leaderIDFields, v.Term, v.NodeID) }

func (v *LeaderID) decode(d *decoder) error {
	return decodeU64Pair(d, &leaderIDFields, &v.Term, &v.NodeID)
}

// LogID identifies a raft log entry:
// {"leader_id":{"term":1,"node_id":0},"index":83}.
type LogID struct {
	LeaderID LeaderID
	Index    uint64
}

var logIDFields = fields{names: []string{"leader_id", "index"}, required: []string{"leader_id", "index"}}

func (v *LogID) encode(e *encoder) {
	e.objOpen()
	e.key("leader_id")
	v.LeaderID.encode(e)
	e.key("index")
	e.u64(v.Index)
	e.objClose()
}

func (v *LogID) decode(d *decoder) error {
	_, err := d.object(&logIDFields, func(i int) error {
		if i == 0 {
			return v.LeaderID.decode(d)
		}
		return d.readU64(&v.Index)
	})
	return err
}

// Vote is raft's hard state:
// {"leader_id":{"term":1,"node_id":1},"committed":false}.
type Vote struct {
	LeaderID  LeaderID
	Committed bool
}

var voteFields = fields{names: []string{"leader_id", "committed"}, required: []string{"leader_id", "committed"}}

func (v *Vote) encode(e *encoder) {
	e.objOpen()
	e.key("leader_id")
	v.LeaderID.encode(e)
	e.key("committed")
	e.boolean(v.Committed)
	e.objClose()
}

func (v *Vote) decode(d *decoder) error {
	_, err := d.object(&voteFields, func(i int) error {
		if i == 0 {
			return v.LeaderID.decode(d)
		}
		return d.readBool(&v.Committed)
	})
	return err
}

// Membership is a raft membership config:
// {"configs":[[1,2],[1,2,3]],"nodes":{"1":{},"2":{},"3":{}}}. Configs has
// one voter set, or two during a joint change; Nodes lists every member
// (voters and learners), each written as "id":{} (openraft's EmptyNode).
// Databend writes both in ascending order (BTreeSet, BTreeMap); they are
// written here in the order held.
type Membership struct {
	Configs [][]uint64
	Nodes   []uint64
}

var membershipFields = fields{names: []string{"configs", "nodes"}, required: []string{"configs", "nodes"}}

func (v *Membership) encode(e *encoder) {
	e.objOpen()
	e.key("configs")
	e.arrOpen()
	for _, c := range v.Configs {
		e.elem()
		e.arrOpen()
		for _, id := range c {
			e.elem()
			e.u64(id)
		}
		e.arrClose()
	}
	e.arrClose()
	e.key("nodes")
	e.objOpen()
	for _, id := range v.Nodes {
		e.key(strconv.FormatUint(id, 10))
		e.b = append(e.b, "{}"...)
	}
	e.objClose()
	e.objClose()
}

func (v *Membership) decode(d *decoder) error {
	v.Configs, v.Nodes = [][]uint64{}, []uint64{}
	_, err := d.object(&membershipFields, func(i int) error {
		if i == 0 {
			return d.array(func(int) error {
				c := []uint64{}
				err := d.array(func(int) error {
					id, err := d.u64()
					c = append(c, id)
					return err
				})
				v.Configs = append(v.Configs, c)
				return err
			})
		}
		return d.mapObject(func(k string) error {
			id, err := strconv.ParseUint(k, 10, 64)
			if err != nil || strconv.FormatUint(id, 10) != k {
				return d.shapeErr("node id %q is not an unsigned integer", k)
			}
			v.Nodes = append(v.Nodes, id)
			return d.mapObject(func(k string) error {
				return d.fieldErr("unknown field %q: a membership node is {}", k)
			})
		})
	})
	return err
}

// StoredMembership is a membership and the log id of the entry that holds
// it: {"log_id":{...},"membership":{...}}; LogID nil is written as null.
type StoredMembership struct {
	LogID      *LogID
	Membership Membership
}

var storedMembershipFields = fields{names: []string{"log_id", "membership"}, required: []string{"membership"}}

func (v *StoredMembership) encode(e *encoder) {
	e.objOpen()
	writePtr(e, "log_id", v.LogID, func(l *LogID) { l.encode(e) })
	e.key("membership")
	v.Membership.encode(e)
	e.objClose()
}

func (v *StoredMembership) decode(d *decoder) error {
	_, err := d.object(&storedMembershipFields, func(i int) error {
		if i == 0 {
			return pointer(d, &v.LogID, func(l *LogID) error { return l.decode(d) })
		}
		return v.Membership.decode(d)
	})
	return err
}

// Entry is a raft log entry: {"log_id":{...},"payload":...}.
type Entry struct {
	LogID   LogID
	Payload Payload
}

// Payload is what a raft log entry carries: Blank{}, *LogEntry (Databend's
// command, the variant "Normal") or *Membership.
type Payload interface {
	payloadVariant() string
}

// Blank is the payload of the empty entry a new leader appends: "Blank".
type Blank struct{}

func (Blank) payloadVariant() string       { return "Blank" }
func (*LogEntry) payloadVariant() string   { return "Normal" }
func (*Membership) payloadVariant() string { return "Membership" }

var (
	entryFields     = fields{names: []string{"log_id", "payload"}, required: []string{"log_id", "payload"}}
	payloadVariants = []string{"Blank", "Normal", "Membership"}
)

func (v *Entry) encode(e *encoder) {
	e.objOpen()
	e.key("log_id")
	v.LogID.encode(e)
	e.key("payload")
	encodePayload(e, v.Payload)
	e.objClose()
}

func encodePayload(e *encoder, p Payload) {
	switch p := p.(type) {
	case Blank:
		e.str("Blank")
	case *LogEntry:
		e.variantOpen("Normal")
		p.encode(e)
		e.objClose()
	case *Membership:
		e.variantOpen("Membership")
		p.encode(e)
		e.objClose()
	default:
		e.fail("entry payload %T", p)
		e.null()
	}
}

func (v *Entry) decode(d *decoder) error {
	_, err := d.object(&entryFields, func(i int) error {
		if i == 0 {
			return v.LogID.decode(d)
		}
		return decodePayload(d, &v.Payload)
	})
	return err
}

func decodePayload(d *decoder, p *Payload) error {
	return d.variant("EntryPayload", payloadVariants, func(name string, hasValue bool) error {
		switch name {
		case "Blank":
			*p = Blank{}
			return d.unitOnly(name, hasValue)
		case "Normal":
			le := &LogEntry{}
			*p = le
			if err := d.dataOnly(name, hasValue); err != nil {
				return err
			}
			return le.decode(d)
		default:
			m := &Membership{}
			*p = m
			if err := d.dataOnly(name, hasValue); err != nil {
				return err
			}
			return m.decode(d)
		}
	})
}

// Node is a member of a Databend cluster as the state machine stores it
// (AddNode, the Nodes lines of a dump):
// {"name":"1","endpoint":{"addr":"localhost","port":28103},"grpc_api_advertise_address":"0.0.0.0:9191"}.
// GrpcAPIAdvertiseAddress nil is written as null.
type Node struct {
	Name                    string
	Endpoint                Endpoint
	GrpcAPIAdvertiseAddress *string
}

var nodeFields = fields{
	names:    []string{"name", "endpoint", "grpc_api_advertise_address"},
	required: []string{"name", "endpoint"},
}

func (v *Node) encode(e *encoder) {
	e.objOpen()
	e.key("name")
	e.str(v.Name)
	e.key("endpoint")
	v.Endpoint.encode(e)
	writePtr(e, "grpc_api_advertise_address", v.GrpcAPIAdvertiseAddress, func(s *string) { e.str(*s) })
	e.objClose()
}

func (v *Node) decode(d *decoder) error {
	_, err := d.object(&nodeFields, func(i int) error {
		switch i {
		case 0:
			return d.readStr(&v.Name)
		case 1:
			return v.Endpoint.decode(d)
		default:
			return pointer(d, &v.GrpcAPIAdvertiseAddress, d.readStr)
		}
	})
	return err
}

// Endpoint is a node's raft address: {"addr":"localhost","port":28103}.
type Endpoint struct {
	Addr string
	Port uint16
}

var endpointFields = fields{names: []string{"addr", "port"}, required: []string{"addr", "port"}}

func (v *Endpoint) encode(e *encoder) {
	e.objOpen()
	e.key("addr")
	e.str(v.Addr)
	e.key("port")
	e.u64(uint64(v.Port))
	e.objClose()
}

func (v *Endpoint) decode(d *decoder) error {
	_, err := d.object(&endpointFields, func(i int) error {
		if i == 0 {
			return d.readStr(&v.Addr)
		}
		p, err := d.uint(16)
		v.Port = uint16(p)
		return err
	})
	return err
}
