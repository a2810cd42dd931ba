package raftnode

import (
	"context"
	"fmt"
	"log/slog"
	"os"
)

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

// Fatal and Panic mean raft found its invariants broken: log and stop the
// process, as raft's own default logger does.
func (l raftLogger) Fatal(v ...any) { l.log(slog.LevelError, fmt.Sprint(v...)); os.Exit(1) }
func (l raftLogger) Fatalf(format string, v ...any) {
	l.log(slog.LevelError, fmt.Sprintf(format, v...))
	os.Exit(1)
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
