package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/spf13/pflag"
)

// CmdShowConfig is the only valid --cmd: print the effective config as
// TOML (Config.TOML) and exit.
const CmdShowConfig = "show-config"

// Options are the command-line flags that are not config keys.
type Options struct {
	// ConfigFile is the -c/--config-file path; "" if not given.
	ConfigFile string
	// Version is --version: print the version and exit. Load then neither
	// reads the config file nor validates.
	Version bool
	// Cmd is --cmd: "" to run the node, or CmdShowConfig.
	Cmd string
	// LeaveID is --leave-id: the id of the node to remove from the
	// cluster. If --leave-via is given without --leave-id, it is this
	// node's raft_config.id; 0 when LeaveVia is empty.
	LeaveID uint64
	// LeaveVia is --leave-via: raft addresses (host:port) of cluster nodes
	// to send the leave request to, tried in turn. If it is not empty the
	// process should send the request and exit instead of running a node.
	LeaveVia []string
}

// Load builds the configuration from command-line arguments (without
// argv[0]): the defaults, overwritten by the keys of the config file given
// with -c/--config-file, overwritten by the flags actually given. Every
// config key has a flag of the same name in kebab case (--log-dir,
// --raft-api-port, ...); --join may be repeated and takes comma-separated
// addresses, --join "" clears the file's list. The config is validated
// unless --version is given.
//
// On --help or -h, Load prints the usage to stdout and returns an error
// wrapping ErrHelp. Every other error is one line wrapping one of the
// package's sentinel errors, naming the file, flag and key involved.
func Load(args []string) (Config, Options, error) {
	return load(args, os.Stdout)
}

func load(args []string, out io.Writer) (Config, Options, error) {
	var opts Options
	flagCfg := Default()
	fset := newFlagSet(&flagCfg, &opts)
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(out, usage(fset))
			return Config{}, opts, fmt.Errorf("help requested: %w", err)
		}
		return Config{}, opts, fmt.Errorf("%w: %v: run with --help to list the flags", ErrFlag, err)
	}
	if fset.NArg() > 0 {
		return Config{}, opts, fmt.Errorf("%w: unexpected argument %q: every value must follow its flag (booleans as --single=false), the config file is given with -c FILE",
			ErrFlag, fset.Arg(0))
	}

	cfg := Default()
	if opts.Version {
		applyFlags(&cfg, &flagCfg, fset)
		cfg.normalize()
		return cfg, opts, nil
	}
	if err := checkOptions(&opts, fset); err != nil {
		return Config{}, opts, err
	}

	var md toml.MetaData
	if opts.ConfigFile != "" {
		data, err := os.ReadFile(opts.ConfigFile)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return Config{}, opts, fmt.Errorf("%w %q: %w: check the path given with -c/--config-file",
				ErrConfigFile, opts.ConfigFile, err)
		}
		if md, err = decodeTOML(&cfg, data, opts.ConfigFile); err != nil {
			return Config{}, opts, err
		}
	}
	fromEnv := applyEnv(&cfg, fset)
	applyFlags(&cfg, &flagCfg, fset)
	cfg.normalize()
	if err := cfg.Validate(); err != nil {
		return Config{}, opts, withSource(err, fset, md, opts.ConfigFile, fromEnv)
	}
	if len(opts.LeaveVia) > 0 && !fset.Changed("leave-id") {
		opts.LeaveID = cfg.Raft.ID
	}
	return cfg, opts, nil
}

func newFlagSet(c *Config, opts *Options) *pflag.FlagSet {
	fset := pflag.NewFlagSet("databend-meta", pflag.ContinueOnError)
	fset.SortFlags = false
	fset.SetOutput(io.Discard) // errors are returned, usage printed by load
	fset.Usage = func() {}

	fset.StringVarP(&opts.ConfigFile, "config-file", "c", "", "TOML config file; flags override its keys")
	for _, d := range keyDefs {
		switch p := d.field(c).(type) {
		case *string:
			fset.StringVar(p, d.flag, *p, d.usage)
		case *bool:
			fset.BoolVar(p, d.flag, *p, d.usage)
		case *int:
			fset.IntVar(p, d.flag, *p, d.usage)
		case *uint32:
			fset.Uint32Var(p, d.flag, *p, d.usage)
		case *uint64:
			if d.name == idKey {
				fset.Var((*idValue)(p), d.flag, d.usage)
				break
			}
			fset.Uint64Var(p, d.flag, *p, d.usage)
		case *[]string:
			fset.StringSliceVar(p, d.flag, *p, d.usage)
		default:
			panic(fmt.Sprintf("config: key %s has unsupported type %T", d.name, p))
		}
	}
	fset.BoolVar(&opts.Version, "version", false, "print the version and exit")
	fset.StringVar(&opts.Cmd, "cmd", "", `run a command and exit: "show-config" prints the effective config as TOML`)
	fset.Var((*idValue)(&opts.LeaveID), "leave-id", "id of the node to remove from the cluster (default: this node's id); needs --leave-via")
	fset.StringSliceVar(&opts.LeaveVia, "leave-via", nil, "raft host:port of a cluster node to send the leave request to, then exit; repeatable")
	return fset
}

