package main

import "runtime/debug"

// version is set at build time:
//
//	go build -ldflags "-X main.version=v1.2.3" ./cmd/databend-metactl
var version = ""

// buildVersion returns version, else the module version recorded in the
// binary, else "dev" with the VCS revision when known.
func buildVersion() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	v := "dev"
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision" && len(s.Value) >= 12:
			v += "-" + s.Value[:12]
		case s.Key == "vcs.modified" && s.Value == "true":
			v += "-dirty"
		}
	}
	return v
}
