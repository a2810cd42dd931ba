// Command databend-meta runs one metasrv node. See the README and
// docs/ARCHITECTURE.md. main only wires the packages together, in start-up
// order; it is the only place that exits.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/metasrv/metasrv/api/peerpb"
	"github.com/metasrv/metasrv/internal/admin"
	"github.com/metasrv/metasrv/internal/buildinfo"
	"github.com/metasrv/metasrv/internal/config"
	"github.com/metasrv/metasrv/internal/grpcapi"
	"github.com/metasrv/metasrv/internal/logging"
	"github.com/metasrv/metasrv/internal/metrics"
	"github.com/metasrv/metasrv/internal/publicapi"
	"github.com/metasrv/metasrv/internal/server"
	"github.com/metasrv/metasrv/internal/storage"
	"github.com/metasrv/metasrv/internal/transport"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run starts the node and blocks until it stops; it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "databend-meta: %v\n", err)
		return 1
	}
	cfg, opts, err := config.Load(args)
	switch {
	case errors.Is(err, config.ErrHelp):
		return 0
	case err != nil:
		return fail(err)
	case opts.Version:
		fmt.Fprintln(stdout, buildinfo.Line("databend-meta", version))
		return 0
	case opts.Cmd == "show-config":
		fmt.Fprint(stdout, cfg.TOML())
		return 0
	case opts.LeaveID != 0:
		return leave(cfg, opts, stdout, stderr, fail)
	}

	// A start-up refused for anything but the disk leaves no trace: the
	// log file is created once raft_dir is open; its records wait until
	// then.
	lg, logFile, err := logging.Open(logOptions(&cfg), stderr)
	if err != nil {
		return fail(err)
	}
	defer logFile.Close()
	defer tuneGC(cfg.GCPercent, lg)()

	// Read every TLS file before binding a port: a bad one refuses to
	// start with one line.
	sec, err := newSecurity(cfg, lg)
	if err != nil {
		return fail(err)
	}

	// Bind every port before touching raft_dir, so a port in use refuses
	// to start with the data untouched.
	lns, err := listenAll(cfg)
	if err != nil {
		return fail(err)
	}
	defer lns.close()

	storage.SetWALSegmentSize(int64(cfg.Raft.WALSegmentSize)) // one value per process: before the first Open
	st, err := storage.Open(cfg.Raft.RaftDir, cfg.Raft.ID, cfg.Raft.ClusterName, lg)
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	if err := logFile.Create(); err != nil {
		return fail(err)
	}

	reg := prometheus.NewRegistry()
	observeAppend, err := metrics.NewAppendLatency(reg)
	if err != nil {
		return fail(err)
	}

	srv, err := server.New(server.Config{
		ObserveAppend:         observeAppend,
		ID:                    cfg.Raft.ID,
		ClusterName:           cfg.Raft.ClusterName,
		Version:               version,
		RaftAddress:           cfg.RaftAdvertiseAddr(),
		GrpcAddress:           lns.grpcAdvertiseAddr(cfg),
		AdminAddress:          withListenPort(cfg.AdminAdvertiseAddr(), lns.admin),
		TickInterval:          cfg.TickInterval(),
		HeartbeatTick:         config.TicksPerHeartbeat,
		ElectionTick:          config.ElectionTicks * config.TicksPerHeartbeat,
		SnapshotLogsSinceLast: cfg.Raft.SnapshotLogsSinceLast,
		MaxAppliedLogToKeep:   cfg.Raft.MaxAppliedLogToKeep,
		Single:                cfg.Raft.Single,
		Join:                  cfg.Raft.Join,
		WaitLeaderTimeout:     cfg.WaitLeaderTimeout(),
		JoinRetrying:          sayRetry(stderr),
		HistorySize:           cfg.WatchHistorySize,
		HistoryRetention:      time.Duration(cfg.WatchHistoryRetention) * time.Second,
		MaxMessageBytes:       cfg.GrpcAPIMaxMessageSize,
		PeerDialOptions:       sec.raftDial,
		Logger:                lg,
	}, st)
	if err != nil {
		return fail(err)
	}

	tr := transport.NewGRPC(transport.GRPCConfig{
		ID:            cfg.Raft.ID,
		ClusterName:   cfg.Raft.ClusterName,
		AdvertiseAddr: cfg.RaftAdvertiseAddr(),
		Logger:        lg,
		DialOptions: append([]grpc.DialOption{grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time: config.PeerKeepaliveTime, Timeout: config.PeerKeepaliveTimeout, PermitWithoutStream: true})}, sec.raftDial...),
	}, srv)
	defer tr.Stop()

	raftGRPC := grpc.NewServer(append([]grpc.ServerOption{grpc.MaxRecvMsgSize(cfg.RaftRecvMessageSize()),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: config.KeepaliveMinTime, PermitWithoutStream: true})},
		append(transport.ServerFlowControl(), sec.raftServer...)...)...)
	peerpb.RegisterPeerServer(raftGRPC, grpcapi.NewPeer(tr, srv))
	go serve(lg, "raft", func() error { return raftGRPC.Serve(lns.raft) })
	defer raftGRPC.Stop()

	joinC, err := srv.Start(tr)
	if err != nil {
		return fail(err)
	}
	defer srv.Stop()

	grpcMetrics, err := registerMetrics(reg, srv, tr)
	if err != nil {
		return fail(err)
	}
	metricsHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})

	// The metrics interceptors come first, so that refused calls count.
	faces, err := publicapi.New(srv, publicapi.Config{Auth: sec.publicAuth(), MaxMessageSize: cfg.GrpcAPIMaxMessageSize,
		TLS: cfg.GrpcTLSServerCert != "", WatchProgressNotifyInterval: cfg.WatchProgressNotifyInterval()})
	if err != nil {
		return fail(err)
	}
	publicGRPC := grpc.NewServer(append(append([]grpc.ServerOption{grpc.NumStreamWorkers(config.PublicStreamWorkers),
		grpc.ChainUnaryInterceptor(grpcMetrics.Unary), grpc.ChainStreamInterceptor(grpcMetrics.Stream),
		// Clients ping long-lived watch streams to detect a dead node.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: config.KeepaliveMinTime, PermitWithoutStream: true})},
		sec.publicServer...), faces.ServerOptions()...)...)
	faces.Register(publicGRPC)
	healthSrv := health.NewServer()
	healthpb.RegisterHealthServer(publicGRPC, healthSrv)
	reflection.Register(publicGRPC)
	go serve(lg, "grpc", func() error { return publicGRPC.Serve(lns.grpc) })

	adminHTTP := &http.Server{Handler: admin.Handler(srv, metricsHandler, admin.Options{
		Config:    func() any { return cfg },
		ReadCount: admin.GRPCReads(reg),
		Authorize: sec.adminAuthorize(),
	}), ReadHeaderTimeout: config.HTTPReadHeaderTimeout, TLSConfig: sec.adminTLS}
	go serve(lg, "admin", func() error {
		if sec.adminTLS != nil {
			return adminHTTP.ServeTLS(lns.admin, "", "") // the certificate is in TLSConfig
		}
		return adminHTTP.Serve(lns.admin)
	})
	defer adminHTTP.Close()
	metricHTTP := &http.Server{Handler: metricsMux(metricsHandler), ReadHeaderTimeout: config.HTTPReadHeaderTimeout}
	go serve(lg, "metrics", func() error { return metricHTTP.Serve(lns.metric) })
	defer metricHTTP.Close()

	lg.Info("databend-meta started", "id", cfg.Raft.ID, "version", version,
		"grpc", lns.grpc.Addr().String(), "raft", lns.raft.Addr().String(),
		"admin", lns.admin.Addr().String(), "metrics", lns.metric.Addr().String(),
		"raft_dir", cfg.Raft.RaftDir, "security", sec.summary)
	if w := openPortsWarning(openPorts(cfg, lns.grpc.Addr(), lns.admin.Addr(), lns.raft.Addr())); w != "" {
		lg.Warn(w)
		if !cfg.Log.Stderr.On { // else the record is on stderr already
			fmt.Fprintf(stderr, "databend-meta: WARN %s\n", w)
		}
	}
	// One line on stderr whatever the log settings, so a person who started
	// the node sees that it runs and where to look.
	fmt.Fprintf(stderr, "databend-meta %s: node %d serving grpc %s, raft %s, admin %s, metrics %s (%s); data in %s; %s\n",
		version, cfg.Raft.ID, lns.grpc.Addr(), lns.raft.Addr(), lns.admin.Addr(), lns.metric.Addr(),
		sec.summary, cfg.Raft.RaftDir, logOptions(&cfg))

	sigC := make(chan os.Signal, 1)
	signal.Notify(sigC, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigC)
	for {
		select {
		case err := <-joinC:
			if err != nil {
				lg.Error("could not join the cluster", "err", err)
				return fail(err)
			}
		case sig := <-sigC:
			lg.Info("shutting down", "signal", sig.String())
			healthSrv.Shutdown()
			srv.CloseWatches() // watch streams never end by themselves
			stopGRPC(publicGRPC, config.ShutdownGrace)
			srv.Shutdown(2 * cfg.ElectionTimeout())
			return 0
		case <-srv.Done():
			err := srv.Err()
			if errors.Is(err, server.ErrRemoved) {
				// An orderly end: restarting would only stop again.
				lg.Warn("node stopped: it was removed from the cluster", "err", err)
				fmt.Fprintf(stderr, "databend-meta: node %d stopped: %v; to add it back, empty raft_dir (%s) and start it with join\n",
					cfg.Raft.ID, err, cfg.Raft.RaftDir)
				return 0
			}
			if err != nil {
				return fail(fmt.Errorf("node stopped: %w", err))
			}
			return 0
		}
	}
}