// idValue is the value of a node id flag (--id, --leave-id): pflag's
// uint64, saying the valid range when the value is not a uint64. 0 and
// the ids raft reserves are left to Validate and checkOptions, which
// refuse them with ErrInvalidID.
type idValue uint64

func (v *idValue) String() string { return strconv.FormatUint(uint64(*v), 10) }
func (v *idValue) Type() string   { return "uint64" }

func (v *idValue) Set(s string) error {
	n, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return fmt.Errorf("want a node id in %s", idRange)
	}
	*v = idValue(n)
	return nil
}

func usage(fset *pflag.FlagSet) string {
	return "Usage: databend-meta [-c FILE] [flags]\n\n" +
		"Runs a metasrv (databend-meta) node. Each config key has a flag with the\n" +
		"same name in kebab case (log_dir: --log-dir, raft_config.id: --id,\n" +
		"log.file.dir: --log-file-dir);\n" +
		"flags override the config file, which overrides the defaults.\n\n" +
		"Flags:\n" + fset.FlagUsages()
}

// applyFlags copies into dst the keys whose flags were given; src holds
// the parsed flag values.
func applyFlags(dst, src *Config, fset *pflag.FlagSet) {
	for _, d := range keyDefs {
		if fset.Changed(d.flag) {
			reflect.ValueOf(d.field(dst)).Elem().Set(reflect.ValueOf(d.field(src)).Elem())
		}
	}
}

func checkOptions(opts *Options, fset *pflag.FlagSet) error {
	if opts.Cmd != "" && opts.Cmd != CmdShowConfig {
		return fmt.Errorf("%w %q: the only command is %s", ErrInvalidCmd, opts.Cmd, CmdShowConfig)
	}
	var via []string
	for _, v := range opts.LeaveVia {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		if err := checkConnectAddr(v); err != nil {
			return fmt.Errorf("%w: --leave-via %q: %w: give the raft address (host:port) of a cluster node", ErrInvalidLeave, v, err)
		}
		via = append(via, v)
	}
	opts.LeaveVia = via
	if fset.Changed("leave-id") {
		if len(via) == 0 {
			return fmt.Errorf("%w: --leave-id needs --leave-via HOST:PORT, the raft address of a node to send the request to", ErrInvalidLeave)
		}
		if opts.LeaveID == 0 || opts.LeaveID > MaxNodeID {
			return fmt.Errorf("%w: --leave-id %d: %w: give the raft_config.id of the node to remove, in %s", ErrInvalidLeave, opts.LeaveID, ErrInvalidID, idRange)
		}
	}
	if len(via) > 0 && opts.Cmd != "" {
		return fmt.Errorf("%w: --leave-via cannot be combined with --cmd: run them separately", ErrInvalidLeave)
	}
	return nil
}

// applyEnv sets the keys of envKeys whose environment variable is set and
// not empty, unless their flag was given (the flag wins). It returns the
// variable that set each key.
func applyEnv(c *Config, fset *pflag.FlagSet) map[string]string {
	from := map[string]string{}
	for _, e := range envKeys {
		v := os.Getenv(e.env)
		d, _ := lookupKey(e.key)
		if v == "" || fset.Changed(d.flag) {
			continue
		}
		*d.field(c).(*string) = v
		from[e.key] = e.env
	}
	return from
}

// withSource prefixes a Validate error with where the bad value came from:
// a flag, an environment variable or the config file. Values from the
// defaults get no prefix.
func withSource(err error, fset *pflag.FlagSet, md toml.MetaData, file string, fromEnv map[string]string) error {
	var ke *keyError
	if !errors.As(err, &ke) {
		return err
	}
	if d, ok := lookupKey(ke.key); ok && fset.Changed(d.flag) {
		return fmt.Errorf("flag --%s: %w", d.flag, err)
	}
	if env, ok := fromEnv[ke.key]; ok {
		return fmt.Errorf("environment variable %s: %w", env, err)
	}
	if file != "" && (md.IsDefined(strings.Split(ke.key, ".")...) || strings.HasPrefix(ke.key, usersKey)) {
		return fmt.Errorf("config file %q: %w", file, err)
	}
	return err
}
