package proctest

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"testing"
)

// Binaries are the module's commands, built once by a test binary's
// TestMain (RunWithBinaries) for the tests that run them. A command that
// does not build fails the tests that need it, with the compiler's output,
// and only those.
type Binaries struct {
	root  string // the module's, for ConsultSources
	paths map[string]string
	errs  map[string]error
}

// RunWithBinaries is the body of the TestMain of a suite that runs the
// module's commands (test/e2e, test/chaos): it builds each of pkgs (as
// "./cmd/databend-meta") into a temporary directory, with the race
// detector when the environment variable raceEnv is "1", stores them in
// *bins, runs the tests and removes the directory. suite names the suite
// in the directory's name and in the errors it prints. It returns the exit
// code for os.Exit:
//
//	var bins *proctest.Binaries
//
//	func TestMain(m *testing.M) {
//		os.Exit(proctest.RunWithBinaries(m, "e2e", "METASRV_E2E_RACE", &bins, "./cmd/databend-meta"))
//	}
func RunWithBinaries(m *testing.M, suite, raceEnv string, bins **Binaries, pkgs ...string) int {
	dir, err := os.MkdirTemp("", "metasrv-"+suite+"-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", suite, err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := ModuleRoot()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", suite, err)
		return 1
	}
	b := &Binaries{root: root, paths: map[string]string{}, errs: map[string]error{}}
	race := os.Getenv(raceEnv) == "1"
	for _, pkg := range pkgs {
		out := filepath.Join(dir, path.Base(pkg))
		b.paths[pkg] = out
		b.errs[pkg] = GoBuild(root, out, pkg, race)
	}
	*bins = b
	return m.Run()
}

// Root returns the module root the binaries were built from.
func (b *Binaries) Root() string { return b.root }

// Path returns the binary built from pkg, failing the test if it did not
// build (or was not asked for). It also has go test consult the module's
// sources (ConsultSources), so that a change to them runs the test again.
func (b *Binaries) Path(t testing.TB, pkg string) string {
	t.Helper()
	out, ok := b.paths[pkg]
	if !ok {
		t.Fatalf("%s was not built: add it to the TestMain's RunWithBinaries", pkg)
	}
	if err := b.errs[pkg]; err != nil {
		t.Fatalf("%s did not build:\n%v", path.Base(pkg), err)
	}
	if err := ConsultSources(b.root); err != nil {
		t.Fatalf("stat the sources the binaries were built from: %v", err)
	}
	return out
}
