package proctest

import (
	"os"
	"testing"
)

// TestDepsEnv names the environment variable that says whether the tools
// some tests need beyond Go (chromium, strace; scripts/install-test-deps.sh
// installs them) must be there. Set to TestDepsRequired, as CI does, a
// missing tool fails those tests; otherwise it skips them.
const (
	TestDepsEnv      = "METASRV_TEST_DEPS"
	TestDepsRequired = "required"
)

// MissingTool ends the test t, which needs a tool this machine lacks:
// why says which tool, what for, and how to install it. It skips t, or
// fails it when TestDepsEnv is TestDepsRequired.
func MissingTool(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(TestDepsEnv) == TestDepsRequired {
		t.Fatalf("%s (%s=%s: the tool must be installed)", why, TestDepsEnv, TestDepsRequired)
	}
	t.Skipf("%s (skipped; %s=%s makes this a failure)", why, TestDepsEnv, TestDepsRequired)
}
