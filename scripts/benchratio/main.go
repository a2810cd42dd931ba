// Command benchratio reads the JSON lines of ../shared/peers/compare.sh
// (etcd, noop) and scripts/bench.sh (metasrv) on standard input and prints,
// for each run (workload, clients, conns, total), metasrv's numbers as a
// share of etcd's and of the no-op ceiling's: the ratios issue 14's
// targets are stated in. Lines of system "metasrv-leader" (make
// bench-compare renames the lines of its --writes-to-leader run so) get
// their own row. Every line read is copied to standard error.
//
// usage: (compare.sh; scripts/bench.sh) | go run ./scripts/benchratio
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// result is one line of the peers' benchmark and of databend-metactl bench.
type result struct {
	System   string  `json:"system"`
	Workload string  `json:"workload"`
	Clients  int     `json:"clients"`
	Conns    int     `json:"conns"`
	Total    int     `json:"total"`
	Errors   int     `json:"errors"`
	OpsPerS  float64 `json:"ops_per_sec"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
}

type run struct {
	workload              string
	clients, conns, total int
}

func (r run) String() string {
	return fmt.Sprintf("%s %d/%d %d", r.workload, r.clients, r.conns, r.total)
}

func main() {
	if err := report(os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "benchratio:", err)
		os.Exit(1)
	}
}

func report(in io.Reader, out, other io.Writer) error {
	var order []run
	bySystem := map[run]map[string]result{}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var r result
		if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &r) != nil || r.System == "" {
			fmt.Fprintln(other, line)
			continue
		}
		fmt.Fprintln(other, line)
		k := run{r.Workload, r.Clients, r.Conns, r.Total}
		if bySystem[k] == nil {
			bySystem[k] = map[string]result{}
			order = append(order, k)
		}
		bySystem[k][r.System] = r
	}
	if err := sc.Err(); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tsystem\tops/s\tp50 ms\tp99 ms\terrors\tops/s vs etcd\tops/s vs noop\tp50 vs etcd\tp99 vs etcd\t")
	for _, k := range order {
		systems := bySystem[k]
		etcd, hasEtcd := systems["etcd"]
		noop, hasNoop := systems["noop"]
		for _, name := range []string{"etcd", "noop", "metasrv", "metasrv-leader"} {
			r, ok := systems[name]
			if !ok {
				continue
			}
			cells := []string{k.String(), name, fmt.Sprintf("%.0f", r.OpsPerS), fmt.Sprintf("%.3f", r.P50ms), fmt.Sprintf("%.3f", r.P99ms), fmt.Sprint(r.Errors)}
			if strings.HasPrefix(name, "metasrv") {
				cells = append(cells,
					ratio(r.OpsPerS, etcd.OpsPerS, hasEtcd), ratio(r.OpsPerS, noop.OpsPerS, hasNoop),
					ratio(r.P50ms, etcd.P50ms, hasEtcd), ratio(r.P99ms, etcd.P99ms, hasEtcd))
			} else {
				cells = append(cells, "", "", "", "")
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
		}
	}
	return tw.Flush()
}

// ratio formats a/b as "0.42x", or "-" when b is missing or zero.
func ratio(a, b float64, ok bool) string {
	if !ok || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}
