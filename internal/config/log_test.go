package config

import (
	"errors"
	"log/slog"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestLoadLog checks how the [log.file] and [log.stderr] sections, the
// top-level log_dir and log_level, and the flags combine.
func TestLoadLog(t *testing.T) {
	tests := []struct {
		name string
		file string // config file content; none if ""
		args []string
		mut  func(c *LogConfig) // applied to the default LogConfig

		dir         string // LogFileDir
		fileLevel   slog.Level
		stderrLevel slog.Level
	}{
		{"defaults", "", nil, func(c *LogConfig) {},
			"./.databend/logs", slog.LevelInfo, slog.LevelInfo},
		{"log_dir and log_level are the defaults", "log_dir = \"./_logs1\"\nlog_level = \"warn\"\n", nil, func(c *LogConfig) {},
			"./_logs1", slog.LevelWarn, slog.LevelWarn},
		{"sections win over log_dir and log_level", `
log_dir = "./_logs1"
log_level = "WARN"

[log.file]
dir = "/var/log/meta"
level = "debug"

[log.stderr]
on = true
level = "ERROR"
`, nil, func(c *LogConfig) {
			c.File.Dir, c.File.Level = "/var/log/meta", "debug"
			c.Stderr.On, c.Stderr.Level = true, "ERROR"
		}, "/var/log/meta", slog.LevelDebug, slog.LevelError},
		{"every key", `
[log]
[log.file]
on = false
level = "ERROR"
dir = "d"
format = "text"
limit = 2
max_size = 4096
[log.stderr]
on = true
level = "DEBUG"
format = "JSON"
`, nil, func(c *LogConfig) {
			c.File = FileLogConfig{On: false, Level: "ERROR", Dir: "d", Format: "text", Limit: 2, MaxSize: 4096}
			c.Stderr = StderrLogConfig{On: true, Level: "DEBUG", Format: "JSON"}
		}, "d", slog.LevelError, slog.LevelDebug},
		{"dotted keys", "log.file.limit = 3\nlog.stderr.on = true\n", nil, func(c *LogConfig) {
			c.File.Limit, c.Stderr.On = 3, true
		}, "./.databend/logs", slog.LevelInfo, slog.LevelInfo},
		{"file off needs no dir", "log_dir = \"\"\n[log.file]\non = false\n", nil, func(c *LogConfig) { c.File.On = false },
			"", slog.LevelInfo, slog.LevelInfo},
		{"--log-dir is the default of the file's dir", "", []string{"--log-dir", "./flag_logs", "--log-level", "error"}, func(c *LogConfig) {},
			"./flag_logs", slog.LevelError, slog.LevelError},
		{"--log-dir does not override [log.file] dir", "[log.file]\ndir = \"./file_dir\"\n", []string{"--log-dir", "./flag_logs"},
			func(c *LogConfig) { c.File.Dir = "./file_dir" }, "./file_dir", slog.LevelInfo, slog.LevelInfo},
		{"an empty flag inherits again", "[log.file]\ndir = \"./file_dir\"\nlevel = \"debug\"\n",
			[]string{"--log-file-dir=", "--log-file-level", "", "--log-level", "warn"},
			func(c *LogConfig) {}, "./.databend/logs", slog.LevelWarn, slog.LevelWarn},
		{"stderr on by flag", "", []string{"--log-stderr-on", "--log-stderr-level", "debug"}, func(c *LogConfig) {
			c.Stderr.On, c.Stderr.Level = true, "debug"
		}, "./.databend/logs", slog.LevelInfo, slog.LevelDebug},
		{"file off by flag", "[log.file]\non = true\n", []string{"--log-file-on=false"}, func(c *LogConfig) { c.File.On = false },
			"./.databend/logs", slog.LevelInfo, slog.LevelInfo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"-c", writeFile(t, "metasrv.toml", tt.file)}, args...)
			}
			got, _ := mustLoad(t, args...)
			want := defaultLogConfig()
			tt.mut(&want)
			if diff := cmp.Diff(want, got.Log); diff != "" {
				t.Errorf("Log mismatch (-want +got):\n%s", diff)
			}
			if d := got.LogFileDir(); d != tt.dir {
				t.Errorf("LogFileDir() = %q, want %q", d, tt.dir)
			}
			if l := got.LogFileLevel(); l != tt.fileLevel {
				t.Errorf("LogFileLevel() = %v, want %v", l, tt.fileLevel)
			}
			if l := got.LogStderrLevel(); l != tt.stderrLevel {
				t.Errorf("LogStderrLevel() = %v, want %v", l, tt.stderrLevel)
			}
		})
	}
}

