package config

import (
	"errors"

	"github.com/spf13/pflag"
)

// Errors returned by Load and Validate, wrapped with the file, flag or key
// they are about; test for them with errors.Is. Every message is one line
// saying what was wrong and what to do.
var (
	// ErrHelp is returned by Load after it printed the usage for --help or
	// -h. It is pflag.ErrHelp; the caller should exit with status 0.
	ErrHelp = pflag.ErrHelp

	// ErrFlag: a command-line flag is unknown, lacks its value, has a
	// value of the wrong type, or a positional argument was given.
	ErrFlag = errors.New("bad command line")

	// ErrConfigFile: the config file could not be read (for example it
	// does not exist); the underlying *fs.PathError error is wrapped too.
	ErrConfigFile = errors.New("cannot read config file")

	// ErrSyntax: the config file is not valid TOML.
	ErrSyntax = errors.New("malformed TOML")

	// ErrUnknownKey: the config file has a key metasrv does not know,
	// usually a typo or a key in the wrong table.
	ErrUnknownKey = errors.New("unknown key")

	// ErrType: a value in the config file has the wrong TOML type, such as
	// a quoted number or a negative count.
	ErrType = errors.New("wrong type")

	// ErrInvalidID: raft_config.id or --leave-id is 0 or above MaxNodeID.
	ErrInvalidID = errors.New("invalid node id")

	// ErrInvalidAddress: an address is not host:port with a valid port, or
	// a host is not a valid host name or IP address.
	ErrInvalidAddress = errors.New("invalid address")

	// ErrInvalidPort: raft_config.raft_api_port is not in 1..65535.
	ErrInvalidPort = errors.New("invalid port")

	// ErrInvalidLogLevel: log_level is not DEBUG, INFO, WARN or ERROR.
	ErrInvalidLogLevel = errors.New("invalid log level")

	// ErrInvalidValue: a number is out of its range or a required string
	// is empty.
	ErrInvalidValue = errors.New("invalid value")

	// ErrPortClash: two of the node's listen addresses (raft, gRPC,
	// admin, metrics) take the same port.
	ErrPortClash = errors.New("two listen addresses take the same port")

	// ErrSingleAndJoin: raft_config.single and raft_config.join are both
	// set.
	ErrSingleAndJoin = errors.New("single and join are both set")

	// ErrJoinSelf: raft_config.join lists this node's own raft address.
	ErrJoinSelf = errors.New("join lists this node's own address")

	// ErrInvalidCmd: --cmd is not a known command.
	ErrInvalidCmd = errors.New("unknown --cmd")

	// ErrInvalidLeave: --leave-id or --leave-via is used wrongly.
	ErrInvalidLeave = errors.New("invalid leave request")

	// ErrIncompleteTLS: a TLS certificate without its key (or the other
	// way round), a client CA without a server certificate, or raft TLS
	// without its CA.
	ErrIncompleteTLS = errors.New("incomplete TLS settings")

	// ErrNoUsers: auth.enabled is true but no [[auth.users]] is given.
	ErrNoUsers = errors.New("no users")

	// ErrInvalidUser: an [[auth.users]] entry has an empty or repeated
	// name, or a password_hash that is not a bcrypt hash.
	ErrInvalidUser = errors.New("invalid user")
)

// keyError is a Validate error about one config key. Load prefixes it with
// where the key's value came from: the config file or a flag.
type keyError struct {
	key string // TOML key, e.g. "raft_config.id"
	err error  // wraps one of the sentinels
}

func (e *keyError) Error() string { return e.key + ": " + e.err.Error() }
func (e *keyError) Unwrap() error { return e.err }
