// Package config is the configuration of a metasrv node: the Config type
// with its defaults, validation, and loading from a TOML file and
// command-line flags.
//
// The config file format and key names are those of databend-meta, so its
// config files load unchanged:
//
//	log_dir = "./_logs1"
//	admin_api_address = "0.0.0.0:28101"
//	grpc_api_address = "0.0.0.0:9191"
//
//	[raft_config]
//	id = 1
//	raft_dir = "./_meta1"
//	raft_api_port = 28103
//	single = true
//
// Every key also has a flag of the same name in kebab case (--log-dir,
// --raft-api-port; the keys of [raft_config] without the table name:
// --id, --join; those of [log.file] and [log.stderr] with it:
// --log-file-dir, --log-stderr-on). A key's value is the first of: the
// flag if given, the config file (-c/--config-file) if it sets the key,
// the default (Default).
//
// Usage, in a main package:
//
//	cfg, opts, err := config.Load(os.Args[1:])
//	if errors.Is(err, config.ErrHelp) {
//		os.Exit(0) // Load printed the usage
//	}
//	if err != nil {
//		fmt.Fprintln(os.Stderr, err)
//		os.Exit(2)
//	}
//	if opts.Cmd == config.CmdShowConfig {
//		fmt.Print(cfg.TOML())
//		return
//	}
//
// Load rejects, with one line saying what is wrong and what to do, a
// missing file, malformed TOML (with the line), an unknown key (with the
// valid key it probably meant), a value of the wrong type, and a config
// Validate rejects. Each error wraps one of the sentinel errors (ErrSyntax,
// ErrUnknownKey, ...) for errors.Is.
//
// Security settings (see security.go): grpc_tls_* and admin_tls_* for
// TLS on the public ports, raft_config.raft_secret and raft_tls_* for the
// raft port, and the [auth] table with its [[auth.users]] (the one key
// without a flag). Validate checks that they come in complete sets, that
// secrets are at least 16 characters and that password hashes are bcrypt;
// the files themselves are read by the caller at start-up (tlsfiles). The
// secrets can also come from the environment (METASRV_RAFT_SECRET,
// METASRV_AUTH_TOKEN_SECRET), which wins over the file and loses to a flag.
// TOML (show-config) prints them: treat its output as the config file.
//
// Logging follows databend-meta's [log.file] and [log.stderr] sections;
// the top-level log_dir and log_level are their defaults (see LogConfig).
//
// Durations are integers in milliseconds, as in databend-meta; the methods
// HeartbeatInterval and WaitLeaderTimeout convert them. Addresses are
// host:port strings; RaftListenAddr, RaftAdvertiseAddr and
// GrpcAdvertiseAddr build the addresses the node listens on and advertises.
package config
