package main

import (
	"strings"

	"github.com/metasrv/metasrv/internal/config"
	"github.com/metasrv/metasrv/internal/logging"
)

// logOptions returns the options a validated config asks for: the [log]
// sections, with log_dir and log_level as the defaults of their dir and
// levels.
func logOptions(c *config.Config) logging.Options {
	return logging.Options{
		File: logging.FileOptions{
			On:      c.Log.File.On,
			Dir:     c.LogFileDir(),
			Level:   c.LogFileLevel(),
			Format:  logging.Format(strings.ToLower(c.Log.File.Format)),
			MaxSize: int64(c.Log.File.MaxSize),
			Limit:   c.Log.File.Limit,
		},
		Stderr: logging.StderrOptions{
			On:     c.Log.Stderr.On,
			Level:  c.LogStderrLevel(),
			Format: logging.Format(strings.ToLower(c.Log.Stderr.Format)),
		},
	}
}
