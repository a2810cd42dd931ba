package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/metasrv/metasrv/client"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command failed
	exitUsage = 2 // bad flags or arguments
)

// app holds the global flags and what every command shares. One app serves
// one run.
type app struct {
	// Flags.
	addresses string
	output    string
	timeout   time.Duration
	logLevel  string // databend-metactl's --log-level, not used
	// Security flags: see addSecurityFlags.
	user, password, token  string
	useTLS                 bool
	tlsCA, tlsCert, tlsKey string

	// Set by prepare, before a command runs.
	endpoints []string
	tls       *tls.Config // nil: plaintext
	cli       *client.Client
	ctx       context.Context
	cancel    context.CancelFunc
}

// usageError is a bad flag or argument: exit 2, with a pointer to the
// command's help.
type usageError struct{ error }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// inputError is a bad input file (a txn file that does not parse): exit 2,
// with the message but not the usage.
type inputError struct{ error }

func (e inputError) Unwrap() error { return e.error }

// runError is the failure of a command that started to run: exit 1.
type runError struct{ error }

func (e runError) Unwrap() error { return e.error }

// run executes the command line args and returns the exit code: 0 success,
// 1 the command failed (one line on stderr), 2 bad usage (the message and a
// line naming the command's --help on stderr) or a bad input file (one
// line).
func run(args []string, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdout, stderr)
}

// runContext is run with a context whose end stops the command (Ctrl-C;
// watch ends cleanly with exit 0).
func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{}
	root := newRootCmd(a)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	a.close()
	if err == nil {
		return exitOK
	}
	msg := strings.Join(strings.Fields(err.Error()), " ") // one line
	var ue usageError
	var re runError
	var ie inputError
	if errors.As(err, &ie) {
		fmt.Fprintf(stderr, "databend-metactl: %s\n", msg)
		return exitUsage
	}
	if errors.As(err, &re) && !errors.As(err, &ue) {
		fmt.Fprintf(stderr, "databend-metactl: %s\n", msg)
		return exitError
	}
	// Flag parse errors, unknown commands, unexpected arguments and our
	// own usage errors: the message, and where the usage is (printing it
	// would bury the message under 20-30 lines).
	fmt.Fprintf(stderr, "databend-metactl: %s\nsee %s --help\n", msg, cmd.CommandPath())
	return exitUsage
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "databend-metactl",
		Short: "Inspect and edit a metasrv (Databend meta service) cluster",
		Long: `databend-metactl talks to metasrv nodes through their public gRPC API
(grpc_api_address). Requests go to the first address that answers; reads fail
over to the next address, writes only when that cannot apply them twice.

Nodes with TLS: give --tls-ca (and --tls-cert, --tls-key if they require
client certificates). Nodes with auth enabled: give --user, with the password
in METASRV_PASSWORD (or --password), or --token. The admin API commands use
the same flags (HTTPS when the TLS flags are given).

Exit status: 0 success, 1 the command failed, 2 bad flags, arguments or input
file.`,
		Version:           versionLine(),
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			a.legacyAddress(cmd)
			return a.prepare(cmd)
		},
		Args: cobra.NoArgs,
	}
	root.RunE = func(*cobra.Command, []string) error { return runLegacy(root) }
	addLegacyFlags(root)
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageError{err}
	})
	pf := root.PersistentFlags()
	pf.StringVar(&a.addresses, "grpc-api-address", "127.0.0.1:9191",
		"comma-separated host:port list of metasrv gRPC API addresses")
	pf.StringVar(&a.output, "output", "text",
		"output format: text, json, or databend (what Databend's databend-metactl prints, for status, member-list, get, upsert and watch; the other commands print text)")
	pf.DurationVar(&a.timeout, "timeout", 10*time.Second,
		"time limit for the whole command, including retries on other addresses")
	pf.StringVar(&a.logLevel, "log-level", "INFO",
		"accepted as databend-metactl takes it; this metactl writes no log file (errors go to stderr)")
	addSecurityFlags(pf, a)

	root.AddCommand(
		newStatusCmd(a),
		newMemberListCmd(a),
		newGetCmd(a),
		newUpsertCmd(a),
		newDelCmd(a),
		newListCmd(a),
		newTxnCmd(a),
		newWatchCmd(a),
		newExportCmd(a),
		newImportCmd(a),
		newDumpWALCmd(a),
		newTransferLeaderCmd(a),
		newTriggerSnapshotCmd(a),
		newListFeaturesCmd(a),
		newSetFeatureCmd(a),
		newKeysLayoutCmd(a),
		newMetricsCmd(a),
		newHashPasswordCmd(a),
		newBenchCmd(a),
		newRepairCmd(a),
		newLuaCmd(),
		newBenchClientNumConnCmd(),
		newFilterTenantCmd(),
		newVersionCmd(),
	)
	return root
}

