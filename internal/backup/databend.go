package backup

import (
	"fmt"
	"net"
	"strconv"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/databendjson"
)

// The translation between Databend's values (internal/databendjson) and
// metasrv's state, in both directions, for the import and export of
// Databend's dumps. Everything that is lost or made up on the way is said
// here and nowhere else:
//
//   - A Databend value has one seq and no create_seq or version: an
//     imported key gets create_seq = seq and version 1.
//   - A key's KVMeta is kept as written (null or an object, expire_at in
//     seconds or ms, proposed_at_ms) and exported the same; its expiry
//     in ms besides (SeqV.expire_at_ms).
//   - LastMembership's log id is kept with the member table (the state
//     machine's Membership); an initial cluster is set at LastApplied's.
//   - A node's name is its id (as Databend names them); its raft address
//     is the endpoint host:port and its grpc address
//     grpc_api_advertise_address (null when metasrv knows none).

// expireSeq is the internal seq of an expiry index record in an export:
// 1, what databend-meta's import makes of every record (see
// docs/DATABEND.md, section 2).
const expireSeq = 1

// kvFromDatabend returns the key of a GenericKV line as metasrv stores it.
func kvFromDatabend(key string, v *databendjson.SeqV) KV {
	ms, _ := v.Meta.ExpireAtMs()
	kv := KV{Key: key, Seq: v.Seq, CreateSeq: v.Seq, Version: 1, ExpireAtMs: ms, Data: v.Data, MetaAsWritten: true}
	if v.Meta != nil {
		kv.Meta = &metapb.KVMeta{ExpireAt: v.Meta.ExpireAt.Ptr(), ProposedAtMs: v.Meta.ProposedAtMs}
	}
	return kv
}

// seqVToDatabend returns the value of a GenericKV line for a stored value.
func seqVToDatabend(v *metapb.SeqV) databendjson.SeqV {
	sv := databendjson.SeqV{Seq: v.GetSeq(), Data: v.GetData()}
	if m := v.GetMeta(); m != nil {
		sv.Meta = &databendjson.KVMeta{ProposedAtMs: m.ProposedAtMs}
		if m.ExpireAt != nil {
			sv.Meta.ExpireAt = databendjson.Some(m.GetExpireAt())
		}
	}
	return sv
}

// expireKey is the expiry index key of a stored value that expires.
func expireKey(v *metapb.SeqV) databendjson.ExpireKey {
	return databendjson.ExpireKey{TimeMs: v.GetExpireAtMs(), Seq: v.GetSeq()}
}

// nodeFromDatabend returns a member of the Nodes table as a Node; Voter is
// left false (membership decides).
func nodeFromDatabend(id uint64, n *databendjson.Node) Node {
	m := Node{ID: id, RaftAddress: net.JoinHostPort(n.Endpoint.Addr, strconv.FormatUint(uint64(n.Endpoint.Port), 10))}
	if n.GrpcAPIAdvertiseAddress != nil {
		m.GrpcAddress = *n.GrpcAPIAdvertiseAddress
	}
	return m
}

// nodeToDatabend returns a member as a line of Databend's Nodes table. A
// raft address that is not host:port with a 16-bit port has no Databend
// form.
func nodeToDatabend(n Node) (databendjson.Node, error) {
	host, portText, err := net.SplitHostPort(n.RaftAddress)
	if err != nil {
		return databendjson.Node{}, fmt.Errorf("backup: member %d: raft address %q is not host:port: %w", n.ID, n.RaftAddress, err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return databendjson.Node{}, fmt.Errorf("backup: member %d: raft address %q: the port is not a number up to 65535", n.ID, n.RaftAddress)
	}
	dn := databendjson.Node{Name: strconv.FormatUint(n.ID, 10), Endpoint: databendjson.Endpoint{Addr: host, Port: uint16(port)}}
	if n.GrpcAddress != "" {
		addr := n.GrpcAddress
		dn.GrpcAPIAdvertiseAddress = &addr
	}
	return dn, nil
}

// logID is a raft log id as Databend writes it: etcd raft records no
// leader per term, so the node id is 0.
func logID(index, term uint64) databendjson.LogID {
	return databendjson.LogID{LeaderID: databendjson.LeaderID{Term: term}, Index: index}
}

// membership is the Databend membership of members: one config of the
// voters, every member a node.
func membership(members []Node) databendjson.Membership {
	m := databendjson.Membership{Configs: [][]uint64{{}}, Nodes: []uint64{}}
	for _, n := range members {
		if n.Voter {
			m.Configs[0] = append(m.Configs[0], n.ID)
		}
		m.Nodes = append(m.Nodes, n.ID)
	}
	return m
}
