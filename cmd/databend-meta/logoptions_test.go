package main

import (
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/metasrv/metasrv/internal/config"
	"github.com/metasrv/metasrv/internal/etcdapi"
	"github.com/metasrv/metasrv/internal/logging"
	"github.com/metasrv/metasrv/internal/statemachine"
)

// TestLogOptions checks the options built from the config, with log_dir
// and log_level as the defaults of the sections.
func TestLogOptions(t *testing.T) {
	tests := []struct {
		name string
		mut  func(c *config.Config)
		want logging.Options
	}{
		{"defaults", func(c *config.Config) {}, logging.Options{
			File:   logging.FileOptions{On: true, Dir: "./.databend/logs", Level: slog.LevelInfo, Format: logging.JSON, MaxSize: 100 << 20, Limit: 48},
			Stderr: logging.StderrOptions{On: false, Level: slog.LevelInfo, Format: logging.Text},
		}},
		{"top-level keys", func(c *config.Config) { c.LogDir, c.LogLevel = "/l", "debug" }, logging.Options{
			File:   logging.FileOptions{On: true, Dir: "/l", Level: slog.LevelDebug, Format: logging.JSON, MaxSize: 100 << 20, Limit: 48},
			Stderr: logging.StderrOptions{On: false, Level: slog.LevelDebug, Format: logging.Text},
		}},
		{"sections win", func(c *config.Config) {
			c.LogDir, c.LogLevel = "/l", "debug"
			c.Log.File = config.FileLogConfig{On: false, Level: "error", Dir: "/f", Format: "TEXT", Limit: 2, MaxSize: 5000}
			c.Log.Stderr = config.StderrLogConfig{On: true, Level: "Warn", Format: "Json"}
		}, logging.Options{
			File:   logging.FileOptions{On: false, Dir: "/f", Level: slog.LevelError, Format: logging.Text, MaxSize: 5000, Limit: 2},
			Stderr: logging.StderrOptions{On: true, Level: slog.LevelWarn, Format: logging.JSON},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			tt.mut(&c)
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, logOptions(&c)); diff != "" {
				t.Errorf("logOptions mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// config keeps its own copy of the state machine's default history size,
// so that it imports nothing of ours.
func TestWatchHistoryDefault(t *testing.T) {
	if got, want := config.Default().WatchHistorySize, statemachine.DefaultHistorySize; got != want {
		t.Errorf("watch_history_size defaults to %d, the state machine to %d", got, want)
	}
	if got, want := time.Duration(config.Default().WatchHistoryRetention)*time.Second, statemachine.DefaultHistoryRetention; got != want {
		t.Errorf("watch_history_retention defaults to %v, the state machine to %v", got, want)
	}
	def := config.Default()
	if got, want := def.WatchProgressNotifyInterval(), etcdapi.DefaultProgressNotifyInterval; got != want {
		t.Errorf("watch_progress_notify_interval defaults to %v, etcd's face to %v", got, want)
	}
}