// TestLoadLogFlags checks that every flag of the [log] sections overrides
// the config file.
func TestLoadLogFlags(t *testing.T) {
	file := writeFile(t, "metasrv.toml", `
[log.file]
on = true
level = "INFO"
dir = "./file_dir"
format = "json"
limit = 10
max_size = 10000

[log.stderr]
on = false
level = "INFO"
format = "text"
`)
	got, _ := mustLoad(t, "-c", file,
		"--log-file-on=false", "--log-file-level", "debug", "--log-file-dir", "./flag_dir", "--log-file-format", "text",
		"--log-file-limit", "3", "--log-file-max-size", "5000",
		"--log-stderr-on", "--log-stderr-level", "warn", "--log-stderr-format", "json")
	want := LogConfig{
		File:   FileLogConfig{On: false, Level: "debug", Dir: "./flag_dir", Format: "text", Limit: 3, MaxSize: 5000},
		Stderr: StderrLogConfig{On: true, Level: "warn", Format: "json"},
	}
	if diff := cmp.Diff(want, got.Log); diff != "" {
		t.Errorf("Log mismatch (-want +got):\n%s", diff)
	}
}

// TestLoadLogErrors checks the errors about the [log] sections: the
// sentinel, and that the one-line message names the key and what to do.
func TestLoadLogErrors(t *testing.T) {
	tests := []struct {
		name string
		file string // config file content; none if ""
		args []string
		want error
		msg  []string // substrings of the message; "FILE" is the file's path
	}{
		{"unknown key in [log.file]", "[log.file]\nrotate = true\n", nil, ErrUnknownKey,
			[]string{`"FILE"`, "unknown key log.file.rotate:", "remove it"}},
		{"typo in [log.file]", "[log.file]\nmax_szie = 4096\n", nil, ErrUnknownKey,
			[]string{"log.file.max_szie", "did you mean log.file.max_size?"}},
		{"unknown key in [log.stderr]", "[log.stderr]\nlimit = 3\n", nil, ErrUnknownKey,
			[]string{"log.stderr.limit", "did you mean log.file.limit?", "[log.file]"}},
		{"databend's prefix_filter", "[log.file]\nprefix_filter = \"databend_\"\n", nil, ErrUnknownKey,
			[]string{"log.file.prefix_filter"}},
		{"unknown key in [log]", "[log]\nlevel = \"INFO\"\n", nil, ErrUnknownKey, []string{"unknown key log.level:"}},
		{"unknown section", "[log.query]\non = true\n", nil, ErrUnknownKey, []string{"unknown key log.query:"}},
		{"top-level key in [log.file]", "[log.file]\nlog_dir = \"x\"\n", nil, ErrUnknownKey,
			[]string{"log.file.log_dir", "did you mean log_dir?", "top-level"}},
		{"section in the wrong case", "[LOG.FILE]\non = true\n", nil, ErrUnknownKey, []string{"unknown key LOG.", "did you mean log.file?"}},
		{"key in the wrong case", "[log.file]\nLEVEL = \"INFO\"\n", nil, ErrUnknownKey, []string{"log.file.LEVEL", "did you mean log.file.level?"}},
		{"dir at top level", "dir = \"x\"\n", nil, ErrUnknownKey, []string{"unknown key dir:", "log.file.dir", "[log.file]"}},

		{"log not a table", "log = 1\n", nil, ErrType, []string{"log", "want a table", "[log]"}},
		{"log.file not a table", "log.file = \"x\"\n", nil, ErrType, []string{"log.file", "[log.file]"}},
		{"quoted bool", "[log.file]\non = \"true\"\n", nil, ErrType, []string{`"FILE" line 2`, "log.file.on", "true or false"}},
		{"negative limit", "[log.file]\nlimit = -1\n", nil, ErrType, []string{"log.file.limit", "-1"}},
		{"quoted size", "[log.file]\nmax_size = \"100MB\"\n", nil, ErrType, []string{"log.file.max_size", "integer"}},
		{"level as a number", "[log.stderr]\nlevel = 1\n", nil, ErrType, []string{"log.stderr.level", "string"}},

		{"bad file level", "[log.file]\nlevel = \"trace\"\n", nil, ErrInvalidLogLevel,
			[]string{`config file "FILE"`, "log.file.level", `"trace"`, "DEBUG, INFO, WARN or ERROR"}},
		{"bad stderr level flag", "", []string{"--log-stderr-level", "verbose"}, ErrInvalidLogLevel,
			[]string{"flag --log-stderr-level", "log.stderr.level", `"verbose"`}},
		{"bad file format", "[log.file]\nformat = \"logfmt\"\n", nil, ErrInvalidValue,
			[]string{"log.file.format", `"logfmt"`, `"json" or "text"`}},
		{"empty stderr format", "", []string{"--log-stderr-format", ""}, ErrInvalidValue,
			[]string{"flag --log-stderr-format", "log.stderr.format"}},
		{"limit 0", "[log.file]\nlimit = 0\n", nil, ErrInvalidValue, []string{"log.file.limit", "at least 1"}},
		{"negative limit flag", "", []string{"--log-file-limit", "-2"}, ErrInvalidValue, []string{"flag --log-file-limit", "log.file.limit"}},
		{"max_size in MiB", "[log.file]\nmax_size = 100\n", nil, ErrInvalidValue,
			[]string{"log.file.max_size", "100", "in bytes", "104857600"}},
		{"max_size beyond int64", "", []string{"--log-file-max-size", "18446744073709551615"}, ErrInvalidValue,
			[]string{"flag --log-file-max-size", "log.file.max_size"}},
		{"no directory", "log_dir = \"\"\n", nil, ErrInvalidValue,
			[]string{"log_dir", "log.file.dir", "log.file.on = false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, path := configArgs(t, tt.file, tt.args)
			_, _, err := Load(args)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Load(%q) error = %v, want %v", args, err, tt.want)
			}
			msg := err.Error()
			t.Log(msg)
			if strings.Contains(msg, "\n") {
				t.Errorf("error has more than one line: %q", msg)
			}
			for _, s := range tt.msg {
				s = strings.ReplaceAll(s, "FILE", path)
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not contain %q", msg, s)
				}
			}
		})
	}
}

