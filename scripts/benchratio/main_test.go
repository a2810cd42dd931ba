package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	in := strings.Join([]string{
		`{"system":"etcd","workload":"put","clients":100,"conns":10,"total":50000,"errors":0,"seconds":5,"ops_per_sec":8000,"p50_ms":10,"p99_ms":40,"p999_ms":50}`,
		`bench.sh: starting`,
		`{"system":"noop","workload":"put","clients":100,"conns":10,"total":50000,"errors":0,"seconds":1,"ops_per_sec":64000,"p50_ms":1,"p99_ms":4,"p999_ms":8}`,
		`{"system":"metasrv","workload":"put","clients":100,"conns":10,"total":50000,"errors":2,"seconds":3,"ops_per_sec":16000,"p50_ms":5,"p99_ms":20,"p999_ms":30}`,
		`{"system":"metasrv-leader","workload":"put","clients":100,"conns":10,"total":50000,"errors":0,"seconds":3,"ops_per_sec":32000,"p50_ms":2.5,"p99_ms":10,"p999_ms":30}`,
		`{"system":"metasrv","workload":"get","clients":100,"conns":10,"total":100000,"errors":0,"seconds":3,"ops_per_sec":40000,"p50_ms":2,"p99_ms":6,"p999_ms":9}`,
	}, "\n")
	var out, other bytes.Buffer
	if err := report(strings.NewReader(in), &out, &other); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		row  string
		want []string
	}{
		{"put 100/10 50000 metasrv ", []string{"16000", "5.000", "20.000", "2", "2.00x", "0.25x", "0.50x", "0.50x"}},
		{"put 100/10 50000 metasrv-leader", []string{"32000", "2.500", "10.000", "0", "4.00x", "0.50x", "0.25x", "0.25x"}},
		{"get 100/10 100000 metasrv", []string{"40000", "2.000", "6.000", "0", "-", "-", "-", "-"}},
	}
	for _, tt := range tests {
		var row string
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.Contains(strings.Join(strings.Fields(l), " ")+" ", tt.row) {
				row = strings.Join(strings.Fields(l), " ")
			}
		}
		if row == "" {
			t.Errorf("no row %q in\n%s", tt.row, out.String())
			continue
		}
		got := strings.Fields(row)[4:]
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("row %q: got %v, want %v", tt.row, got, tt.want)
		}
	}
	if !strings.Contains(other.String(), "bench.sh: starting") {
		t.Errorf("a line that is not JSON was not copied to stderr: %q", other.String())
	}
}
