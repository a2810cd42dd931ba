package databendjson

// The keys and values of the dump entry kinds that are not used elsewhere.

// DataVersion is the version of Databend's on-disk data: "V0", "V001",
// "V002", "V003" or "V004".
type DataVersion string

const (
	V0   DataVersion = "V0"
	V001 DataVersion = "V001"
	V002 DataVersion = "V002"
	V003 DataVersion = "V003"
	V004 DataVersion = "V004"
)

var dataVersions = []string{"V0", "V001", "V002", "V003", "V004"}

// Header is the value of the DataHeader line: {"version":"V004"}.
type Header struct {
	Version DataVersion
	// Upgrading is the version an unfinished upgrade goes to. Current
	// form: absent; databend-meta before it was skipped wrote
	// "upgrading":null (the V003 dump does).
	Upgrading Opt[DataVersion]
	// Cleaning: an upgrade is removing the old data; written only when
	// true.
	Cleaning bool
}

var headerFields = fields{names: []string{"version", "upgrading", "cleaning"}, required: []string{"version"}}

func (v *Header) encode(e *encoder) {
	e.objOpen()
	e.key("version")
	writeUnit(e, "DataVersion", string(v.Version), dataVersions)
	writeOpt(e, "upgrading", v.Upgrading, FormAbsent, func(dv DataVersion) {
		writeUnit(e, "DataVersion", string(dv), dataVersions)
	})
	if v.Cleaning {
		e.key("cleaning")
		e.boolean(true)
	}
	e.objClose()
}

func (v *Header) decode(d *decoder) error {
	readVersion := func(dv *DataVersion) error {
		s, err := readUnit(d, "DataVersion", dataVersions)
		*dv = DataVersion(s)
		return err
	}
	present, err := d.object(&headerFields, func(i int) error {
		switch i {
		case 0:
			return readVersion(&v.Version)
		case 1:
			return optional(d, &v.Upgrading, readVersion)
		default:
			return d.readBool(&v.Cleaning)
		}
	})
	absentForm(&v.Upgrading, present, 1)
	return err
}

// StateMachineMetaKey: "LastApplied", "Initialized" (obsolete since V002)
// or "LastMembership".
type StateMachineMetaKey string

const (
	LastApplied    StateMachineMetaKey = "LastApplied"
	Initialized    StateMachineMetaKey = "Initialized"
	LastMembership StateMachineMetaKey = "LastMembership"
)

var smMetaKeys = []string{"LastApplied", "Initialized", "LastMembership"}

// SMValueKind is the variant of a StateMachineMetaValue.
type SMValueKind uint8

const (
	SMValueLogID      SMValueKind = iota // {"LogId":{...}}, for LastApplied
	SMValueBool                          // {"Bool":true}, for Initialized
	SMValueMembership                    // {"Membership":{"log_id":...,"membership":...}}, for LastMembership
)

// StateMachineMetaValue is the value of a StateMachineMeta line.
type StateMachineMetaValue struct {
	Kind       SMValueKind
	LogID      LogID
	Bool       bool
	Membership StoredMembership
}

var smMetaValueVariants = []string{"LogId", "Bool", "Membership"}

func (v *StateMachineMetaValue) encode(e *encoder) {
	switch v.Kind {
	case SMValueLogID:
		e.variantOpen("LogId")
		v.LogID.encode(e)
	case SMValueBool:
		e.variantOpen("Bool")
		e.boolean(v.Bool)
	case SMValueMembership:
		e.variantOpen("Membership")
		v.Membership.encode(e)
	default:
		e.fail("StateMachineMetaValue kind %d", v.Kind)
		e.objOpen()
	}
	e.objClose()
}

func (v *StateMachineMetaValue) decode(d *decoder) error {
	return d.variant("StateMachineMetaValue", smMetaValueVariants, func(name string, hasValue bool) error {
		*v = StateMachineMetaValue{Kind: SMValueKind(indexOf(smMetaValueVariants, name))}
		if err := d.dataOnly(name, hasValue); err != nil {
			return err
		}
		switch v.Kind {
		case SMValueLogID:
			return v.LogID.decode(d)
		case SMValueBool:
			return d.readBool(&v.Bool)
		default:
			return v.Membership.decode(d)
		}
	})
}

// RaftStateKey: "Id", "HardState", "StateMachineId" (obsolete) or
// "Committed".
type RaftStateKey string

const (
	RaftStateID             RaftStateKey = "Id"
	RaftStateHardState      RaftStateKey = "HardState"
	RaftStateStateMachineID RaftStateKey = "StateMachineId"
	RaftStateCommitted      RaftStateKey = "Committed"
)

var raftStateKeys = []string{"Id", "HardState", "StateMachineId", "Committed"}

// RaftStateKind is the variant of a RaftStateValue.
type RaftStateKind uint8

const (
	RaftStateValueNodeID         RaftStateKind = iota // {"NodeId":1}
	RaftStateValueHardState                           // {"HardState":{vote}}
	RaftStateValueStateMachineID                      // {"StateMachineId":[1,0]}
	RaftStateValueCommitted                           // {"Committed":{log id} or null}
)

// RaftStateValue is the value of a V003 RaftStateKV line.
type RaftStateValue struct {
	Kind           RaftStateKind
	NodeID         uint64
	Vote           Vote
	StateMachineID [2]uint64 // active, previous
	Committed      *LogID
}

var raftStateValueVariants = []string{"NodeId", "HardState", "StateMachineId", "Committed"}

func (v *RaftStateValue) encode(e *encoder) {
	switch v.Kind {
	case RaftStateValueNodeID:
		e.variantOpen("NodeId")
		e.u64(v.NodeID)
	case RaftStateValueHardState:
		e.variantOpen("HardState")
		v.Vote.encode(e)
	case RaftStateValueStateMachineID:
		e.variantOpen("StateMachineId")
		e.arrOpen()
		e.elem()
		e.u64(v.StateMachineID[0])
		e.elem()
		e.u64(v.StateMachineID[1])
		e.arrClose()
	case RaftStateValueCommitted:
		e.variantOpen("Committed")
		writeNullable(e, v.Committed)
	default:
		e.fail("RaftStateValue kind %d", v.Kind)
		e.objOpen()
	}
	e.objClose()
}

func (v *RaftStateValue) decode(d *decoder) error {
	return d.variant("RaftStateValue", raftStateValueVariants, func(name string, hasValue bool) error {
		*v = RaftStateValue{Kind: RaftStateKind(indexOf(raftStateValueVariants, name))}
		if err := d.dataOnly(name, hasValue); err != nil {
			return err
		}
		switch v.Kind {
		case RaftStateValueNodeID:
			return d.readU64(&v.NodeID)
		case RaftStateValueHardState:
			return v.Vote.decode(d)
		case RaftStateValueStateMachineID:
			n := 0
			err := d.array(func(i int) error {
				n++
				if i > 1 {
					return d.shapeErr("a state machine id is [active, previous]")
				}
				return d.readU64(&v.StateMachineID[i])
			})
			if err == nil && n != 2 {
				err = d.shapeErr("a state machine id is [active, previous], got %d elements", n)
			}
			return err
		default:
			return readNullable(d, &v.Committed)
		}
	})
}

// LogMetaKey: "LastPurged", the only one.
type LogMetaKey string

// LastPurged is the key of the LogMeta line.
const LastPurged LogMetaKey = "LastPurged"

var logMetaKeys = []string{"LastPurged"}
