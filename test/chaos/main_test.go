package chaos

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/metasrv/metasrv/internal/proctest"
)

// bins holds the databend-meta binary TestMain built, or why the build
// failed; metaBin fails the test that needs it with the build output.
var bins struct {
	root    string // the module's, for proctest.ConsultSources
	meta    string
	metaErr error
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "metasrv-chaos-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := proctest.ModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	bins.root = root
	bins.meta = filepath.Join(dir, "databend-meta")
	bins.metaErr = proctest.GoBuild(root, bins.meta, "./cmd/databend-meta", os.Getenv("METASRV_CHAOS_RACE") == "1")
	return m.Run()
}

func metaBin(t testing.TB) string {
	t.Helper()
	if bins.metaErr != nil {
		t.Fatalf("databend-meta did not build:\n%v", bins.metaErr)
	}
	if err := proctest.ConsultSources(bins.root); err != nil {
		t.Fatalf("stat the sources the binaries were built from: %v", err)
	}
	return bins.meta
}
