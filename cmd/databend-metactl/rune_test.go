package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/spf13/cobra"

	"github.com/metasrv/metasrv/client"
)

// runE keeps a command's usage and input errors, makes the client's
// refusal to send an argument (client.ErrInvalidArgument) a usage error
// (exit 2), and any other error a command failure (exit 1).
func TestRunEMapsErrors(t *testing.T) {
	other := errors.New("connection refused")
	tests := []struct {
		name string
		err  error
		want string // the type runE returns
	}{
		{"none", nil, "<nil>"},
		{"usage", usagef("--key is required"), "main.usageError"},
		{"input", inputError{errors.New("bad file")}, "main.inputError"},
		{"the client refused an argument", fmt.Errorf("get: %w: empty key", client.ErrInvalidArgument), "main.usageError"},
		{"anything else", other, "main.runError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := runE(func(*cobra.Command) error { return tt.err })(&cobra.Command{}, nil)
			if got := fmt.Sprintf("%T", err); got != tt.want {
				t.Fatalf("runE of %v = %T (%v), want %s", tt.err, err, err, tt.want)
			}
			if tt.err != nil && !errors.Is(err, tt.err) && err.Error() != tt.err.Error() {
				t.Errorf("runE lost the error: %v, want %v", err, tt.err)
			}
		})
	}
}
