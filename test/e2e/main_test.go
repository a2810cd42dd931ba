package e2e

import (
	"os"
	"testing"

	"github.com/metasrv/metasrv/internal/proctest"
)

// bins holds the binaries TestMain built, or why a build failed: a binary
// that does not build fails the tests that need it, and only those.
var bins *proctest.Binaries

func TestMain(m *testing.M) {
	os.Exit(proctest.RunWithBinaries(m, "e2e", "METASRV_E2E_RACE", &bins,
		"./cmd/databend-meta", "./cmd/databend-metactl"))
}

// metaBin returns the path of the databend-meta binary, failing the test if
// it did not build.
func metaBin(t testing.TB) string {
	t.Helper()
	return bins.Path(t, "./cmd/databend-meta")
}

// metactlBin returns the path of the databend-metactl binary, failing the
// test if it did not build.
func metactlBin(t testing.TB) string {
	t.Helper()
	return bins.Path(t, "./cmd/databend-metactl")
}
