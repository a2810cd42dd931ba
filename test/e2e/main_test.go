package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// bins holds the binaries TestMain built, or why a build failed. A test
// that needs a binary calls metaBin or metactlBin, which fail the test with
// the build output: a binary that does not build fails the tests that need
// it, and only those.
var bins struct {
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

	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	bins.meta = filepath.Join(dir, "databend-meta")
	bins.metactl = filepath.Join(dir, "databend-metactl")
	bins.metaErr = goBuild(root, bins.meta, "./cmd/databend-meta")
	bins.metactlErr = goBuild(root, bins.metactl, "./cmd/databend-metactl")
	return m.Run()
}

// moduleRoot returns the directory of the go.mod this package belongs to.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("go env GOMOD: not inside a module (got %q)", mod)
	}
	return filepath.Dir(mod), nil
}

// goBuild builds pkg (relative to the module root) into out.
func goBuild(root, out, pkg string) error {
	args := []string{"build", "-o", out}
	if os.Getenv("METASRV_E2E_RACE") == "1" {
		args = append(args, "-race")
	}
	args = append(args, pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, buf.String())
	}
	return nil
}

// metaBin returns the path of the databend-meta binary, failing the test if
// it did not build.
func metaBin(t testing.TB) string {
	t.Helper()
	if bins.metaErr != nil {
		t.Fatalf("databend-meta did not build:\n%v", bins.metaErr)
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
	return bins.metactl
}