// exitNotMember is the exit code of --leave-id for a node that is not a
// member: nothing was removed. A script that retries a leave whose first
// run may have removed the node can tell this from a failure (1).
const exitNotMember = 3

// leave asks the cluster to remove a node and exits. Retries say on
// stderr what they wait for; what retrying cannot fix fails at once.
func leave(cfg config.Config, opts config.Options, stdout, stderr io.Writer, fail func(error) int) int {
	_, dialOpts, err := raftSecurity(cfg)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.WaitLeaderTimeout())
	defer cancel()
	nodes, err := server.RequestLeave(ctx, opts.LeaveVia, cfg.Raft.ClusterName, opts.LeaveID, sayRetry(stderr), dialOpts...)
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w; wait_leader_timeout is %s (--wait-leader-timeout MS to wait longer)", err, cfg.WaitLeaderTimeout())
	}
	if err != nil {
		code := fail(fmt.Errorf("remove node %d: %w", opts.LeaveID, err))
		if errors.Is(err, server.ErrNotMember) {
			return exitNotMember
		}
		return code
	}
	fmt.Fprintf(stdout, "node %d removed; members now:", opts.LeaveID)
	for _, n := range nodes {
		fmt.Fprintf(stdout, " %d(%s)", n.GetId(), n.GetRaftAddress())
	}
	fmt.Fprintln(stdout)
	return 0
}

