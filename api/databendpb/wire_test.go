package databendpb

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// The tables below are written from databend-meta's
// crates/common/types/proto/*.proto (and Arrow Flight's BasicAuth), not
// from our .proto files: the tests compare them with the descriptors
// compiled into this package, so a renamed, renumbered, retyped, missing
// or extra method or field fails.

// wantMethods is every RPC of meta.MetaService.
var wantMethods = []struct {
	fullName                       string
	in, out                        protoreflect.FullName
	clientStreaming, serverStreams bool
}{
	{"/meta.MetaService/Handshake", "meta.HandshakeRequest", "meta.HandshakeResponse", true, true},
	{"/meta.MetaService/KvApi", "meta.RaftRequest", "meta.RaftReply", false, false},
	{"/meta.MetaService/KvReadV1", "meta.RaftRequest", "meta.StreamItem", false, true},
	{"/meta.MetaService/KvList", "meta.KvListRequest", "meta.StreamItem", false, true},
	{"/meta.MetaService/KvGetMany", "meta.KvGetManyRequest", "meta.StreamItem", true, true},
	{"/meta.MetaService/Export", "meta.Empty", "meta.ExportedChunk", false, true},
	{"/meta.MetaService/ExportV1", "meta.ExportRequest", "meta.ExportedChunk", false, true},
	{"/meta.MetaService/SnapshotKeysLayout", "meta.KeysLayoutRequest", "meta.KeysCount", false, true},
	{"/meta.MetaService/Watch", "meta.WatchRequest", "meta.WatchResponse", false, true},
	{"/meta.MetaService/Transaction", "meta.TxnRequest", "meta.TxnReply", false, false},
	{"/meta.MetaService/KvTransaction", "meta.KvTransactionRequest", "meta.KvTransactionReply", false, false},
	{"/meta.MetaService/MemberList", "meta.MemberListRequest", "meta.MemberListReply", false, false},
	{"/meta.MetaService/GetClusterStatus", "meta.Empty", "meta.ClusterStatus", false, false},
	{"/meta.MetaService/GetClientInfo", "meta.Empty", "meta.ClientInfo", false, false},
}

// field is one field as describe prints it.
type field struct {
	name string
	num  protowire.Number
	typ  string
}

// wantFields are the messages that Handshake, KvApi, Watch, MemberList
// and GetClientInfo carry, field by field.
var wantFields = map[protoreflect.FullName][]field{
	"meta.HandshakeRequest":  {{"protocol_version", 1, "uint64"}, {"payload", 2, "bytes"}},
	"meta.HandshakeResponse": {{"protocol_version", 1, "uint64"}, {"payload", 2, "bytes"}},
	"arrow.flight.protocol.BasicAuth": {
		{"username", 2, "string"}, {"password", 3, "string"},
	},
	"meta.RaftRequest": {{"data", 1, "string"}},
	"meta.RaftReply":   {{"data", 1, "string"}, {"error", 2, "string"}},
	"meta.WatchRequest": {
		{"key", 1, "string"},
		{"key_end", 2, "optional string"},
		{"filter_type", 3, "enum meta.WatchRequest.FilterType"},
		{"initial_flush", 4, "bool"},
	},
	"meta.WatchResponse": {{"event", 1, "message meta.Event"}, {"is_initialization", 2, "bool"}},
	"meta.Event": {
		{"key", 1, "string"},
		{"current", 2, "optional message meta.SeqV"},
		{"prev", 3, "optional message meta.SeqV"},
	},
	"meta.SeqV": {{"seq", 1, "uint64"}, {"data", 2, "bytes"}, {"meta", 3, "optional message meta.KVMeta"}},
	"meta.KVMeta": {
		{"expire_at", 1, "optional uint64"},
		{"proposed_at_ms", 2, "optional uint64"},
	},
	"meta.Empty":             nil,
	"meta.MemberListRequest": {{"data", 1, "string"}},
	"meta.MemberListReply":   {{"data", 1, "repeated string"}},
	"meta.ClientInfo":        {{"client_addr", 10, "string"}, {"server_time", 20, "optional uint64"}},
}

// wantEnums are the enums of those messages, value by value.
var wantEnums = map[protoreflect.FullName][]struct {
	name string
	num  protoreflect.EnumNumber
}{
	"meta.WatchRequest.FilterType": {{"ALL", 0}, {"UPDATE", 1}, {"DELETE", 2}},
}

