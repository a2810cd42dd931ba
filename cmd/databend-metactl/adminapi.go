package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// defaultAdminAddress is databend-meta's default admin_api_address.
const defaultAdminAddress = "127.0.0.1:28002"

// adminCall sends one request to a node's admin HTTP API and returns the
// body of a 2xx answer; another status is an error carrying the server's
// message. addr is host:port, or a URL prefix with a scheme: https:// (or
// a bare address with the TLS flags given) connects with the TLS flags'
// CA and client certificate. The credentials flags go along as HTTP
// Basic (--user) or Bearer (--token).
func (a *app) adminCall(method, addr, path string, query url.Values) ([]byte, error) {
	scheme := "http"
	if a.tls != nil {
		scheme = "https"
	}
	host := addr
	if s, h, ok := strings.Cut(addr, "://"); ok {
		scheme, host = s, strings.TrimSuffix(h, "/")
	}
	if scheme != "http" && scheme != "https" {
		return nil, usagef("invalid --admin-api-address %q: the scheme must be http:// or https://", addr)
	}
	u := url.URL{Scheme: scheme, Host: host, Path: path, RawQuery: query.Encode()}
	req, err := http.NewRequestWithContext(a.ctx, method, u.String(), nil)
	if err != nil {
		return nil, usagef("invalid --admin-api-address %q: %v", addr, err)
	}
	switch {
	case a.user != "":
		req.SetBasicAuth(a.user, a.password)
	case a.token != "":
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	hc := http.DefaultClient
	if scheme == "https" {
		t := http.DefaultTransport.(*http.Transport).Clone()
		if a.tls != nil {
			t.TLSClientConfig = a.tls.Clone()
		}
		hc = &http.Client{Transport: t}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin API at %s: %w; is admin_api_address right?", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("admin API at %s: read reply: %w", addr, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &adminError{addr: addr, status: resp.StatusCode, body: strings.TrimSpace(string(body))}
		_ = json.Unmarshal(body, &e.reply) // not JSON: the body is shown as it is
		return nil, e
	}
	return body, nil
}

// adminError is an admin API answer that is not a 2xx.
type adminError struct {
	addr   string
	status int
	body   string
	// reply is the JSON error of the admin API (internal/admin errorJSON).
	reply struct {
		Error string `json:"error"`
		Code  string `json:"code"`
		// LeaderID and LeaderAdminAddress come with code not_leader.
		LeaderID           uint64 `json:"leader_id"`
		LeaderAdminAddress string `json:"leader_admin_address"`
	}
}

func (e *adminError) Error() string {
	if e.reply.Error != "" {
		return fmt.Sprintf("admin API at %s: %s (HTTP %d)", e.addr, e.reply.Error, e.status)
	}
	return fmt.Sprintf("admin API at %s: HTTP %d: %s", e.addr, e.status, e.body)
}

// leaderAdminAddress is where the leader's admin API is, when err is a
// node's answer that it is not the leader and names the leader's; the
// scheme of addr, the address that answered, is kept. ok is false
// otherwise.
func leaderAdminAddress(err error, addr string) (leader uint64, leaderAddr string, ok bool) {
	var ae *adminError
	if !errors.As(err, &ae) || ae.reply.Code != "not_leader" || ae.reply.LeaderAdminAddress == "" {
		return 0, "", false
	}
	leaderAddr = ae.reply.LeaderAdminAddress
	if scheme, _, found := strings.Cut(addr, "://"); found {
		leaderAddr = scheme + "://" + leaderAddr
	}
	return ae.reply.LeaderID, leaderAddr, true
}

func addAdminFlag(cmd *cobra.Command) {
	cmd.Flags().String("admin-api-address", defaultAdminAddress,
		"host:port of the node's admin HTTP API (admin_api_address); https://host:port, or the TLS flags, for HTTPS")
}

// transferReply is the admin API's answer to trigger_transfer_leader:
// databend-meta's from, to and voter_ids.
type transferReply struct {
	From     uint64   `json:"from"`
	To       uint64   `json:"to"`
	VoterIDs []uint64 `json:"voter_ids"`
}

// rustList formats ids as Rust's Debug does a Vec: [1, 2, 3].
func rustList(ids []uint64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatUint(id, 10)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func newTransferLeaderCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "transfer-leader",
		Short: "Move leadership to another voter (before maintenance of the leader)",
		Long: `Ask the leader, through its admin API, to hand leadership to node --to, or
without --to to the most caught-up voter. --admin-api-address may be any
node's: a follower answers with the leader's id and admin API address,
and the command asks the leader there (once, with the same credentials
and TLS flags), saying so on stderr.

Prints what databend-metactl prints:

  triggered leader transfer from 1 to 2.
  voter ids: [1, 2, 3]

JSON: the admin API's answer, {"from":1,"to":2,"voter_ids":[1,2,3],"leader_id":2}.`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command) error {
			addr, _ := cmd.Flags().GetString("admin-api-address")
			q := url.Values{}
			if cmd.Flags().Changed("to") {
				to, _ := cmd.Flags().GetUint64("to")
				if to == 0 {
					return usagef("--to must be a node id (not 0)")
				}
				q.Set("to", strconv.FormatUint(to, 10))
			}
			body, err := a.adminCall(http.MethodGet, addr, "/v1/ctrl/trigger_transfer_leader", q)
			if id, leaderAddr, ok := leaderAdminAddress(err, addr); ok {
				fmt.Fprintf(cmd.ErrOrStderr(), "databend-metactl: %s is not the leader; asking the leader, node %d, at %s\n", addr, id, leaderAddr)
				body, err = a.adminCall(http.MethodGet, leaderAddr, "/v1/ctrl/trigger_transfer_leader", q)
			}
			if err != nil {
				return err
			}
			if a.output == "json" {
				_, err := cmd.OutOrStdout().Write(body)
				return err
			}
			var r transferReply
			if err := json.Unmarshal(body, &r); err != nil {
				return fmt.Errorf("admin API at %s: the answer to trigger_transfer_leader is not {from, to, voter_ids}: %w: %s", addr, err, body)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "triggered leader transfer from %d to %d.\nvoter ids: %s\n", r.From, r.To, rustList(r.VoterIDs))
			return err
		}),
	}
	addAdminFlag(cmd)
	cmd.Flags().Uint64("to", 0, "id of the voter to take over (default: the most caught-up one)")
	return cmd
}

func newTriggerSnapshotCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "trigger-snapshot",
		Short: "Make a node take a snapshot now and purge its log",
		Long: `Make the node at --admin-api-address take a snapshot now, and wait until it
is written. Prints what databend-metactl prints: "triggered snapshot
successfully."

JSON: the node's id and, from its status after the snapshot, the
snapshot's log id and the newest purged one:
{"id":1,"snapshot_last_log_id":{"leader_id":{"term":2,"node_id":0},"index":120},"purged":...}`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command) error {
			addr, _ := cmd.Flags().GetString("admin-api-address")
			if _, err := a.adminCall(http.MethodGet, addr, "/v1/ctrl/trigger_snapshot", nil); err != nil {
				return err
			}
			if a.output != "json" {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), "triggered snapshot successfully.")
				return err
			}
			body, err := a.adminCall(http.MethodGet, addr, "/v1/cluster/status", nil)
			if err != nil {
				return err
			}
			var st struct {
				ID                uint64          `json:"id"`
				SnapshotLastLogID json.RawMessage `json:"snapshot_last_log_id"`
				Purged            json.RawMessage `json:"purged"`
			}
			if err := json.Unmarshal(body, &st); err != nil {
				return fmt.Errorf("admin API at %s: /v1/cluster/status: %w", addr, err)
			}
			return writeJSON(cmd.OutOrStdout(), st)
		}),
	}
	addAdminFlag(cmd)
	return cmd
}

func newMetricsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "metrics",
		Short: "Print a node's Prometheus metrics",
		Long: `Print the Prometheus text exposition of a node, read from its admin API
(/v1/metrics). --prefix keeps only the metrics whose name starts with it,
e.g. --prefix metasrv_server.`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command) error {
			addr, _ := cmd.Flags().GetString("admin-api-address")
			prefix, _ := cmd.Flags().GetString("prefix")
			body, err := a.adminCall(http.MethodGet, addr, "/v1/metrics", nil)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, line := range strings.SplitAfter(string(body), "\n") {
				name := strings.TrimPrefix(strings.TrimPrefix(line, "# HELP "), "# TYPE ")
				if prefix == "" || strings.HasPrefix(name, prefix) {
					if _, err := io.WriteString(out, line); err != nil {
						return err
					}
				}
			}
			return nil
		}),
	}
	addAdminFlag(cmd)
	cmd.Flags().String("prefix", "", "only metrics whose name starts with this")
	return cmd
}
