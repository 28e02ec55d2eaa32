// Package pgbench runs PostgreSQL's own pgbench, the baseline of the benchmarks that compare
// royalty's throughput with TPC-B-like transactions on the same server in the same run.
package pgbench

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/openroyalty/royalty/internal/pgtmp"
)

// Database is the database of srv that Init fills and Run works on.
const Database = "pgbench"

var tpsLine = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

func conn(srv *pgtmp.Server) (bin string, args []string) {
	return filepath.Join(srv.BinDir(), "pgbench"), []string{"-h", "127.0.0.1", "-p", strconv.Itoa(srv.Port()), "-U", "postgres"}
}

// Init creates the pgbench database on srv and loads its tables at scale (`pgbench -i -s`).
func Init(ctx context.Context, srv *pgtmp.Server, scale int) error {
	if _, err := srv.CreateDatabase(ctx, Database, ""); err != nil {
		return err
	}
	bin, args := conn(srv)
	cmd := exec.CommandContext(ctx, bin, append(append([]string{"-i", "-q", "-s", strconv.Itoa(scale)}, args...), Database)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgbench -i: %w\n%s", err, out)
	}
	return nil
}

// Run runs pgbench's TPC-B-like workload with clients for d (whole seconds, at least one) and
// returns its transactions per second.
func Run(ctx context.Context, srv *pgtmp.Server, clients int, d time.Duration) (float64, error) {
	bin, args := conn(srv)
	secs := strconv.Itoa(max(1, int(d.Round(time.Second).Seconds())))
	cmd := exec.CommandContext(ctx, bin, append(append([]string{"-c", strconv.Itoa(clients), "-j", "2", "-T", secs}, args...), Database)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pgbench: %w\n%s", err, out)
	}
	m := tpsLine.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no tps in pgbench's output:\n%s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}
