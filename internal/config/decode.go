package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"

	"github.com/BurntSushi/toml"
)

// decodeTOML reads a config file's content into c: keys the file sets
// overwrite c's values, the others are left alone. name is the file name
// used in errors. It returns the keys the file defines.
func decodeTOML(c *Config, data []byte, name string) (toml.MetaData, error) {
	st := decodeState{bigInts: map[string]bool{}}
	// The decoder strips a byte order mark too; strip it first, so that the
	// offsets its errors give are offsets into text.
	text := strings.TrimPrefix(string(data), "\ufeff")
	var md toml.MetaData
	for {
		var err error
		md, err = toml.Decode(text, newFileConfig(c, &st))
		if err == nil {
			break
		}
		// An integer beyond int64 stops the decoder; raft_config.id takes
		// every uint64. Mark the literal and decode again: the key's
		// fileValue decides. Each pass marks one more literal; a key that
		// is not a uint64 fails on its marked literal.
		marked, ok := st.markBigInt(text, err)
		if !ok || len(st.bigInts) > len(keyDefs) {
			return md, decodeError(md, &st, err, name)
		}
		text = marked
	}
	for _, k := range md.Undecoded() {
		// fileUsers decodes auth.users whole; the decoder may still list
		// the fields of inline tables as undecoded.
		if !isUsersKey(k.String()) {
			return md, unknownKeyError(k, name)
		}
	}
	// The decoder matches struct fields case-insensitively ("LOG_DIR" sets
	// log_dir); databend-meta does not, so neither do we.
	for _, k := range md.Keys() {
		if !isKnownKey(k) {
			return md, unknownKeyError(k, name)
		}
	}
	return md, nil
}

func decodeError(md toml.MetaData, st *decodeState, err error, name string) error {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		// The decoder reports only a table given as a plain value this way.
		for _, table := range tables() {
			if t := md.Type(strings.Split(table, ".")...); t != "" && t != "Hash" {
				return fmt.Errorf("config file %q: %s: %w: want a table, got %s: write it as a [%s] header followed by its keys",
					name, table, ErrType, tomlTypeName(t), table)
			}
		}
		return fmt.Errorf("config file %q: %w: %s", name, ErrType, oneLine(err.Error()))
	}
	where := fmt.Sprintf("config file %q", name)
	if pe.Position.Line > 0 {
		where += fmt.Sprintf(" line %d", pe.Position.Line)
	}
	msg := oneLine(strings.TrimSuffix(pe.Message, "."))
	if st.typeErr {
		return fmt.Errorf("%s: %s: %w: %s", where, oneLine(pe.LastKey), ErrType, msg)
	}
	after := ""
	if pe.LastKey != "" {
		after = fmt.Sprintf(" (after key %s)", oneLine(pe.LastKey))
	}
	return fmt.Errorf("%s: %w%s: %s: fix the TOML syntax", where, ErrSyntax, after, msg)
}

func unknownKeyError(k toml.Key, name string) error {
	what := "remove it or fix its name; `databend-meta --cmd show-config` prints every valid key (and --help each key's flag)"
	if s, hint := suggestKey(k); s != "" {
		what = "did you mean " + s + "?"
		if hint != "" {
			what += " (" + hint + ")"
		}
	}
	return fmt.Errorf("config file %q: %w %s: %s", name, ErrUnknownKey, oneLine(k.String()), what)
}

