package chaos

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// bins holds the databend-meta binary TestMain built, or why the build
// failed; metaBin fails the test that needs it with the build output.
var bins struct {
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
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	bins.meta = filepath.Join(dir, "databend-meta")
	bins.metaErr = goBuild(root, bins.meta, "./cmd/databend-meta")
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

// goBuild builds pkg (relative to the module root) into out; with
// METASRV_CHAOS_RACE=1 the binary has the race detector.
func goBuild(root, out, pkg string) error {
	args := []string{"build", "-o", out}
	if os.Getenv("METASRV_CHAOS_RACE") == "1" {
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

func metaBin(t testing.TB) string {
	t.Helper()
	if bins.metaErr != nil {
		t.Fatalf("databend-meta did not build:\n%v", bins.metaErr)
	}
	return bins.meta
}
