package storage

import (
	"errors"
	"testing"
)

func TestMetadata(t *testing.T) {
	tests := []struct {
		in      string
		want    metadata
		wantErr bool
	}{
		{`{"id":1,"cluster_name":"prod"}`, metadata{1, "prod"}, false},
		{`{"id":18446744073709551615,"cluster_name":""}`, metadata{^uint64(0), ""}, false},
		{`{"cluster_name":"prod","id":3,"future_field":true}`, metadata{3, "prod"}, false},
		{`{"id":0,"cluster_name":"prod"}`, metadata{}, true},
		{`{"cluster_name":"prod"}`, metadata{}, true},
		{`{"id":-1}`, metadata{}, true},
		{`not json`, metadata{}, true},
		{``, metadata{}, true},
	}
	for _, tt := range tests {
		got, err := decodeMetadata([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("decodeMetadata(%s) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	if got := string(encodeMetadata(metadata{7, "a\"b"})); got != `{"id":7,"cluster_name":"a\"b"}` {
		t.Errorf("encodeMetadata = %s", got)
	}
}

func TestMetadataCheck(t *testing.T) {
	m := metadata{ID: 1, ClusterName: "prod"}
	tests := []struct {
		id      uint64
		cluster string
		want    error
	}{
		{1, "prod", nil},
		{2, "prod", ErrIDMismatch},
		{1, "dev", ErrClusterMismatch},
		{2, "dev", ErrIDMismatch},
	}
	for _, tt := range tests {
		if err := m.check("/d", tt.id, tt.cluster); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
			t.Errorf("check(%d, %q) = %v, want %v", tt.id, tt.cluster, err, tt.want)
		}
	}
}

// FuzzDecodeMetadata: decoding never panics, and what decodes re-encodes to
// metadata that decodes the same.
func FuzzDecodeMetadata(f *testing.F) {
	f.Add([]byte(`{"id":1,"cluster_name":"prod"}`))
	f.Add([]byte(`{"id":0}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMetadata(b)
		if err != nil {
			return
		}
		m2, err := decodeMetadata(encodeMetadata(m))
		if err != nil || m2 != m {
			t.Fatalf("round trip of %+v: %+v, %v", m, m2, err)
		}
	})
}