// sayRetry returns a callback that says on stderr, whatever the log
// settings, what a join or a leave waits for: the first attempts, then
// every fifth.
func sayRetry(stderr io.Writer) func(server.Retry) {
	return func(r server.Retry) {
		if r.Noteworthy() {
			fmt.Fprintf(stderr, "databend-meta: %v\n", r)
		}
	}
}

func serve(lg *slog.Logger, name string, f func() error) {
	if err := f(); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, grpc.ErrServerStopped) {
		lg.Error("server stopped", "server", name, "err", err)
	}
}

func stopGRPC(s *grpc.Server, grace time.Duration) {
	done := make(chan struct{})
	go func() { s.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		s.Stop()
	}
}

func metricsMux(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	return mux
}

// listeners holds every port this node serves.
type listeners struct{ raft, grpc, admin, metric net.Listener }

func listenAll(cfg config.Config) (*listeners, error) {
	l := &listeners{}
	for _, p := range []struct {
		key, addr string
		dst       *net.Listener
	}{
		{"raft_config.raft_listen_host:raft_api_port", cfg.RaftListenAddr(), &l.raft},
		{"grpc_api_address", cfg.GrpcAPIAddress, &l.grpc},
		{"admin_api_address", cfg.AdminAPIAddress, &l.admin},
		{"metric_api_address", cfg.MetricAPIAddress, &l.metric},
	} {
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			l.close()
			return nil, fmt.Errorf("cannot listen on %s = %s: %v; is another process using the port? choose a free port", p.key, p.addr, err)
		}
		*p.dst = ln
	}
	return l, nil
}

// grpcAdvertiseAddr is the configured advertised gRPC address, with the
// port the listener got when the config asked for port 0.
func (l *listeners) grpcAdvertiseAddr(cfg config.Config) string {
	addr := cfg.GrpcAdvertiseAddr()
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port != "0" {
		return addr
	}
	return net.JoinHostPort(host, strconv.Itoa(l.grpc.Addr().(*net.TCPAddr).Port))
}

func (l *listeners) close() {
	for _, ln := range []net.Listener{l.raft, l.grpc, l.admin, l.metric} {
		if ln != nil {
			ln.Close()
		}
	}
}
