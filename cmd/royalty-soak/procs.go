package main

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/openroyalty/royalty/internal/repo"
	"github.com/openroyalty/royalty/internal/serverproc"
)

// The process helpers are internal/serverproc's, shared with cmd/royalty-bench-e2e.
var (
	buildRoyalty = serverproc.Build
	royaltyCmd   = serverproc.Run
	freeAddr     = serverproc.FreeAddr
	readFile     = serverproc.ReadFile
	tail         = serverproc.Tail
)

// repoRoot finds the module root from the working directory, so that the harness builds the
// royalty binary from the same tree and finds the sample corpus and ../shared/data.
var repoRoot = repo.Root

// serverProc is `royalty serve` running as a child process, so that SIGKILL and a restart are
// real: no deferred function, no graceful shutdown, the index lock and the pool die with it.
type serverProc struct {
	name                       string // "a", "b", … : the replica
	bin, dsn, dataDir, logPath string
	signingKey                 string   // the journal sealer's key file
	extra                      []string // further serve flags (the replicas' --index=sql --follow)
	grpcAddr, metricsAddr      string

	mu           sync.Mutex
	proc         *serverproc.Proc // nil when not running
	starts       int
	failedStarts []string
}

func newServerProc(name, bin, dsn, dataDir, logPath, signingKey string, extra []string) (*serverProc, error) {
	g, err := freeAddr()
	if err != nil {
		return nil, err
	}
	m, err := freeAddr()
	if err != nil {
		return nil, err
	}
	return &serverProc{name: name, bin: bin, dsn: dsn, dataDir: dataDir, logPath: logPath, signingKey: signingKey, extra: extra, grpcAddr: g, metricsAddr: m}, nil
}

// start starts the server and waits until its health check says SERVING. A server that exits
// during start-up (PostgreSQL still restarting, say) is started again until timeout.
func (p *serverProc) start(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for attempt := 1; ; attempt++ {
		err := p.startOnce(ctx, time.Until(deadline))
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		p.mu.Lock()
		p.failedStarts = append(p.failedStarts, err.Error())
		p.mu.Unlock()
		time.Sleep(500 * time.Millisecond)
	}
}

func (p *serverProc) startOnce(ctx context.Context, timeout time.Duration) error {
	p.mu.Lock()
	p.starts++
	p.mu.Unlock()
	args := []string{"--metrics-addr", p.metricsAddr, "--data-dir", p.dataDir, "--log-level", "warn", "--shutdown-timeout", "20s",
		"--signing-key-file", p.signingKey, "--seal-interval", "500ms",
		// The load reports usage from its first second, before it has ingested anything.
		"--allow-empty-index"}
	proc, err := serverproc.Start(ctx, serverproc.Server{Bin: p.bin, DSN: p.dsn, GRPCAddr: p.grpcAddr, LogPath: p.logPath,
		Args: append(args, p.extra...)}, timeout)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.proc = proc
	p.mu.Unlock()
	return nil
}

// pid is the running process's id, or 0.
func (p *serverProc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return 0
	}
	return p.proc.Pid()
}

// take returns the running process and forgets it.
func (p *serverProc) take() *serverproc.Proc {
	p.mu.Lock()
	defer p.mu.Unlock()
	proc := p.proc
	p.proc = nil
	return proc
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *serverProc) kill() {
	if proc := p.take(); proc != nil {
		proc.Kill()
	}
}

// stop sends SIGTERM, waits up to grace for a clean exit, and kills the process after that. It
// returns an error unless the server exited with status 0 in time.
func (p *serverProc) stop(grace time.Duration) error {
	if proc := p.take(); proc != nil {
		return proc.Stop(grace)
	}
	return nil
}

// parseAPIKey reads the key that `royalty keys create` prints.
func parseAPIKey(out string) (principal, key string, err error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 2 && f[0] == "principal":
			principal = f[1]
		case len(f) >= 3 && f[0] == "api" && f[1] == "key":
			key = f[2]
		}
	}
	if key == "" || principal == "" {
		return "", "", fmt.Errorf("no principal and key in the output of royalty keys create:\n%s", out)
	}
	return principal, key, nil
}