// oneLine escapes control characters, such as newlines the decoder quotes
// from the file, so that an error stays on one line.
func oneLine(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			b.WriteString(strings.Trim(strconv.QuoteRune(r), "'"))
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// decodeState is shared by the fileValues of one decodeTOML.
type decodeState struct {
	// typeErr records that a decoding error came from a fileValue, that
	// is a wrong type, rather than from the TOML syntax: toml.ParseError
	// does not give access to the error it wraps.
	typeErr bool
	// bigInts holds the markers decodeTOML put in the text in place of
	// integer literals beyond int64 (see markBigInt).
	bigInts map[string]bool
}

// bigIntMarker starts the string that replaces an integer literal beyond
// int64 in the text given to the decoder; the literal follows it. A NUL
// cannot appear in a TOML string but as an escape, and only markers in
// decodeState.bigInts count.
const bigIntMarker = "\x00int:"

// bigInt is an integer literal of the config file beyond int64, as
// written: "18446744073709551615", "0xffff_ffff_ffff_ffff", "-1e0"...
// UnmarshalTOML sees it instead of the marker that replaced it.
type bigInt string

// markBigInt returns text with the integer literal err complains about
// (out of range for the decoder's int64) replaced by a marker string, and
// records the marker; false if err is about something else.
func (st *decodeState) markBigInt(text string, err error) (string, bool) {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return "", false
	}
	start, end := pe.Position.Start, pe.Position.Start+pe.Position.Len
	if start < 0 || end > len(text) || start >= end {
		return "", false
	}
	lit := text[start:end]
	if pe.Message != lit+" is out of range for int64" {
		return "", false
	}
	marker := bigIntMarker + lit
	st.bigInts[marker] = true
	return text[:start] + strconv.Quote(marker) + text[end:], true
}

