package databendapi

import "testing"

// Which calls need a token: databend-meta's list without [auth], every
// call but Handshake with it; never another service's.
func TestNeedsToken(t *testing.T) {
	for _, tt := range []struct {
		method     string
		asDatabend bool
		withAuthOn bool
	}{
		{"/meta.MetaService/Handshake", false, false},
		{"/meta.MetaService/KvApi", true, true},
		{"/meta.MetaService/KvReadV1", true, true},
		{"/meta.MetaService/KvList", true, true},
		{"/meta.MetaService/KvGetMany", true, true},
		{"/meta.MetaService/Transaction", true, true},
		{"/meta.MetaService/KvTransaction", true, true},
		{"/meta.MetaService/MemberList", true, true},
		{"/meta.MetaService/Watch", false, true},
		{"/meta.MetaService/Export", false, true},
		{"/meta.MetaService/ExportV1", false, true},
		{"/meta.MetaService/SnapshotKeysLayout", false, true},
		{"/meta.MetaService/GetClusterStatus", false, true},
		{"/meta.MetaService/GetClientInfo", false, true},
		{"/metasrv.v1.Meta/Get", false, false},
		{"/grpc.health.v1.Health/Check", false, false},
	} {
		if got := needsToken(tt.method, TokenAsDatabend); got != tt.asDatabend {
			t.Errorf("needsToken(%s, TokenAsDatabend) = %v", tt.method, got)
		}
		if got := needsToken(tt.method, TokenEveryCall); got != tt.withAuthOn {
			t.Errorf("needsToken(%s, TokenEveryCall) = %v", tt.method, got)
		}
	}
}
