package metrics

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// GRPC measures the public gRPC API: metasrv_meta_network_*.
type GRPC struct {
	inflight prometheus.Gauge
	success  *prometheus.CounterVec
	failed   *prometheus.CounterVec
	latency  *prometheus.HistogramVec

	// byMethod caches each method's latency histogram and success counter
	// (string -> *methodMetrics): WithLabelValues hashes the labels and
	// takes a lock on every call, on every request.
	byMethod sync.Map
}

type methodMetrics struct {
	latency prometheus.Observer
	success prometheus.Counter
}

func (g *GRPC) method(name string) *methodMetrics {
	if m, ok := g.byMethod.Load(name); ok {
		return m.(*methodMetrics)
	}
	m, _ := g.byMethod.LoadOrStore(name, &methodMetrics{
		latency: g.latency.WithLabelValues(name),
		success: g.success.WithLabelValues(name),
	})
	return m.(*methodMetrics)
}

// NewGRPC registers the metasrv_meta_network_* metrics on reg.
func NewGRPC(reg prometheus.Registerer) (*GRPC, error) {
	g := &GRPC{
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "metasrv_meta_network_req_inflights", Help: "gRPC requests being served."}),
		success: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "metasrv_meta_network_req_success", Help: "gRPC requests that succeeded."}, []string{"method"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "metasrv_meta_network_req_failed", Help: "gRPC requests that failed, by status code."}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "metasrv_meta_network_rpc_delay_seconds",
			Help:    "Time to serve a unary gRPC request, or a stream until it ends.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18)}, []string{"method"}),
	}
	for _, c := range []prometheus.Collector{g.inflight, g.success, g.failed, g.latency} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return g, nil
}

func (g *GRPC) observe(method string, start time.Time, err error) {
	m := g.method(method)
	m.latency.Observe(time.Since(start).Seconds())
	if err != nil {
		g.failed.WithLabelValues(method, status.Code(err).String()).Inc()
	} else {
		m.success.Inc()
	}
}

// Unary is a grpc.UnaryServerInterceptor that records every request.
func (g *GRPC) Unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	g.inflight.Inc()
	defer g.inflight.Dec()
	start := time.Now()
	resp, err := h(ctx, req)
	g.observe(info.FullMethod, start, err)
	return resp, err
}

// Stream is a grpc.StreamServerInterceptor that records every stream.
func (g *GRPC) Stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	g.inflight.Inc()
	defer g.inflight.Dec()
	start := time.Now()
	err := h(srv, ss)
	g.observe(info.FullMethod, start, err)
	return err
}

// NewAppendLatency registers metasrv_raft_network_append_sent_seconds, the
// time a follower took to acknowledge entries the leader sent it, by peer,
// and returns the function that records one observation.
func NewAppendLatency(reg prometheus.Registerer) (func(peer uint64, d time.Duration), error) {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "metasrv_raft_network_append_sent_seconds",
		Help:    "Time from sending entries to a follower until it acknowledged them, on the leader.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	}, []string{"to"})
	if err := reg.Register(h); err != nil {
		return nil, err
	}
	return func(peer uint64, d time.Duration) {
		h.WithLabelValues(strconv.FormatUint(peer, 10)).Observe(d.Seconds())
	}, nil
}
