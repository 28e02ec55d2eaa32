package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// clockTick is the unit of the CPU times in /proc/<pid>/stat (sysconf(_SC_CLK_TCK), 100 on
// every Linux platform Go supports).
const clockTick = 10 * time.Millisecond

// serverCPU measures the CPU time of a PostgreSQL server's processes on Linux: the postmaster,
// its live children (backends, background workers) and, through the postmaster's cutime and
// cstime, the children that have exited (the backends of a finished export).
type serverCPU struct {
	postmaster int
}

// newServerCPU finds the postmaster as the parent of one of pool's backends. ok is false where
// /proc cannot tell.
func newServerCPU(ctx context.Context, pool *pgxpool.Pool) (_ serverCPU, ok bool) {
	var backend int
	if err := pool.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		return serverCPU{}, false
	}
	f, err := procStat(backend)
	if err != nil {
		return serverCPU{}, false
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return serverCPU{}, false
	}
	return serverCPU{postmaster: ppid}, true
}

// used returns the CPU time the server has used so far.
func (s serverCPU) used() (time.Duration, error) {
	f, err := procStat(s.postmaster)
	if err != nil {
		return 0, err
	}
	total := ticks(f, 11, 12, 13, 14) // utime, stime, cutime, cstime
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	parent := strconv.Itoa(s.postmaster)
	for _, path := range stats {
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(path)))
		if err != nil {
			continue
		}
		if f, err := procStat(pid); err == nil && f[1] == parent {
			total += ticks(f, 11, 12)
		}
	}
	return total, nil
}

// procStat returns the fields of /proc/<pid>/stat after the command: f[0] is the state, f[1]
// the parent's pid, f[11] utime (field 14 of proc(5)).
func procStat(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no command", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return nil, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	return f, nil
}

func ticks(f []string, fields ...int) time.Duration {
	var n int64
	for _, i := range fields {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		n += v
	}
	return time.Duration(n) * clockTick
}
