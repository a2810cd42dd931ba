package buildinfo

import (
	"regexp"
	"runtime/debug"
	"testing"
)

func TestLine(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name string
		set  string
		bi   *debug.BuildInfo
		want string
	}{
		{"set at build time", "v1.2.0", &debug.BuildInfo{GoVersion: "go1.26.8", Settings: vcs(rev, "false")},
			"databend-meta v1.2.0 (commit 0123456789ab, go1.26.8)"},
		{"dirty tree", "d08e423-dirty", &debug.BuildInfo{GoVersion: "go1.26.8", Settings: vcs(rev, "true")},
			"databend-meta d08e423-dirty (commit 0123456789ab-dirty, go1.26.8)"},
		{"go install", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.3.0"}},
			"databend-meta v1.3.0 (go1.26.8)"},
		{"main's default", "dev", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			"databend-meta dev (go1.26.8)"},
		{"no build information", "", nil, "databend-meta dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := line("databend-meta", tt.set, tt.bi); got != tt.want {
				t.Errorf("line = %q, want %q", got, tt.want)
			}
		})
	}
}

// The line of this test binary: the name, a version, then the details.
func TestLineOfThisBinary(t *testing.T) {
	got := Line("x", "")
	if !regexp.MustCompile(`^x \S+ \((commit [0-9a-f]{12}(-dirty)?, )?go\S+\)$`).MatchString(got) {
		t.Errorf("Line = %q", got)
	}
}
