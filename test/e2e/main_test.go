package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/metasrv/metasrv/internal/proctest"
)

// bins holds the binaries TestMain built, or why a build failed. A test
// that needs a binary calls metaBin or metactlBin, which fail the test with
// the build output: a binary that does not build fails the tests that need
// it, and only those.
var bins struct {
	root                string // the module's, for proctest.ConsultSources
	meta, metactl       string
	metaErr, metactlErr error
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "metasrv-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	root, err := proctest.ModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	bins.root = root
	bins.meta = filepath.Join(dir, "databend-meta")
	bins.metactl = filepath.Join(dir, "databend-metactl")
	bins.metaErr = proctest.GoBuild(root, bins.meta, "./cmd/databend-meta", os.Getenv("METASRV_E2E_RACE") == "1")
	bins.metactlErr = proctest.GoBuild(root, bins.metactl, "./cmd/databend-metactl", os.Getenv("METASRV_E2E_RACE") == "1")
	return m.Run()
}

// metaBin returns the path of the databend-meta binary, failing the test if
// it did not build.
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

// metactlBin returns the path of the databend-metactl binary, failing the
// test if it did not build.
func metactlBin(t testing.TB) string {
	t.Helper()
	if bins.metactlErr != nil {
		t.Fatalf("databend-metactl did not build:\n%v", bins.metactlErr)
	}
	if err := proctest.ConsultSources(bins.root); err != nil {
		t.Fatalf("stat the sources the binaries were built from: %v", err)
	}
	return bins.metactl
}
