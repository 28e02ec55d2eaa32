package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// repoRoot finds the module root from the working directory, so that the harness builds the
// royalty binary from the same tree and finds the sample corpus and ../shared/data.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the royalty module (no go.mod above the working directory)")
		}
		dir = parent
	}
}

// buildRoyalty builds cmd/royalty into dir and returns the binary's path.
func buildRoyalty(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "royalty")
	goTool := os.Getenv("GO")
	if goTool == "" {
		goTool = "go"
	}
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, "./cmd/royalty")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/royalty: %w\n%s", err, out)
	}
	return bin, nil
}

// royaltyCmd runs one royalty subcommand to its end and returns its standard output.
func royaltyCmd(ctx context.Context, bin, dsn string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "ROYALTY_DATABASE_URL="+dsn, "ROYALTY_LOG_LEVEL=warn")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("royalty %s: %w\n%s", strings.Join(args, " "), err, tail(stderr.String(), 3000))
	}
	return stdout.String(), nil
}

// serverProc is `royalty serve` running as a child process, so that SIGKILL and a restart are
// real: no deferred function, no graceful shutdown, the index lock and the pool die with it.
type serverProc struct {
	bin, dsn, dataDir, logPath string
	signingKey                 string // the journal sealer's key file
	grpcAddr, metricsAddr      string

	mu           sync.Mutex
	cmd          *exec.Cmd
	exited       chan struct{}
	err          error // the Wait error of the last process
	starts       int
	failedStarts []string
}

func newServerProc(bin, dsn, dataDir, logPath, signingKey string) (*serverProc, error) {
	g, err := freeAddr()
	if err != nil {
		return nil, err
	}
	m, err := freeAddr()
	if err != nil {
		return nil, err
	}
	return &serverProc{bin: bin, dsn: dsn, dataDir: dataDir, logPath: logPath, signingKey: signingKey, grpcAddr: g, metricsAddr: m}, nil
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
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
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(p.bin, "serve", "--grpc-addr", p.grpcAddr, "--metrics-addr", p.metricsAddr,
		"--data-dir", p.dataDir, "--log-level", "warn", "--shutdown-timeout", "20s",
		"--signing-key-file", p.signingKey, "--seal-interval", "500ms",
		// The load reports usage from its first second, before it has ingested anything.
		"--allow-empty-index")
	cmd.Env = append(os.Environ(), "ROYALTY_DATABASE_URL="+p.dsn)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The server dies with the harness, however the harness ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting royalty serve: %w", err)
	}
	exited := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.starts++
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(exited)
	}()
	conn, err := grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("royalty serve exited during start-up (%v): %s", p.waitErr(), tail(readFile(p.logPath), 1500))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		r, err := health.Check(hctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		if time.Now().After(deadline) {
			p.kill()
			return fmt.Errorf("royalty serve not serving after %s: %s", timeout, tail(readFile(p.logPath), 1500))
		}
	}
}

func (p *serverProc) waitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *serverProc) kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// stop sends SIGTERM, waits up to grace for a clean exit, and kills the process after that. It
// returns an error unless the server exited with status 0 in time.
func (p *serverProc) stop(grace time.Duration) error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		if err := p.waitErr(); err != nil {
			return fmt.Errorf("royalty serve exited with %v after SIGTERM", err)
		}
		return nil
	case <-time.After(grace):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		return fmt.Errorf("royalty serve did not stop within %s of SIGTERM", grace)
	}
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// tail returns the last n bytes of s, from a line start.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return "…\n" + s
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
