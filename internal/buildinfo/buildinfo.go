// Package buildinfo says which build a binary is, in the one line that
// `databend-meta --version` and `databend-metactl version` print:
//
//	databend-meta v1.2.0 (commit 0123456789ab, go1.26.8)
//	databend-metactl dev (commit 0123456789ab-dirty, go1.26.8)
//	databend-meta dev (go1.26.8)
//
// The version is the one set at build time (make build sets it to `git
// describe`), else the module version `go install` records, else "dev".
// The commit is the VCS revision the Go toolchain records, "-dirty" when
// the tree had changes; it is left out when the build has none.
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Line returns the version line of the binary name, whose build-time
// version (-ldflags "-X main.version=...") is set ("" or "dev": unset).
func Line(name, set string) string {
	bi, _ := debug.ReadBuildInfo()
	return line(name, set, bi)
}

// Version returns the version Line prints: set when given, else the module
// version recorded in the binary, else "dev".
func Version(set string) string {
	bi, _ := debug.ReadBuildInfo()
	return version(set, bi)
}

func version(set string, bi *debug.BuildInfo) string {
	if set != "" && set != "dev" {
		return set
	}
	if bi != nil && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// line builds Line from bi (nil: no build information).
func line(name, set string, bi *debug.BuildInfo) string {
	var details []string
	if bi != nil {
		var rev string
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value[:min(12, len(s.Value))]
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" {
			if dirty {
				rev += "-dirty"
			}
			details = append(details, "commit "+rev)
		}
		if bi.GoVersion != "" {
			details = append(details, bi.GoVersion)
		}
	}
	l := fmt.Sprintf("%s %s", name, version(set, bi))
	if len(details) > 0 {
		l += " (" + strings.Join(details, ", ") + ")"
	}
	return l
}
