package config

import (
	"log/slog"
	"math"
	"strings"
)

// LogConfig is the [log] table, with databend-meta's [log.file] and
// [log.stderr] sections: where log records go, from which level, in which
// format.
//
// The top-level keys log_dir and log_level stay valid (the deploy guide
// uses log_dir): they are the defaults of the sections. An empty
// log.file.dir means log_dir; an empty log.file.level or log.stderr.level
// means log_level. A value set in a section wins over the top-level key.
// Use LogFileDir, LogFileLevel and LogStderrLevel for the effective values.
type LogConfig struct {
	// File is the [log.file] section: JSON lines in files, rotated by size.
	File FileLogConfig `toml:"file"`

	// Stderr is the [log.stderr] section: records on the process's stderr.
	Stderr StderrLogConfig `toml:"stderr"`
}

// FileLogConfig is the [log.file] section. The current file is
// <dir>/databend-meta.log; when a write would take it past MaxSize bytes
// it is renamed to databend-meta.log.<UTC time> and a new one is started,
// and the oldest files beyond Limit are deleted. The logs use at most
// about Limit x MaxSize bytes of disk: 4.7 GiB with the defaults.
type FileLogConfig struct {
	// On writes log records to files. Default true.
	On bool `toml:"on"`

	// Level is the lowest level written to the files: DEBUG, INFO, WARN or
	// ERROR, case-insensitive. Default "": log_level.
	Level string `toml:"level"`

	// Dir is the directory of the log files, created if missing.
	// Default "": log_dir. Use a directory of its own: files named
	// databend-meta.log.* in it are deleted by the retention.
	Dir string `toml:"dir"`

	// Format is "json" (one JSON object per line, for log shippers) or
	// "text" (slog's key=value lines). Default "json".
	Format string `toml:"format"`

	// Limit is the number of log files kept, the current one included;
	// the oldest are deleted beyond it. At least 1. Default 48.
	Limit int `toml:"limit"`

	// MaxSize is the size in bytes a log file reaches before it is
	// rotated; a single record larger than that gets a file of its own.
	// At least 4096. Default 104857600 (100 MiB).
	MaxSize uint64 `toml:"max_size"`
}

// StderrLogConfig is the [log.stderr] section.
type StderrLogConfig struct {
	// On writes log records to stderr too. Default false: the node prints
	// one start-up line on stderr and logs to the files. Turn it on when
	// running in the foreground or under a supervisor that collects stderr.
	On bool `toml:"on"`

	// Level is the lowest level written to stderr: DEBUG, INFO, WARN or
	// ERROR, case-insensitive. Default "": log_level (INFO by default).
	Level string `toml:"level"`

	// Format is "text" (slog's key=value lines) or "json". Default "text".
	Format string `toml:"format"`
}

// Log defaults. MinLogFileSize catches a max_size written in MiB instead
// of bytes.
const (
	DefaultLogFileLimit   = 48
	DefaultLogFileMaxSize = 100 << 20
	MinLogFileSize        = 4096
)

func defaultLogConfig() LogConfig {
	return LogConfig{
		File: FileLogConfig{
			On:      true,
			Level:   "",
			Dir:     "",
			Format:  "json",
			Limit:   DefaultLogFileLimit,
			MaxSize: DefaultLogFileMaxSize,
		},
		Stderr: StderrLogConfig{
			On:     false,
			Level:  "",
			Format: "text",
		},
	}
}

// logKeyDefs are the keys of [log.file] and [log.stderr], in LogConfig's
// field order; keyDefs ends with them.
var logKeyDefs = []keyDef{
	{"log.file.on", "log-file-on", "write log records to files in log.file.dir, rotated by size",
		func(c *Config) any { return &c.Log.File.On }},
	{"log.file.level", "log-file-level", `lowest level written to the files: DEBUG, INFO, WARN or ERROR; "" is log_level`,
		func(c *Config) any { return &c.Log.File.Level }},
	{"log.file.dir", "log-file-dir", `directory of the log files; "" is log_dir`,
		func(c *Config) any { return &c.Log.File.Dir }},
	{"log.file.format", "log-file-format", `"json" (one object per line) or "text"`,
		func(c *Config) any { return &c.Log.File.Format }},
	{"log.file.limit", "log-file-limit", "log files kept, the current one included, >= 1; the oldest are deleted",
		func(c *Config) any { return &c.Log.File.Limit }},
	{"log.file.max_size", "log-file-max-size", "bytes a log file reaches before it is rotated, >= 4096",
		func(c *Config) any { return &c.Log.File.MaxSize }},
	{"log.stderr.on", "log-stderr-on", "also write log records to stderr",
		func(c *Config) any { return &c.Log.Stderr.On }},
	{"log.stderr.level", "log-stderr-level", `lowest level written to stderr: DEBUG, INFO, WARN or ERROR; "" is log_level`,
		func(c *Config) any { return &c.Log.Stderr.Level }},
	{"log.stderr.format", "log-stderr-format", `"text" or "json"`,
		func(c *Config) any { return &c.Log.Stderr.Format }},
}

