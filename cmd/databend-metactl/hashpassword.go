package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"

	"github.com/metasrv/metasrv/internal/auth"
)

// maxPasswordBytes is bcrypt's limit: it ignores what follows.
const maxPasswordBytes = 72

func newHashPasswordCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hash-password",
		Short: "Print the bcrypt hash of a password read from stdin, for [[auth.users]]",
		Long: `Read a password from stdin, one line (a final newline is dropped), and print
its bcrypt hash, the password_hash of a user in the node's config file:

    [auth]
    enabled = true

    [[auth.users]]
    name = "root"
    password_hash = "<the hash>"

Typed on a terminal, the password shows as it is typed. Without it showing on
the screen or in the shell's history:

    read -rs PW && printf '%s' "$PW" | databend-metactl hash-password

Nothing is sent to a node.`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().Int("cost", bcrypt.DefaultCost, fmt.Sprintf("bcrypt cost, %d..%d: each step doubles the time a check takes", bcrypt.MinCost, bcrypt.MaxCost))
	cmd.RunE = runE(func(cmd *cobra.Command) error {
		cost, _ := cmd.Flags().GetInt("cost")
		if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
			return usagef("invalid --cost %d: want %d..%d", cost, bcrypt.MinCost, bcrypt.MaxCost)
		}
		b, err := readPassword(cmd.InOrStdin())
		if err != nil {
			return fmt.Errorf("read the password from stdin: %w", err)
		}
		pw := strings.TrimSuffix(strings.TrimSuffix(b, "\n"), "\r")
		switch {
		case pw == "":
			return inputError{fmt.Errorf("no password on stdin: pipe one line, e.g. printf '%%s' \"$PW\" | databend-metactl hash-password")}
		case strings.ContainsAny(pw, "\r\n"):
			return inputError{fmt.Errorf("the password on stdin spans several lines: give one line")}
		case len(pw) > maxPasswordBytes:
			return inputError{fmt.Errorf("the password is %d bytes; bcrypt uses at most %d: choose a shorter one", len(pw), maxPasswordBytes)}
		}
		h, err := auth.HashPassword(pw, cost)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(cmd.OutOrStdout(), h)
		return err
	})
	return cmd
}

// readPassword reads stdin to its end, or on a terminal its first line (the
// typed password ends with Enter, not with Ctrl-D).
func readPassword(in io.Reader) (string, error) {
	if f, ok := in.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			line, err := bufio.NewReader(f).ReadString('\n')
			if err == io.EOF {
				err = nil
			}
			return line, err
		}
	}
	b, err := io.ReadAll(io.LimitReader(in, 64<<10))
	return string(b), err
}
