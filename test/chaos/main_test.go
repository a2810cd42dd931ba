package chaos

import (
	"os"
	"testing"

	"github.com/metasrv/metasrv/internal/proctest"
)

// bins holds the databend-meta binary TestMain built, or why the build
// failed; metaBin fails the test that needs it with the build output.
var bins *proctest.Binaries

func TestMain(m *testing.M) {
	os.Exit(proctest.RunWithBinaries(m, "chaos", "METASRV_CHAOS_RACE", &bins, "./cmd/databend-meta"))
}

// metaBin returns the path of the databend-meta binary, failing the test if
// it did not build.
func metaBin(t testing.TB) string {
	t.Helper()
	return bins.Path(t, "./cmd/databend-meta")
}