func TestValidateLog(t *testing.T) {
	tests := []struct {
		name string
		mut  func(c *Config)
		want error  // nil: valid
		key  string // the key the error names
	}{
		{"levels inherit", func(c *Config) { c.Log.File.Level, c.Log.Stderr.Level = "", "" }, nil, ""},
		{"levels any case", func(c *Config) { c.Log.File.Level, c.Log.Stderr.Level = "Warn", "error" }, nil, ""},
		{"formats any case", func(c *Config) { c.Log.File.Format, c.Log.Stderr.Format = "TEXT", "Json" }, nil, ""},
		{"both sinks off", func(c *Config) { c.Log.File.On, c.Log.Stderr.On = false, false }, nil, ""},
		{"file level unknown", func(c *Config) { c.Log.File.Level = "TRACE" }, ErrInvalidLogLevel, "log.file.level"},
		{"stderr level unknown", func(c *Config) { c.Log.Stderr.Level = " INFO" }, ErrInvalidLogLevel, "log.stderr.level"},
		{"log_level still checked", func(c *Config) { c.LogLevel, c.Log.File.Level, c.Log.Stderr.Level = "x", "INFO", "INFO" }, ErrInvalidLogLevel, "log_level"},
		{"file format empty", func(c *Config) { c.Log.File.Format = "" }, ErrInvalidValue, "log.file.format"},
		{"stderr format unknown", func(c *Config) { c.Log.Stderr.Format = "pretty" }, ErrInvalidValue, "log.stderr.format"},
		{"file dir from log_dir", func(c *Config) { c.LogDir, c.Log.File.Dir = "", "d" }, nil, ""},
		{"no file dir", func(c *Config) { c.LogDir, c.Log.File.Dir = "", "" }, ErrInvalidValue, "log_dir"},
		{"limit 1", func(c *Config) { c.Log.File.Limit = 1 }, nil, ""},
		{"limit 0", func(c *Config) { c.Log.File.Limit = 0 }, ErrInvalidValue, "log.file.limit"},
		{"max_size smallest", func(c *Config) { c.Log.File.MaxSize = MinLogFileSize }, nil, ""},
		{"max_size too small", func(c *Config) { c.Log.File.MaxSize = MinLogFileSize - 1 }, ErrInvalidValue, "log.file.max_size"},
		{"max_size largest", func(c *Config) { c.Log.File.MaxSize = math.MaxInt64 }, nil, ""},
		{"max_size beyond int64", func(c *Config) { c.Log.File.MaxSize = math.MaxInt64 + 1 }, ErrInvalidValue, "log.file.max_size"},
		{"dir not UTF-8", func(c *Config) { c.Log.File.Dir = "\xff" }, ErrInvalidValue, "log.file.dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mut(&c)
			checkValidateErr(t, c.Validate(), tt.want, tt.key)
		})
	}
}

// TestLogTOML checks that TOML() writes the [log.file] and [log.stderr]
// sections and that they load back unchanged.
func TestLogTOML(t *testing.T) {
	c := Default()
	c.Log = LogConfig{
		File:   FileLogConfig{On: false, Level: "debug", Dir: "/var/log/\"meta\"", Format: "TEXT", Limit: math.MaxInt, MaxSize: math.MaxInt64},
		Stderr: StderrLogConfig{On: true, Level: "", Format: "json"},
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	text := c.TOML()
	for _, want := range []string{
		"\n[log.file]\n", "\non = false\n", "\nlevel = \"debug\"\n", "\nmax_size = 9223372036854775807\n",
		"\n[log.stderr]\n", "\non = true\n", "\nlevel = \"\"\n", "\nformat = \"json\"\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("TOML() lacks %q:\n%s", want, text)
		}
	}
	if i, j := strings.Index(text, "[raft_config]"), strings.Index(text, "[log.file]"); i < 0 || j < i {
		t.Errorf("[log.file] is not after [raft_config]:\n%s", text)
	}
	got, _ := mustLoad(t, "-c", writeFile(t, "show.toml", text))
	if diff := cmp.Diff(c, got); diff != "" {
		t.Errorf("round trip mismatch (-want +got):\n%s\nTOML:\n%s", diff, text)
	}
}
