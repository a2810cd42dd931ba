package admin

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAuthorize checks which endpoints need credentials once
// Options.Authorize is set, and that a refused control request does
// nothing.
func TestAuthorize(t *testing.T) {
	good := "Basic " + base64.StdEncoding.EncodeToString([]byte("root:pw"))
	authorize := func(r *http.Request) error {
		if r.Header.Get("Authorization") != good {
			return errors.New("wrong user name or password")
		}
		return nil
	}
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("m 1\n")) })
	tests := []struct {
		method, path string
		guarded      bool
	}{
		{"POST", "/v1/ctrl/trigger_snapshot", true},
		{"POST", "/v1/ctrl/trigger_transfer_leader?to=2", true},
		{"GET", "/v1/ctrl/trigger_snapshot", true},
		{"GET", "/v1/ctrl/trigger_transfer_leader?to=2", true},
		{"GET", "/v1/features/set?feature=dummy&enable=false", true},
		{"GET", "/debug/home", true},
		{"GET", "/v1/features/list", false},
		{"GET", "/v1/config", true},
		{"GET", "/debug/pprof/", true},
		{"GET", "/debug/pprof/cmdline", true},
		{"GET", "/v1/health", false},
		{"GET", "/v1/cluster/status", false},
		{"GET", "/v1/cluster/nodes", false},
		{"GET", "/v1/cluster/overview", false},
		{"GET", "/v1/metrics", false},
		{"GET", "/", false},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			fc := &fakeCluster{st: leaderStatus()}
			h := Handler(fc, metrics, Options{Config: func() any { return map[string]any{"log_dir": "x"} }, Authorize: authorize})
			serve := func(authorization string) *httptest.ResponseRecorder {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(tt.method, tt.path, nil)
				if authorization != "" {
					req.Header.Set("Authorization", authorization)
				}
				h.ServeHTTP(rec, req)
				return rec
			}
			for _, bad := range []string{"", "Basic " + base64.StdEncoding.EncodeToString([]byte("root:nope")), "Bearer junk"} {
				rec := serve(bad)
				if !tt.guarded {
					if rec.Code == http.StatusUnauthorized {
						t.Fatalf("open endpoint answered 401 to %q", bad)
					}
					continue
				}
				if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Header().Get("WWW-Authenticate"), "Basic") ||
					!strings.Contains(rec.Body.String(), `"code": "unauthenticated"`) || !strings.Contains(rec.Body.String(), "--user") {
					t.Fatalf("%q: code %d, headers %v, body %s; want 401 with a Basic challenge and advice", bad, rec.Code, rec.Header(), rec.Body)
				}
				if fc.transferTo != 0 || fc.st.SnapshotIndex != leaderStatus().SnapshotIndex {
					t.Fatal("a refused control request changed the node")
				}
			}
			if rec := serve(good); rec.Code >= 400 {
				t.Fatalf("with credentials: code %d: %s", rec.Code, rec.Body)
			}
		})
	}
}
