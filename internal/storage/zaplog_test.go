package storage

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/zap"
)

func TestZapToSlog(t *testing.T) {
	var buf bytes.Buffer
	lg := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	zl := newZapLogger(lg).With(zap.String("component", "wal"))
	zl.Debug("hidden")
	zl.Warn("slow fdatasync", zap.Error(errors.New("boom")), zap.Int("n", 3))
	out := buf.String()
	for _, want := range []string{"level=WARN", `msg="slow fdatasync"`, "component=wal", "error=boom", "n=3"} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
	if strings.Contains(out, "hidden") {
		t.Errorf("debug entry logged at info level: %q", out)
	}
}