// fileLogConfig mirrors LogConfig for decoding (see fileConfig).
type fileLogConfig struct {
	File struct {
		On      fileValue `toml:"on"`
		Level   fileValue `toml:"level"`
		Dir     fileValue `toml:"dir"`
		Format  fileValue `toml:"format"`
		Limit   fileValue `toml:"limit"`
		MaxSize fileValue `toml:"max_size"`
	} `toml:"file"`
	Stderr struct {
		On     fileValue `toml:"on"`
		Level  fileValue `toml:"level"`
		Format fileValue `toml:"format"`
	} `toml:"stderr"`
}

func newFileLogConfig(c *Config, st *decodeState) fileLogConfig {
	v := func(ptr any) fileValue { return fileValue{ptr: ptr, st: st} }
	var f fileLogConfig
	f.File.On = v(&c.Log.File.On)
	f.File.Level = v(&c.Log.File.Level)
	f.File.Dir = v(&c.Log.File.Dir)
	f.File.Format = v(&c.Log.File.Format)
	f.File.Limit = v(&c.Log.File.Limit)
	f.File.MaxSize = v(&c.Log.File.MaxSize)
	f.Stderr.On = v(&c.Log.Stderr.On)
	f.Stderr.Level = v(&c.Log.Stderr.Level)
	f.Stderr.Format = v(&c.Log.Stderr.Format)
	return f
}

// LogFileDir returns the directory of the log files: log.file.dir, or
// log_dir if it is empty.
func (c *Config) LogFileDir() string {
	if c.Log.File.Dir != "" {
		return c.Log.File.Dir
	}
	return c.LogDir
}

// LogFileLevel returns the lowest level written to the log files:
// log.file.level, or log_level if it is empty. It returns slog.LevelInfo
// for an invalid level (Validate rejects that).
func (c *Config) LogFileLevel() slog.Level {
	return levelOr(c.Log.File.Level, c.LogLevel)
}

// LogStderrLevel returns the lowest level written to stderr:
// log.stderr.level, or log_level if it is empty. It returns slog.LevelInfo
// for an invalid level (Validate rejects that).
func (c *Config) LogStderrLevel() slog.Level {
	return levelOr(c.Log.Stderr.Level, c.LogLevel)
}

func levelOr(level, fallback string) slog.Level {
	if level == "" {
		level = fallback
	}
	if l, ok := parseLevel(level); ok {
		return l
	}
	return slog.LevelInfo
}

// validateLog checks log_dir, log_level and the [log] sections.
func (c *Config) validateLog() error {
	if _, ok := parseLevel(c.LogLevel); !ok {
		return keyErrorf("log_level", "%w %q: use DEBUG, INFO, WARN or ERROR", ErrInvalidLogLevel, c.LogLevel)
	}
	for _, l := range []struct{ key, level string }{
		{"log.file.level", c.Log.File.Level},
		{"log.stderr.level", c.Log.Stderr.Level},
	} {
		if _, ok := parseLevel(l.level); !ok && l.level != "" {
			return keyErrorf(l.key, "%w %q: use DEBUG, INFO, WARN or ERROR, or \"\" for log_level", ErrInvalidLogLevel, l.level)
		}
	}
	for _, f := range []struct{ key, format string }{
		{"log.file.format", c.Log.File.Format},
		{"log.stderr.format", c.Log.Stderr.Format},
	} {
		if !isLogFormat(f.format) {
			return keyErrorf(f.key, "%w %q: use \"json\" or \"text\"", ErrInvalidValue, f.format)
		}
	}
	f := &c.Log.File
	if f.On && c.LogFileDir() == "" {
		return keyErrorf("log_dir", "%w: log_dir and log.file.dir are empty: set the directory for log files, or log.file.on = false", ErrInvalidValue)
	}
	if f.Limit < 1 {
		return keyErrorf("log.file.limit", "%w %d: keep at least 1 log file; the default is %d", ErrInvalidValue, f.Limit, DefaultLogFileLimit)
	}
	if f.MaxSize < MinLogFileSize || f.MaxSize > math.MaxInt64 {
		return keyErrorf("log.file.max_size", "%w %d: give a size in bytes in %d..%d, such as %d (100 MiB)",
			ErrInvalidValue, f.MaxSize, MinLogFileSize, uint64(math.MaxInt64), DefaultLogFileMaxSize)
	}
	return nil
}

func isLogFormat(s string) bool {
	return strings.EqualFold(s, "json") || strings.EqualFold(s, "text")
}
