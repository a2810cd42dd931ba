package raftnode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// ErrRaftFatal is wrapped by Node.Err when raft called its logger's Fatal:
// raft found one of its invariants broken and cannot go on.
var ErrRaftFatal = errors.New("raft stopped on a broken invariant")

// raftFatal is what raftLogger.Fatal panics with; the Ready loop, the only
// goroutine that calls into raft, recovers it and stops the node with its
// error (Node.fail), so that main decides how the process ends.
type raftFatal struct{ err error }

// raftLogger adapts *slog.Logger to raft.Logger.
type raftLogger struct{ lg *slog.Logger }

func (l raftLogger) Debug(v ...any) { l.log(slog.LevelDebug, fmt.Sprint(v...)) }
func (l raftLogger) Debugf(format string, v ...any) {
	l.log(slog.LevelDebug, fmt.Sprintf(format, v...))
}
func (l raftLogger) Info(v ...any)                 { l.log(slog.LevelInfo, fmt.Sprint(v...)) }
func (l raftLogger) Infof(format string, v ...any) { l.log(slog.LevelInfo, fmt.Sprintf(format, v...)) }
func (l raftLogger) Warning(v ...any)              { l.log(slog.LevelWarn, fmt.Sprint(v...)) }
func (l raftLogger) Warningf(format string, v ...any) {
	l.log(slog.LevelWarn, fmt.Sprintf(format, v...))
}
func (l raftLogger) Error(v ...any) { l.log(slog.LevelError, fmt.Sprint(v...)) }
func (l raftLogger) Errorf(format string, v ...any) {
	l.log(slog.LevelError, fmt.Sprintf(format, v...))
}

// Fatal and Panic mean raft found its invariants broken. Fatal must not
// return to raft: it logs and panics with a raftFatal, which the Ready
// loop turns into the node's failure (see run). Panic panics, as raft's
// own logger does.
func (l raftLogger) Fatal(v ...any) { l.fatal(fmt.Sprint(v...)) }
func (l raftLogger) Fatalf(format string, v ...any) {
	l.fatal(fmt.Sprintf(format, v...))
}

func (l raftLogger) fatal(msg string) {
	l.log(slog.LevelError, msg)
	panic(raftFatal{fmt.Errorf("%w: %s", ErrRaftFatal, msg)})
}
func (l raftLogger) Panic(v ...any) { s := fmt.Sprint(v...); l.log(slog.LevelError, s); panic(s) }
func (l raftLogger) Panicf(format string, v ...any) {
	s := fmt.Sprintf(format, v...)
	l.log(slog.LevelError, s)
	panic(s)
}

func (l raftLogger) log(level slog.Level, msg string) {
	l.lg.Log(context.Background(), level, msg, "component", "raft")
}