// prepare validates the global flags and creates the client and the
// command's context.
func (a *app) prepare(cmd *cobra.Command) error {
	switch a.output {
	case "text", "json", outputDatabend:
	default:
		return usagef("invalid --output %q: want text, json or databend", a.output)
	}
	if a.timeout <= 0 {
		return usagef("invalid --timeout %v: want a positive duration such as 10s", a.timeout)
	}
	for _, s := range strings.Split(a.addresses, ",") {
		if s = strings.TrimSpace(s); s != "" {
			a.endpoints = append(a.endpoints, s)
		}
	}
	if err := a.prepareSecurity(); err != nil {
		return err
	}
	cli, err := client.New(client.Config{
		Endpoints: a.endpoints,
		TLS:       a.tls,
		User:      a.user, Password: a.password,
		Token:   a.token,
		OnRetry: newWaitNotice(cmd.ErrOrStderr()).retry,
	})
	if errors.Is(err, client.ErrInvalidEndpoint) || errors.Is(err, client.ErrNoEndpoints) {
		return usagef("invalid --grpc-api-address %q: %w", a.addresses, err)
	}
	if err != nil {
		return usageError{err}
	}
	a.cli = cli
	a.ctx, a.cancel = context.WithTimeout(cmd.Context(), a.timeout)
	return nil
}

func (a *app) close() {
	if a.cancel != nil {
		a.cancel()
	}
	if a.cli != nil {
		_ = a.cli.Close()
	}
}

// runE adapts a command's body: its errors are command failures (exit 1)
// unless it returns a usageError or an inputError, or the client refused
// to send a request (client.ErrInvalidArgument: an argument that cannot be
// sent, such as an empty key), which is a usage error.
func runE(f func(cmd *cobra.Command) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		err := f(cmd)
		var ue usageError
		var ie inputError
		switch {
		case err == nil || errors.As(err, &ue) || errors.As(err, &ie):
			return err
		case errors.Is(err, client.ErrInvalidArgument):
			return usageError{err}
		}
		return runError{err}
	}
}

// emptyFlagHints says, for the string flags that requireString reads, why
// an empty value will not do or what to give instead.
var emptyFlagHints = map[string]string{
	"key":      "keys must be non-empty",
	"file":     "give a file name, or - for standard input",
	"raft-dir": "give the node's raft_dir",
	"db":       "give the dump file's name, or - for standard input",
}

// requireString returns the value of a string flag that must be given and
// non-empty. A flag left out and a flag given as "" get different errors:
// the second was given, and is empty.
func requireString(cmd *cobra.Command, name string) (string, error) {
	v, _ := cmd.Flags().GetString(name)
	switch {
	case !cmd.Flags().Changed(name):
		return "", usagef("--%s is required", name)
	case v == "":
		hint, ok := emptyFlagHints[name]
		if !ok {
			hint = "give a value"
		}
		return "", usagef("--%s is empty: %s", name, hint)
	}
	return v, nil
}

// addKeyFlags adds --key and --key-base64, which requireKey reads. Keys
// are bytes: --key takes them as the shell passes them (bash: $'a\xffb'),
// --key-base64 as the JSON output's "key_base64" shows a key that is not
// UTF-8.
func addKeyFlags(cmd *cobra.Command) {
	cmd.Flags().String("key", "", "the key (required, or --key-base64)")
	cmd.Flags().String("key-base64", "", "the key, base64-encoded (standard alphabet, padded): for a key that is not UTF-8")
}

// requireKey returns the key given by --key or --key-base64: exactly one
// of them, non-empty.
func requireKey(cmd *cobra.Command) (string, error) {
	fl := cmd.Flags()
	if !fl.Changed("key-base64") {
		return requireString(cmd, "key")
	}
	if fl.Changed("key") {
		return "", usagef("give --key or --key-base64, not both")
	}
	v, _ := fl.GetString("key-base64")
	k, err := base64.StdEncoding.DecodeString(v)
	switch {
	case err != nil:
		return "", usagef("invalid --key-base64 %q: %v: give the key in standard base64, padded (as key_base64 in JSON output)", v, err)
	case len(k) == 0:
		return "", usagef("--key-base64 is empty: keys must be non-empty")
	}
	return string(k), nil
}

// matchSeqFlag returns client.Exact(n) when --match-seq n was given, else
// client.Any().
func matchSeqFlag(cmd *cobra.Command) client.MatchSeq {
	if !cmd.Flags().Changed("match-seq") {
		return client.Any()
	}
	n, _ := cmd.Flags().GetUint64("match-seq")
	return client.Exact(n)
}
