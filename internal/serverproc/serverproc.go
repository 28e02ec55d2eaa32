// Package serverproc runs the royalty binary as child processes for the harnesses that need the
// real thing (cmd/royalty-soak, cmd/royalty-bench-e2e): it builds the binary, runs one-shot
// subcommands, and starts `royalty serve`, waits for its health check to say SERVING, and stops
// or kills it. The server dies with the harness however the harness ends (Pdeathsig).
package serverproc

import (
	"bytes"
	"context"
	"crypto/tls"
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
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Build builds ./cmd/royalty of the module at root into dir and returns the binary's path. The
// Go tool is $GO, or go.
func Build(ctx context.Context, root, dir string) (string, error) {
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

// Run runs one royalty subcommand against the database dsn to its end, at log level warn, and
// returns its standard output; its error names the command and ends with its standard error.
func Run(ctx context.Context, bin, dsn string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "ROYALTY_DATABASE_URL="+dsn, "ROYALTY_LOG_LEVEL=warn")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("royalty %s: %w\n%s", strings.Join(args, " "), err, Tail(stderr.String(), 3000))
	}
	return stdout.String(), nil
}

// FreeAddr returns a loopback address with a port that was free a moment ago.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// ReadFile returns the file's contents, or "" when it cannot be read.
func ReadFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// Tail returns the last n bytes of s, from a line start.
func Tail(s string, n int) string {
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

// Server is how to start `royalty serve`.
type Server struct {
	Bin, DSN string
	// GRPCAddr is the API address (gRPC and HTTP) the server listens on and is checked at.
	GRPCAddr string
	// Args are serve's arguments after "serve" (--grpc-addr is added).
	Args []string
	// LogPath is the file the server's standard output and error are appended to.
	LogPath string
	// TLS, when set, is the client configuration the health check connects with (a server
	// started with --tls-cert); otherwise it connects in cleartext.
	TLS *tls.Config
}

// Proc is one started `royalty serve` process. Its methods are safe for concurrent use.
type Proc struct {
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}

	mu  sync.Mutex
	err error // Wait's error once exited is closed
}

// Start starts the server and waits until its gRPC health check says SERVING. A server that
// exits first, or is not serving within timeout, is an error naming the end of its log (the
// process is killed in the second case).
func Start(ctx context.Context, s Server, timeout time.Duration) (*Proc, error) {
	logFile, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(s.Bin, append([]string{"serve", "--grpc-addr", s.GRPCAddr}, s.Args...)...)
	cmd.Env = append(os.Environ(), "ROYALTY_DATABASE_URL="+s.DSN)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The server dies with the harness, however the harness ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting royalty serve: %w", err)
	}
	p := &Proc{cmd: cmd, logPath: s.LogPath, exited: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.exited)
	}()
	creds := insecure.NewCredentials()
	if s.TLS != nil {
		creds = credentials.NewTLS(s.TLS)
	}
	conn, err := grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(creds))
	if err != nil {
		p.Kill()
		return nil, err
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-p.exited:
			return nil, fmt.Errorf("royalty serve exited during start-up (%v): %s", p.WaitErr(), Tail(ReadFile(s.LogPath), 2000))
		case <-ctx.Done():
			p.Kill()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		r, err := health.Check(hctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return p, nil
		}
		if time.Now().After(deadline) {
			p.Kill()
			return nil, fmt.Errorf("royalty serve not SERVING after %s: %s", timeout, Tail(ReadFile(s.LogPath), 2000))
		}
	}
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited is closed when the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// WaitErr is the process's exit error, once Exited is closed (nil for status 0).
func (p *Proc) WaitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// Stop sends SIGTERM, waits up to grace for a clean exit, and kills the process after that. It
// returns an error unless the server exited with status 0 in time.
func (p *Proc) Stop(grace time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if err := p.WaitErr(); err != nil {
			return fmt.Errorf("royalty serve exited with %v after SIGTERM", err)
		}
		return nil
	case <-time.After(grace):
		p.Kill()
		return fmt.Errorf("royalty serve did not stop within %s of SIGTERM", grace)
	}
}
