package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"go.etcd.io/raft/v3"

	"github.com/metasrv/metasrv/internal/server"
)

// Cluster is what the admin API needs of the server (*server.Server). Every
// method is called from HTTP handler goroutines, concurrently.
type Cluster interface {
	// AdminStatus describes this node now.
	AdminStatus() server.AdminStatus
	// TriggerSnapshot takes a snapshot now and returns its index once it is
	// written.
	TriggerSnapshot(ctx context.Context) (uint64, error)
	// TransferLeader hands leadership to voter to (0: the most caught-up
	// voter) and returns the new leader once it has taken over. Only the
	// leader can; elsewhere it fails with server.ErrNotLeader, as a
	// *server.NotLeaderError when it names the leader. A target that is
	// not another voter: server.ErrInvalidTransfer.
	TransferLeader(ctx context.Context, to uint64) (uint64, error)
}

// Options tune the admin API; the zero value is usable.
type Options struct {
	// Config returns the effective configuration for GET /v1/config: a
	// struct (keys from its json, else toml, tags), a map or any value
	// encoding/json takes. Values of keys that name a secret (password,
	// *_password, *_key, *_secret, *_token, *_hash: raft_secret,
	// token_secret and password_hash among them) are replaced by
	// "<redacted>". nil: /v1/config answers 404.
	Config func() any
	// MaxApplyLag is how many entries the applied index may trail the
	// commit index before /v1/health reports the node unhealthy.
	// Default server.MaxHealthyLag, the lag the health metric uses.
	MaxApplyLag uint64
	// ReadCount returns how many reads this node has served since it
	// started (see GRPCReads); the dashboard shows the read rate from it.
	// nil: no read rate.
	ReadCount func() uint64
	// CtrlTimeout bounds trigger_snapshot and trigger_transfer_leader.
	// Default 30s.
	CtrlTimeout time.Duration
	// Now is the clock of time_ms in the overview; nil = time.Now.
	Now func() time.Time
	// Authorize checks the credentials of a request to an endpoint that
	// changes the node or reveals its configuration or internals:
	// /v1/ctrl/*, /v1/features/set, /v1/config and /debug/. A non-nil error
	// answers 401 with it (and a Basic challenge). nil: no check, as with
	// auth disabled. The status, health, metrics and dashboard endpoints
	// stay open. Called concurrently.
	Authorize func(r *http.Request) error
}

