package proctest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProcess runs sh through Start: each run's output follows its mark in
// the one file, exit codes and signals are reported, Kill and Terminate
// wait for the exit.
func TestProcess(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh:", err)
	}
	out := filepath.Join(t.TempDir(), "out")

	p, err := Start(exec.Command(sh, "-c", "echo one; exit 3"), out, "run 1")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(time.Minute); err != nil {
		t.Fatal(err)
	}
	if !p.Exited() || p.ExitCode() != 3 || p.Err() == nil {
		t.Errorf("after exit 3: exited %v, code %d, err %v", p.Exited(), p.ExitCode(), p.Err())
	}

	// A process that ignores SIGTERM is killed by Terminate; one that runs
	// on is killed by Kill.
	p, err = Start(exec.Command(sh, "-c", "trap '' TERM; echo two; while :; do sleep 1; done"), out, "run 2")
	if err != nil {
		t.Fatal(err)
	}
	if p.Exited() || p.ExitCode() != -1 || p.Err() != nil {
		t.Errorf("running: exited %v, code %d, err %v", p.Exited(), p.ExitCode(), p.Err())
	}
	if err := p.Wait(0); err == nil {
		t.Error("Wait(0) on a running process: nil error")
	}
	// Once it printed, the trap is set.
	if err := Poll(time.Minute, 10*time.Millisecond, func() error {
		if b, _ := os.ReadFile(out); !strings.HasSuffix(string(b), "two\n") {
			return errors.New("no line two")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Terminate(100 * time.Millisecond); err == nil || !p.Exited() {
		t.Errorf("Terminate of a process ignoring SIGTERM: %v, exited %v; want an error and the process gone", err, p.Exited())
	}
	if err := p.Kill(time.Second); err != nil {
		t.Errorf("Kill of an exited process: %v", err)
	}

	p, err = Start(exec.Command(sh, "-c", "while :; do sleep 1; done"), out, "run 3")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(time.Minute); err != nil || p.ExitCode() != -1 {
		t.Errorf("Kill: %v, exit code %d; want nil, -1", err, p.ExitCode())
	}

	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	runs := strings.Split(string(b), RunMark)
	if len(runs) != 4 || !strings.HasSuffix(runs[1], " run 1\none\n") || !strings.HasSuffix(runs[2], " run 2\ntwo\n") {
		t.Errorf("output file:\n%s", b)
	}
}

func TestOutputFaults(t *testing.T) {
	if got := OutputFaults([]byte("ok\npanic: x\n")); len(got) != 1 || got[0] != "panic:" {
		t.Errorf("OutputFaults = %q, want [panic:]", got)
	}
	if got := OutputFaults([]byte("a panic: in a log line\n")); got != nil {
		t.Errorf("OutputFaults of a line quoting a panic = %q, want none", got)
	}
}

func TestTail(t *testing.T) {
	if got, want := Tail("a\nb\nc\n", 2), "... (1 lines before)\nb\nc"; got != want {
		t.Errorf("Tail = %q, want %q", got, want)
	}
	if got := Tail("a\nb", 5); got != "a\nb" {
		t.Errorf("Tail = %q", got)
	}
}
