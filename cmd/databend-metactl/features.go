package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"
)

// featuresReply is the admin API's answer to /v1/features/list and set:
// every state machine feature, and those enabled.
type featuresReply struct {
	Features []string `json:"features"`
	Enabled  []string `json:"enabled"`
}

// callFeatures asks the admin API at addr for path and decodes the answer.
func (a *app) callFeatures(addr, path string, q url.Values) (featuresReply, error) {
	var r featuresReply
	body, err := a.adminCall(http.MethodGet, addr, path, q)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return r, fmt.Errorf("admin API at %s: the answer to %s is not {features, enabled}: %w: %s", addr, path, err, body)
	}
	return r, nil
}

func newListFeaturesCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list-features",
		Short: "List the state machine features and those enabled",
		Long: `List databend-meta's state machine features and those enabled, from the
admin API (/v1/features/list), as indented JSON (with or without --output
json), as databend-metactl prints it:

  {
    "features": [
      "dummy",
      "dummy_feature2"
    ],
    "enabled": []
  }

metasrv's state machine has no features: none is enabled.`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command) error {
			addr, _ := cmd.Flags().GetString("admin-api-address")
			r, err := a.callFeatures(addr, "/v1/features/list", nil)
			if err != nil {
				return err
			}
			return writeJSON(cmd.OutOrStdout(), r)
		}),
	}
	addAdminFlag(cmd)
	return cmd
}

func newSetFeatureCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "set-feature --feature F --enable true|false",
		Short: "Enable or disable a state machine feature",
		Long: `Enable or disable a state machine feature through the leader's admin API
(/v1/features/set), and print the features as list-features does, after
"set-feature: Done; features:", as databend-metactl does.

databend-meta's features (dummy, dummy_feature2) are for testing and
enable nothing; metasrv's state machine has none: --enable false answers
the state, --enable true is refused (HTTP 501) and changes nothing.`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command) error {
			addr, _ := cmd.Flags().GetString("admin-api-address")
			feature, err := requireString(cmd, "feature")
			if err != nil {
				return err
			}
			enable, err := requireString(cmd, "enable")
			if err != nil {
				return err
			}
			if enable != "true" && enable != "false" {
				return usagef("invalid --enable %q: want true or false", enable)
			}
			r, err := a.callFeatures(addr, "/v1/features/set", url.Values{"feature": {feature}, "enable": {enable}})
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintln(cmd.OutOrStdout(), "set-feature: Done; features:"); err != nil {
				return err
			}
			return writeJSON(cmd.OutOrStdout(), r)
		}),
	}
	addAdminFlag(cmd)
	cmd.Flags().String("feature", "", "the feature's name, e.g. dummy")
	// A string, not a bool flag: databend-metactl takes `--enable true`.
	cmd.Flags().String("enable", "", "true to enable the feature, false to disable it")
	return cmd
}