func (o *Options) setDefaults() {
	if o.MaxApplyLag == 0 {
		o.MaxApplyLag = server.MaxHealthyLag
	}
	if o.CtrlTimeout == 0 {
		o.CtrlTimeout = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Handler returns the admin API and dashboard. metrics serves /v1/metrics
// and /metrics (nil: not served). At most one Options is used.
func Handler(c Cluster, metrics http.Handler, opts ...Options) http.Handler {
	h := &handler{c: c}
	if len(opts) > 0 {
		h.o = opts[0]
	}
	h.o.setDefaults()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/health", h.health)
	mux.HandleFunc("GET /v1/config", h.guard(h.config))
	mux.HandleFunc("GET /v1/cluster/nodes", h.nodes)
	mux.HandleFunc("GET /v1/cluster/status", h.status)
	mux.HandleFunc("GET /v1/cluster/overview", h.overview)
	mux.HandleFunc("GET /v1/features/list", h.featuresList)
	// databend-meta takes its control requests as GET, and its
	// databend-metactl sends them so; POST stays for our clients.
	for _, method := range []string{"GET", "POST"} {
		mux.HandleFunc(method+" /v1/ctrl/trigger_snapshot", h.guard(h.triggerSnapshot))
		mux.HandleFunc(method+" /v1/ctrl/trigger_transfer_leader", h.guard(h.transferLeader))
		mux.HandleFunc(method+" /v1/features/set", h.guard(h.featuresSet))
	}
	if metrics != nil {
		mux.Handle("GET /v1/metrics", metrics)
		mux.Handle("GET /metrics", metrics)
	}
	// pprof's command line shows the flags, secrets among them.
	mux.Handle("GET /debug/home", h.guard(http.RedirectHandler("/debug/pprof/", http.StatusFound).ServeHTTP))
	mux.HandleFunc("/debug/pprof/", h.guard(pprof.Index))
	mux.HandleFunc("/debug/pprof/cmdline", h.guard(pprof.Cmdline))
	mux.HandleFunc("/debug/pprof/profile", h.guard(pprof.Profile))
	mux.HandleFunc("/debug/pprof/symbol", h.guard(pprof.Symbol))
	mux.HandleFunc("/debug/pprof/trace", h.guard(pprof.Trace))
	mux.Handle("GET /{$}", dashboardPage())
	mux.Handle("GET /assets/", dashboardAssets())
	return mux
}

type handler struct {
	c Cluster
	o Options
}

// guard runs f only for a request Options.Authorize accepts.
func (h *handler) guard(f http.HandlerFunc) http.HandlerFunc {
	if h.o.Authorize == nil {
		return f
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h.o.Authorize(r); err != nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="metasrv", charset="UTF-8"`)
			writeError(w, http.StatusUnauthorized, "unauthenticated",
				err.Error()+": send \"Authorization: Basic base64(user:password)\" or \"Authorization: Bearer <token>\" (databend-metactl: --user and --password, or --token)")
			return
		}
		f(w, r)
	}
}

func (h *handler) health(w http.ResponseWriter, r *http.Request) {
	a := h.c.AdminStatus()
	hj := healthOf(a, h.o.MaxApplyLag)
	code := http.StatusOK
	if !hj.OK {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, hj)
}

func (h *handler) config(w http.ResponseWriter, r *http.Request) {
	if h.o.Config == nil {
		writeError(w, http.StatusNotFound, "not_found", "this server does not publish its configuration")
		return
	}
	writeJSON(w, http.StatusOK, configJSON(h.o.Config()))
}

func (h *handler) nodes(w http.ResponseWriter, r *http.Request) {
	a := h.c.AdminStatus()
	writeJSON(w, http.StatusOK, nodesJSON(a.Members, nil))
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.statusOf(h.c.AdminStatus()))
}

func (h *handler) overview(w http.ResponseWriter, r *http.Request) {
	a := h.c.AdminStatus()
	writeJSON(w, http.StatusOK, overviewJSON{
		TimeMs: h.o.Now().UnixMilli(),
		Status: h.statusOf(a),
		Health: healthOf(a, h.o.MaxApplyLag),
		Nodes:  overviewNodes(a),
	})
}

func (h *handler) statusOf(a server.AdminStatus) statusJSON {
	st := newStatusJSON(a)
	if h.o.ReadCount != nil {
		n := h.o.ReadCount()
		st.ReadsTotal = &n
	}
	return st
}

func (h *handler) triggerSnapshot(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.o.CtrlTimeout)
	defer cancel()
	if _, err := h.c.TriggerSnapshot(ctx); err != nil {
		h.writeServerError(w, err)
		return
	}
	// databend-meta's answer: null. The snapshot's log id and what was
	// purged are in /v1/cluster/status.
	writeJSON(w, http.StatusOK, nil)
}

func (h *handler) transferLeader(w http.ResponseWriter, r *http.Request) {
	var to uint64
	if s := r.URL.Query().Get("to"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil || v == 0 {
			writeError(w, http.StatusBadRequest, "bad_request",
				"to must be the id of a voter (a positive integer), or absent for the most caught-up voter; got "+strconv.Quote(s))
			return
		}
		to = v
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.o.CtrlTimeout)
	defer cancel()
	a := h.c.AdminStatus()
	lead, err := h.c.TransferLeader(ctx, to)
	if err != nil {
		h.writeServerError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, transferJSON{From: a.ID, To: lead, VoterIDs: voterIDs(a.Members), LeaderID: lead})
}

// transferJSON is trigger_transfer_leader's answer: databend-meta's from,
// to and voter_ids, then ours. The transfer is done when it is sent: to
// and leader_id are the node that took over (with no ?to, the voter
// metasrv chose: the most caught-up).
type transferJSON struct {
	From     uint64   `json:"from"`
	To       uint64   `json:"to"`
	VoterIDs []uint64 `json:"voter_ids"`
	LeaderID uint64   `json:"leader_id"`
}

// errorCodes maps the server's errors to HTTP statuses: the one table.
var errorCodes = []struct {
	err    error
	status int
	code   string
}{
	{server.ErrNotLeader, http.StatusConflict, "not_leader"},
	{server.ErrInvalidMember, http.StatusBadRequest, "invalid_member"},
	{server.ErrInvalidTransfer, http.StatusBadRequest, "invalid_transfer"},
	{server.ErrNoLeader, http.StatusServiceUnavailable, "no_leader"},
	{raft.ErrProposalDropped, http.StatusServiceUnavailable, "no_leader"},
	{server.ErrTimeout, http.StatusGatewayTimeout, "timeout"},
	{context.DeadlineExceeded, http.StatusGatewayTimeout, "timeout"},
	{server.ErrStopped, http.StatusServiceUnavailable, "stopped"},
	{server.ErrNotStarted, http.StatusServiceUnavailable, "stopped"},
}

// writeServerError answers err from the server; a not-leader error also
// names the leader and, when the leader told it, its admin API address,
// so the caller knows whose admin API to ask.
func (h *handler) writeServerError(w http.ResponseWriter, err error) {
	for _, e := range errorCodes {
		if !errors.Is(err, e.err) {
			continue
		}
		body := errorJSON{Error: err.Error(), Code: e.code}
		if e.code == "not_leader" {
			a := h.c.AdminStatus()
			if nl := (*server.NotLeaderError)(nil); errors.As(err, &nl) {
				a.Leader = nl.Leader // the leader that answered, if it changed
				body.LeaderAdminAddress = nl.LeaderAdminAddress
			}
			body.LeaderID = &a.Leader
			body.Leader = leaderOf(a)
		}
		writeJSON(w, e.status, body)
		return
	}
	writeError(w, http.StatusInternalServerError, "internal", err.Error())
}

type errorJSON struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	// LeaderID and Leader are set on not_leader: the node that leads
	// (0/null: none known); LeaderAdminAddress is its admin API address
	// (host:port; absent when unknown), where to send the request.
	LeaderID           *uint64   `json:"leader_id,omitempty"`
	Leader             *nodeJSON `json:"leader,omitempty"`
	LeaderAdminAddress string    `json:"leader_admin_address,omitempty"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorJSON{Error: msg, Code: code})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away
}
