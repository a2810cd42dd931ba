package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ---- long-running commands ----

// proc is a command that runs until the test stops it (databend-metactl
// watch): its stdout comes line by line on lines, its stderr is kept.
type proc struct {
	cmd   *exec.Cmd
	lines chan string // closed when stdout ends
	done  chan struct{}
	mu    struct {
		sync.Mutex
		stderr bytes.Buffer
	}
}

// startProc starts bin with args in dir. On cleanup it is killed if it
// still runs.
func startProc(t testing.TB, dir, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), lines: make(chan string, 1024), done: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Stderr = procStderr{p}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s %s: %v", filepath.Base(bin), strings.Join(args, " "), err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		_ = p.cmd.Wait() // after the last read of the pipe, as Wait closes it
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		go p.drain()
		<-p.done
	})
	return p
}

// drain reads and drops the rest of stdout, so that the reader goroutine
// never blocks and the command never blocks writing.
func (p *proc) drain() {
	for range p.lines {
	}
}

type procStderr struct{ p *proc }

func (w procStderr) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.mu.stderr.Write(b)
}

// stderr returns what the command wrote on stderr so far.
func (p *proc) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.stderr.String()
}

// nextLine returns the next line of stdout, or an error if none comes
// within timeout or stdout ended.
func (p *proc) nextLine(timeout time.Duration) (string, error) {
	select {
	case l, ok := <-p.lines:
		if !ok {
			return "", fmt.Errorf("stdout ended (exit: %v); stderr: %s", p.cmd.ProcessState, p.stderr())
		}
		return l, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("no line on stdout in %v; stderr: %s", timeout, p.stderr())
	}
}

// interrupt sends SIGINT and returns the exit code, or -2 if the command
// was still running after timeout (it is killed then).
func (p *proc) interrupt(timeout time.Duration) int {
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	go p.drain()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return -2
	}
}

// ---- one-shot commands ----

// cmdResult is the outcome of a command run to completion.
type cmdResult struct {
	stdout, stderr string
	code           int
}

// runCmd runs bin with args in dir and returns its output and exit code;
// it fails the test if the command does not exit within timeout.
func runCmd(t testing.TB, dir string, timeout time.Duration, bin string, args ...string) cmdResult {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s %s: %v", filepath.Base(bin), strings.Join(args, " "), err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%s %s: still running after %v; killed.\nstdout:\n%s\nstderr:\n%s",
			filepath.Base(bin), strings.Join(args, " "), timeout, tail(stdout.String(), 40), tail(stderr.String(), 40))
	}
	return cmdResult{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}