// unmark returns data, a decoded TOML value, with the markers of
// markBigInt turned back into bigInts, in lists and tables too.
func (st *decodeState) unmark(data any) any {
	switch d := data.(type) {
	case string:
		if st.bigInts[d] {
			return bigInt(strings.TrimPrefix(d, bigIntMarker))
		}
	case []any:
		out := make([]any, len(d))
		for i, e := range d {
			out[i] = st.unmark(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(d))
		for k, e := range d {
			out[k] = st.unmark(e)
		}
		return out
	case []map[string]any:
		out := make([]map[string]any, len(d))
		for i, e := range d {
			out[i] = st.unmark(e).(map[string]any)
		}
		return out
	}
	return data
}

// fileConfig mirrors Config with the same TOML keys, for decoding only.
// Each fileValue checks the TOML type and range of its value and stores it
// into Config, so that a wrong type is reported with its key and line
// (the decoder would silently wrap a negative number into a uint64).
type fileConfig struct {
	LogDir                fileValue `toml:"log_dir"`
	LogLevel              fileValue `toml:"log_level"`
	AdminAPIAddress       fileValue `toml:"admin_api_address"`
	AdminTLSServerCert    fileValue `toml:"admin_tls_server_cert"`
	AdminTLSServerKey     fileValue `toml:"admin_tls_server_key"`
	GrpcAPIAddress        fileValue `toml:"grpc_api_address"`
	GrpcAPIAdvertiseHost  fileValue `toml:"grpc_api_advertise_host"`
	GrpcTLSServerCert     fileValue `toml:"grpc_tls_server_cert"`
	GrpcTLSServerKey      fileValue `toml:"grpc_tls_server_key"`
	GrpcTLSClientCA       fileValue `toml:"grpc_tls_client_ca"`
	MetricAPIAddress      fileValue `toml:"metric_api_address"`
	GrpcAPIMaxMessageSize fileValue `toml:"grpc_api_max_message_size"`
	WatchHistorySize      fileValue `toml:"watch_history_size"`
	WatchHistoryRetention fileValue `toml:"watch_history_retention"`
	WatchProgressNotify   fileValue `toml:"watch_progress_notify_interval"`
	GCPercent             fileValue `toml:"gc_percent"`
	Raft                  struct {
		ID                    fileValue `toml:"id"`
		RaftDir               fileValue `toml:"raft_dir"`
		RaftAPIPort           fileValue `toml:"raft_api_port"`
		RaftListenHost        fileValue `toml:"raft_listen_host"`
		RaftAdvertiseHost     fileValue `toml:"raft_advertise_host"`
		Single                fileValue `toml:"single"`
		Join                  fileValue `toml:"join"`
		ClusterName           fileValue `toml:"cluster_name"`
		HeartbeatIntervalMs   fileValue `toml:"heartbeat_interval"`
		SnapshotLogsSinceLast fileValue `toml:"snapshot_logs_since_last"`
		WALSegmentSize        fileValue `toml:"wal_segment_size"`
		MaxAppliedLogToKeep   fileValue `toml:"max_applied_log_to_keep"`
		WaitLeaderTimeoutMs   fileValue `toml:"wait_leader_timeout"`
		RaftSecret            fileValue `toml:"raft_secret"`
		RaftTLSCert           fileValue `toml:"raft_tls_cert"`
		RaftTLSKey            fileValue `toml:"raft_tls_key"`
		RaftTLSCA             fileValue `toml:"raft_tls_ca"`
	} `toml:"raft_config"`
	Log  fileLogConfig  `toml:"log"`
	Auth fileAuthConfig `toml:"auth"`
}

func newFileConfig(c *Config, st *decodeState) *fileConfig {
	v := func(ptr any) fileValue { return fileValue{ptr: ptr, st: st} }
	f := &fileConfig{
		LogDir:                v(&c.LogDir),
		LogLevel:              v(&c.LogLevel),
		AdminAPIAddress:       v(&c.AdminAPIAddress),
		AdminTLSServerCert:    v(&c.AdminTLSServerCert),
		AdminTLSServerKey:     v(&c.AdminTLSServerKey),
		GrpcAPIAddress:        v(&c.GrpcAPIAddress),
		GrpcAPIAdvertiseHost:  v(&c.GrpcAPIAdvertiseHost),
		GrpcTLSServerCert:     v(&c.GrpcTLSServerCert),
		GrpcTLSServerKey:      v(&c.GrpcTLSServerKey),
		GrpcTLSClientCA:       v(&c.GrpcTLSClientCA),
		MetricAPIAddress:      v(&c.MetricAPIAddress),
		GrpcAPIMaxMessageSize: v(&c.GrpcAPIMaxMessageSize),
		WatchHistorySize:      v(&c.WatchHistorySize),
		WatchHistoryRetention: v(&c.WatchHistoryRetention),
		WatchProgressNotify:   v(&c.WatchProgressNotifyIntervalMs),
		GCPercent:             v(&c.GCPercent),
	}
	r := &f.Raft
	r.ID = fileValue{ptr: &c.Raft.ID, st: st, valid: idRange}
	r.RaftDir = v(&c.Raft.RaftDir)
	r.RaftAPIPort = v(&c.Raft.RaftAPIPort)
	r.RaftListenHost = v(&c.Raft.RaftListenHost)
	r.RaftAdvertiseHost = v(&c.Raft.RaftAdvertiseHost)
	r.Single = v(&c.Raft.Single)
	r.Join = v(&c.Raft.Join)
	r.ClusterName = v(&c.Raft.ClusterName)
	r.HeartbeatIntervalMs = v(&c.Raft.HeartbeatIntervalMs)
	r.SnapshotLogsSinceLast = v(&c.Raft.SnapshotLogsSinceLast)
	r.WALSegmentSize = v(&c.Raft.WALSegmentSize)
	r.MaxAppliedLogToKeep = v(&c.Raft.MaxAppliedLogToKeep)
	r.WaitLeaderTimeoutMs = v(&c.Raft.WaitLeaderTimeoutMs)
	r.RaftSecret = v(&c.Raft.RaftSecret)
	r.RaftTLSCert = v(&c.Raft.RaftTLSCert)
	r.RaftTLSKey = v(&c.Raft.RaftTLSKey)
	r.RaftTLSCA = v(&c.Raft.RaftTLSCA)
	f.Log = newFileLogConfig(c, st)
	f.Auth = newFileAuthConfig(c, st)
	return f
}

// fileValue decodes one TOML value into the Config field ptr points to.
type fileValue struct {
	ptr any // *string, *bool, *int, *uint32, *uint64 or *[]string
	st  *decodeState
	// valid is the range of an integer key's valid values, for the
	// message about a value that does not fit the field ("1..9"); default
	// 0 to the field's largest. Validate checks the values that fit.
	valid string
}

// UnmarshalTOML implements toml.Unmarshaler. data is the decoded TOML
// value: string, bool, int64, float64, a time type, []any or
// map[string]any, or a marker for a bigInt.
func (v *fileValue) UnmarshalTOML(data any) error {
	data = v.st.unmark(data)
	var err error
	switch p := v.ptr.(type) {
	case *string:
		s, ok := data.(string)
		if !ok {
			err = wrongType(`a string in double quotes, like "x"`, data)
			break
		}
		*p = s
	case *bool:
		b, ok := data.(bool)
		if !ok {
			err = wrongType("true or false, without quotes", data)
			break
		}
		*p = b
	case *int:
		var n uint64
		if n, err = unsigned(data, v.valid, math.MaxInt); err == nil {
			*p = int(n)
		}
	case *uint32:
		var n uint64
		if n, err = unsigned(data, v.valid, math.MaxUint32); err == nil {
			*p = uint32(n)
		}
	case *uint64:
		var n uint64
		if n, err = unsigned(data, v.valid, math.MaxUint64); err == nil {
			*p = n
		}
	case *[]string:
		list, ok := data.([]any)
		if !ok {
			err = wrongType(`a list of strings, like ["a", "b"]`, data)
			break
		}
		ss := make([]string, 0, len(list))
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				err = fmt.Errorf(`want a list of strings, like ["a", "b"], got %s in the list`, describeValue(e))
				break
			}
			ss = append(ss, s)
		}
		if err == nil {
			*p = ss
		}
	default:
		panic(fmt.Sprintf("config: fileValue of unsupported type %T", v.ptr))
	}
	if err != nil {
		v.st.typeErr = true
	}
	return err
}

