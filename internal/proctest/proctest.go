// Package proctest helps tests that run real binaries (test/e2e,
// test/chaos, the dashboard's browser test): it finds the module, builds a
// command into a directory, hands out loopback ports for the nodes (Ports),
// runs a process with its output in a file and waits for it (Process,
// Poll), and skips or fails a test whose tool is not installed
// (MissingTool). Its subpackage metanode runs databend-meta nodes on it.
package proctest

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// ModuleRoot returns the directory of the go.mod the calling test belongs to.
func ModuleRoot() (string, error) {
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

// GoBuild builds pkg (relative to the module root) into out, with the race
// detector when race is set. The error holds the compiler's output.
// Tests that run what it built call ConsultSources.
func GoBuild(root, out, pkg string, race bool) error {
	args := []string{"build", "-o", out}
	if race {
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

var consulted struct {
	sync.Once
	err error
}

// ConsultSources stats every Go source, go.mod and go.sum of the module
// under root, once per process. go test's cache then counts them among the
// files the test consulted, and runs the test again when one changes: the
// build of GoBuild, in a subprocess, is invisible to it, so without this
// `go test ./...` would replay a cached pass of the e2e and chaos suites
// after a change to the server alone. Call it from a test, not from
// TestMain before m.Run: go test records only what tests consult.
func ConsultSources(root string) error {
	consulted.Do(func() { consulted.err = statSources(root) })
	return consulted.err
}

// statSources stats the module's Go sources, go.mod and go.sum (see
// ConsultSources), skipping hidden directories and bin.
func statSources(root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".go") || name == "go.mod" || name == "go.sum" {
			if _, err := os.Stat(path); err != nil {
				return err
			}
		}
		return nil
	})
}
