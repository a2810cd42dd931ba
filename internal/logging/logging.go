// Package logging builds the server's *slog.Logger from the config: JSON
// lines in log_dir (databend-meta.log) and human-readable text on stderr.
package logging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// ParseLevel parses DEBUG, INFO, WARN or ERROR (any case).
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("log_level %q: use DEBUG, INFO, WARN or ERROR", s)
	}
	return l, nil
}

// Open returns a logger writing JSON lines at level to log_dir and text at
// level to stderr, and a closer for the file. An empty logDir logs to stderr only.
func Open(logDir, level string, stderr io.Writer) (*slog.Logger, io.Closer, error) {
	lv, err := ParseLevel(level)
	if err != nil {
		return nil, nil, err
	}
	text := slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv})
	if logDir == "" {
		return slog.New(text), io.NopCloser(nil), nil
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("create log_dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(logDir, "databend-meta.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("open log file in log_dir: %w", err)
	}
	jsonH := slog.NewJSONHandler(f, &slog.HandlerOptions{Level: lv})
	return slog.New(fanout{jsonH, text}), f, nil
}

// fanout sends every record to several handlers.
type fanout []slog.Handler

func (f fanout) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range f {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (f fanout) Handle(ctx context.Context, r slog.Record) error {
	var errs []error
	for _, h := range f {
		if h.Enabled(ctx, r.Level) {
			errs = append(errs, h.Handle(ctx, r.Clone()))
		}
	}
	return errors.Join(errs...)
}

func (f fanout) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithAttrs(attrs)
	}
	return out
}

func (f fanout) WithGroup(name string) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithGroup(name)
	}
	return out
}