// unsigned returns data as an integer in 0..limit. valid, if not "", is
// the range the message names instead.
func unsigned(data any, valid string, limit uint64) (uint64, error) {
	var n uint64
	inRange := false
	switch d := data.(type) {
	case int64:
		n, inRange = uint64(d), d >= 0
	case bigInt:
		// TOML's forms: decimal with an optional sign, 0x, 0o, 0b, with
		// underscores between digits; the decoder checked the syntax.
		var err error
		n, err = strconv.ParseUint(strings.TrimPrefix(string(d), "+"), 0, 64)
		inRange = err == nil
	default:
		return 0, wrongType("an integer without quotes", data)
	}
	if !inRange || n > limit {
		if valid == "" {
			valid = "0.." + strconv.FormatUint(limit, 10)
		}
		return 0, fmt.Errorf("want an integer in %s, got %s", valid, strings.TrimPrefix(describeValue(data), "the integer "))
	}
	return n, nil
}

func wrongType(want string, got any) error {
	return fmt.Errorf("want %s, got %s", want, describeValue(got))
}

// describeValue names a decoded TOML value's type, with the value itself
// if it is short.
func describeValue(v any) string {
	switch v := v.(type) {
	case string:
		if len(v) > 40 {
			return "a string"
		}
		return fmt.Sprintf("the string %q", v)
	case int64:
		return fmt.Sprintf("the integer %d", v)
	case bigInt:
		return fmt.Sprintf("the integer %s", v)
	case float64:
		return fmt.Sprintf("the float %v", v)
	case bool:
		return fmt.Sprintf("the boolean %v", v)
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	default:
		return "a date/time"
	}
}

// tomlTypeName turns toml.MetaData.Type's names into TOML's own words.
func tomlTypeName(t string) string {
	switch t {
	case "Integer":
		return "an integer"
	case "Float":
		return "a float"
	case "String":
		return "a string"
	case "Bool":
		return "a boolean"
	case "Array", "ArrayHash":
		return "an array"
	default:
		return "a date/time"
	}
}
