package admin

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// readMethods are the gRPC methods (the last part of the full method name)
// that read keys.
var readMethods = []string{"/Get", "/MGet", "/List"}

// GRPCReads returns an Options.ReadCount that sums, at each call, the
// successful read requests (Get, MGet, List) that the gRPC interceptors of
// internal/metrics counted in metasrv_meta_network_req_success on g. It
// gathers g on every call: fine for a dashboard polling once a second.
func GRPCReads(g prometheus.Gatherer) func() uint64 {
	return func() uint64 {
		mfs, err := g.Gather()
		if err != nil && len(mfs) == 0 {
			return 0
		}
		var n float64
		for _, mf := range mfs {
			if mf.GetName() != "metasrv_meta_network_req_success" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "method" && isRead(l.GetValue()) {
						n += m.GetCounter().GetValue()
					}
				}
			}
		}
		return uint64(n)
	}
}

func isRead(method string) bool {
	for _, suffix := range readMethods {
		if strings.HasSuffix(method, suffix) {
			return true
		}
	}
	return false
}
