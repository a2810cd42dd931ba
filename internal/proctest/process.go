package proctest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Process is one run of a command whose stdout and stderr go to a file
// (Start). Its methods may be called from any goroutine.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result, set before done is closed
}

// Start starts cmd with its stdout and stderr appended to the file out,
// after a line "==== <time> <header>" that marks where this run begins
// (so one file can collect every run of a node). The process is killed
// if the test binary dies (a timeout panic), on systems that can.
func Start(cmd *exec.Cmd, out, header string) (*Process, error) {
	f, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "%s%s %s\n", RunMark, time.Now().Format(time.RFC3339Nano), header)
	cmd.Stdout, cmd.Stderr = f, f
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// RunMark begins the line Start writes before each run's output.
const RunMark = "==== "

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err returns cmd.Wait's result once the process has exited, nil before.
func (p *Process) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// ExitCode returns the exit code of an exited process, -1 if a signal
// ended it or it still runs.
func (p *Process) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process; an exited process is not an error.
func (p *Process) Signal(sig os.Signal) error {
	if p.Exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !p.Exited() {
		return err
	}
	return nil
}

// Wait waits until the process has exited, or returns an error once
// timeout has passed.
func (p *Process) Wait(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		return fmt.Errorf("pid %d still running after %v", p.Pid(), timeout)
	}
}

// Kill sends SIGKILL and waits up to timeout for the process to be gone.
func (p *Process) Kill(timeout time.Duration) error {
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	if err := p.Wait(timeout); err != nil {
		return fmt.Errorf("SIGKILL: %w", err)
	}
	return nil
}

// Terminate sends SIGTERM and waits up to timeout for the process to exit,
// returning its exit code. A process still running then is killed, and
// the error says so.
func (p *Process) Terminate(timeout time.Duration) (int, error) {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return -1, err
	}
	if err := p.Wait(timeout); err != nil {
		_ = p.cmd.Process.Kill()
		<-p.done
		return -1, fmt.Errorf("SIGTERM: %w; killed", err)
	}
	return p.ExitCode(), nil
}

// Faults are what, in a process's output, says it failed in a way no
// test expects: the race detector's report, a panic, a runtime fault.
var Faults = []string{"WARNING: DATA RACE", "\npanic: ", "\nfatal error: "}

// OutputFaults returns the Faults that the output b holds, trimmed.
func OutputFaults(b []byte) []string {
	var found []string
	for _, f := range Faults {
		if bytes.Contains(b, []byte(f)) {
			found = append(found, strings.TrimSpace(f))
		}
	}
	return found
}

// Tail returns the last n lines of s, after a line counting those left out.
func Tail(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// TailFile returns the last n lines of the file at path, or a line saying
// why it cannot be read.
func TailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	return Tail(string(b), n)
}

// Poll calls cond every `every` until it returns nil, or until timeout
// has passed: then it returns cond's last error. For tests of real
// processes, which can only be watched from outside.
func Poll(timeout, every time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(every)
	}
}