func TestMetaServiceMethods(t *testing.T) {
	d, err := protoregistry.GlobalFiles.FindDescriptorByName("meta.MetaService")
	if err != nil {
		t.Fatalf("meta.MetaService is not registered: %v", err)
	}
	sd := d.(protoreflect.ServiceDescriptor)
	var got []string
	for i := range sd.Methods().Len() {
		md := sd.Methods().Get(i)
		got = append(got, fmt.Sprintf("/%s/%s", sd.FullName(), md.Name()))
	}
	var want []string
	for _, m := range wantMethods {
		want = append(want, m.fullName)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("methods of meta.MetaService:\n got %q\nwant %q", got, want)
	}

	// The gRPC service description (what RegisterMetaServiceServer
	// serves) must agree with the descriptor.
	streams := map[string][2]bool{}
	for _, s := range MetaService_ServiceDesc.Streams {
		streams["/"+MetaService_ServiceDesc.ServiceName+"/"+s.StreamName] = [2]bool{s.ClientStreams, s.ServerStreams}
	}
	for _, m := range MetaService_ServiceDesc.Methods {
		streams["/"+MetaService_ServiceDesc.ServiceName+"/"+m.MethodName] = [2]bool{}
	}

	for _, m := range wantMethods {
		t.Run(m.fullName, func(t *testing.T) {
			name := protoreflect.Name(m.fullName[len("/meta.MetaService/"):])
			md := sd.Methods().ByName(name)
			if md.Input().FullName() != m.in || md.Output().FullName() != m.out {
				t.Errorf("types %s -> %s, want %s -> %s", md.Input().FullName(), md.Output().FullName(), m.in, m.out)
			}
			if md.IsStreamingClient() != m.clientStreaming || md.IsStreamingServer() != m.serverStreams {
				t.Errorf("streaming client %v server %v, want %v %v",
					md.IsStreamingClient(), md.IsStreamingServer(), m.clientStreaming, m.serverStreams)
			}
			kind, ok := streams[m.fullName]
			if !ok {
				t.Fatalf("not in MetaService_ServiceDesc")
			}
			if kind != [2]bool{m.clientStreaming, m.serverStreams} {
				t.Errorf("MetaService_ServiceDesc streams %v, want client %v server %v", kind, m.clientStreaming, m.serverStreams)
			}
		})
	}
}

func TestWireFields(t *testing.T) {
	for msg, want := range wantFields {
		t.Run(string(msg), func(t *testing.T) {
			d, err := protoregistry.GlobalFiles.FindDescriptorByName(msg)
			if err != nil {
				t.Fatalf("not registered: %v", err)
			}
			fields := d.(protoreflect.MessageDescriptor).Fields()
			var got []field
			for i := range fields.Len() {
				fd := fields.Get(i)
				got = append(got, field{string(fd.Name()), fd.Number(), describe(fd)})
			}
			byNum := func(a, b field) int { return int(a.num) - int(b.num) }
			slices.SortFunc(got, byNum)
			want = slices.Clone(want)
			slices.SortFunc(want, byNum)
			if !slices.Equal(got, want) {
				t.Errorf("fields:\n got %v\nwant %v", got, want)
			}
		})
	}
	for enum, want := range wantEnums {
		t.Run(string(enum), func(t *testing.T) {
			d, err := protoregistry.GlobalFiles.FindDescriptorByName(enum)
			if err != nil {
				t.Fatalf("not registered: %v", err)
			}
			values := d.(protoreflect.EnumDescriptor).Values()
			if values.Len() != len(want) {
				t.Errorf("%d values, want %d", values.Len(), len(want))
			}
			for _, w := range want {
				v := values.ByName(protoreflect.Name(w.name))
				if v == nil || v.Number() != w.num {
					t.Errorf("value %s: got %v, want %d", w.name, v, w.num)
				}
			}
		})
	}
}

// describe prints a field's label and type as the tables write them.
func describe(fd protoreflect.FieldDescriptor) string {
	var s string
	switch {
	case fd.IsMap():
		return fmt.Sprintf("map<%s, %s>", describe(fd.MapKey()), describe(fd.MapValue()))
	case fd.IsList():
		s = "repeated "
	case fd.HasOptionalKeyword():
		s = "optional "
	case fd.ContainingOneof() != nil:
		s = "oneof " + string(fd.ContainingOneof().Name()) + " "
	}
	switch fd.Kind() {
	case protoreflect.MessageKind:
		return s + "message " + string(fd.Message().FullName())
	case protoreflect.EnumKind:
		return s + "enum " + string(fd.Enum().FullName())
	}
	return s + fd.Kind().String()
}

// The bytes of a handshake as Databend's client writes them, built by
// hand from the field numbers and wire types: BasicAuth in the payload.
func TestHandshakeBytes(t *testing.T) {
	var auth []byte
	auth = protowire.AppendTag(auth, 2, protowire.BytesType)
	auth = protowire.AppendString(auth, "root")
	auth = protowire.AppendTag(auth, 3, protowire.BytesType)
	auth = protowire.AppendString(auth, "xxx")
	if want := []byte("\x12\x04root\x1a\x03xxx"); !bytes.Equal(auth, want) {
		t.Fatalf("hand-built BasicAuth %q, want %q", auth, want)
	}
	var req []byte
	req = protowire.AppendTag(req, 1, protowire.VarintType)
	req = protowire.AppendVarint(req, 1_002_676)
	req = protowire.AppendTag(req, 2, protowire.BytesType)
	req = protowire.AppendBytes(req, auth)

	got := &HandshakeRequest{}
	if err := proto.Unmarshal(req, got); err != nil {
		t.Fatal(err)
	}
	if got.GetProtocolVersion() != 1_002_676 {
		t.Errorf("protocol_version %d, want 1002676", got.GetProtocolVersion())
	}
	ba := &BasicAuth{}
	if err := proto.Unmarshal(got.GetPayload(), ba); err != nil {
		t.Fatal(err)
	}
	if ba.GetUsername() != "root" || ba.GetPassword() != "xxx" {
		t.Errorf("BasicAuth %v, want root/xxx", ba)
	}
	// And back: our encoding is the same bytes (fields in number order).
	enc, err := proto.MarshalOptions{Deterministic: true}.Marshal(&HandshakeRequest{ProtocolVersion: 1_002_676, Payload: auth})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, req) {
		t.Errorf("encoded %x, want %x", enc, req)
	}
}
