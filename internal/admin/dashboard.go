package admin

import (
	"embed"
	"io/fs"
	"net/http"
)

// dashboardFS holds the dashboard: plain HTML, CSS and JavaScript with no
// external assets, so it works on a machine without internet access.
//
//go:embed dashboard
var dashboardFS embed.FS

// contentPolicy keeps the page to its own origin.
const contentPolicy = "default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'"

// dashboardPage serves the page at /.
func dashboardPage() http.Handler {
	page, err := dashboardFS.ReadFile("dashboard/index.html")
	if err != nil {
		panic(err) // embedded at build time
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", contentPolicy)
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(page)
	})
}

// dashboardAssets serves the page's CSS and JavaScript under /assets/.
func dashboardAssets() http.Handler {
	sub, err := fs.Sub(dashboardFS, "dashboard")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix("/assets/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
