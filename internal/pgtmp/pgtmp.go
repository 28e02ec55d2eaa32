// Package pgtmp starts a throwaway PostgreSQL server from the machine's installation, for tests,
// benchmarks and the demo.
//
// The server lives in a fresh temporary directory, listens on 127.0.0.1 on a free port and is
// stopped and removed by Stop. A watchdog process removes it too when the owning process dies
// without calling Stop (a test binary killed by its timeout, SIGKILL), so nothing is left behind.
// When run as root, initdb and postgres run as the user "postgres", since PostgreSQL refuses to
// run as root.
package pgtmp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openroyalty/royalty/migrations"
)

// Options configure a server. The zero value is usable.
type Options struct {
	// BinDir holds initdb and postgres; found automatically when empty (ROYALTY_PG_BINDIR,
	// then the newest /usr/lib/postgresql/*/bin, then pg_config --bindir).
	BinDir string
	// Settings are extra postgresql.conf settings passed as -c name=value.
	Settings map[string]string
	// Durable keeps fsync on. Tests leave it off for speed; benchmarks that compare with pgbench
	// use the same server either way.
	Durable bool
	// Logger receives progress messages; nil discards them.
	Logger *slog.Logger
}

// Server is a running throwaway PostgreSQL server. Its methods are safe for concurrent use.
type Server struct {
	opts    Options
	binDir  string
	dir     string // removed by Stop
	dataDir string
	port    int
	cred    *syscall.Credential

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	watchdog *exec.Cmd
	wdStdin  io.WriteCloser
	stopped  bool
}

// Start initialises a cluster in a new temporary directory and starts it. The caller must call
// Stop.
func Start(ctx context.Context, opts Options) (_ *Server, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	binDir, err := findBinDir(opts.BinDir)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, binDir: binDir}
	if err := s.prepareDir(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if err := s.startWatchdog(); err != nil {
		return nil, err
	}
	if err := s.initdb(ctx); err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if s.port, err = freePort(); err != nil {
			return nil, err
		}
		if lastErr = s.start(ctx); lastErr == nil {
			opts.Logger.Info("postgres started", "dir", s.dir, "port", s.port)
			return s, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// BinDir is the directory of the PostgreSQL programs in use (pgbench is there too).
func (s *Server) BinDir() string { return s.binDir }

// Dir is the temporary directory holding the cluster; Stop removes it.
func (s *Server) Dir() string { return s.dir }

// Port is the TCP port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// PID is the process id of the running postmaster (0 when it is not running); the backends
// are its children.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil || s.stopped {
		return 0
	}
	return s.cmd.Process.Pid
}

// DSN returns a connection URL for the named database as the superuser "postgres".
func (s *Server) DSN(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// CreateMigrated creates a database migrated to the current schema (package migrations) and
// returns its DSN.
func (s *Server) CreateMigrated(ctx context.Context, name string) (string, error) {
	dsn, err := s.CreateDatabase(ctx, name, "")
	if err != nil {
		return "", err
	}
	if err := migrations.Up(ctx, dsn, nil); err != nil {
		return "", err
	}
	return dsn, nil
}

// CreateDatabase creates a database, optionally from a template, and returns its DSN.
func (s *Server) CreateDatabase(ctx context.Context, name, template string) (string, error) {
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return "", fmt.Errorf("connecting to throwaway postgres: %w", err)
	}
	defer conn.Close(ctx)
	stmt := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		stmt += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return "", fmt.Errorf("creating database %s: %w", name, err)
	}
	return s.DSN(name), nil
}

// Restart stops the server (fast shutdown, as on a planned restart; with immediate set, as
// after a crash) and starts it again on the same port and data.
func (s *Server) Restart(ctx context.Context, immediate bool) error {
	if err := s.Halt(immediate); err != nil {
		return err
	}
	return s.Resume(ctx)
}

// Halt stops the server like Restart does but leaves it stopped, keeping its data and port,
// until Resume: for tests of what clients see while the database is down.
func (s *Server) Halt(immediate bool) error {
	sig := syscall.SIGINT
	if immediate {
		sig = syscall.SIGQUIT
	}
	return s.stopPostgres(sig, 30*time.Second)
}

// Resume starts a halted server again on the same port and data.
func (s *Server) Resume(ctx context.Context) error { return s.start(ctx) }

// Stop shuts the server down and removes its directory. It is safe to call more than once.
func (s *Server) Stop() error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	s.mu.Unlock()
	err := s.stopPostgres(syscall.SIGINT, 30*time.Second)
	if s.dir != "" {
		if rmErr := os.RemoveAll(s.dir); rmErr != nil && err == nil {
			err = rmErr
		}
	}
	if s.wdStdin != nil {
		s.wdStdin.Close() // the watchdog finds nothing left to clean and exits
		_ = s.watchdog.Wait()
	}
	return err
}

func (s *Server) prepareDir() error {
	dir, err := os.MkdirTemp("", "royalty-pg-")
	if err != nil {
		return err
	}
	s.dir = dir
	s.dataDir = filepath.Join(dir, "data")
	// MkdirTemp makes the directory 0700; the postgres user must be able to enter it.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(s.dataDir, 0o700); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root needs the user postgres to run PostgreSQL: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	return os.Chown(s.dataDir, uid, gid)
}

// startWatchdog starts a process that waits for its stdin to close, which happens when this
// process exits for any reason, and then kills the postmaster and removes the directory.
func (s *Server) startWatchdog() error {
	script := `trap '' INT TERM HUP
while read -r _; do :; done
pidfile="$1/data/postmaster.pid"
if [ -f "$pidfile" ]; then
  pid=$(head -n 1 "$pidfile")
  kill -QUIT "$pid" 2>/dev/null
  i=0
  while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  kill -KILL "$pid" 2>/dev/null
fi
rm -rf "$1"
`
	cmd := exec.Command("/bin/sh", "-c", script, "pgtmp-watchdog", s.dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting pgtmp watchdog: %w", err)
	}
	s.watchdog, s.wdStdin = cmd, in
	return nil
}

func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(s.binDir, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true}
	return cmd
}

func (s *Server) initdb(ctx context.Context) error {
	cmd := s.command(ctx, "initdb", "-D", s.dataDir, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb: %w: %s", err, tail(string(out), 2000))
	}
	return nil
}

func (s *Server) start(ctx context.Context) error {
	settings := map[string]string{
		"port":                    strconv.Itoa(s.port),
		"listen_addresses":        "127.0.0.1",
		"unix_socket_directories": s.dataDir,
		"max_connections":         "200",
		"logging_collector":       "off",
	}
	if !s.opts.Durable {
		settings["fsync"] = "off"
		settings["full_page_writes"] = "off"
		settings["synchronous_commit"] = "off"
	}
	for k, v := range s.opts.Settings {
		settings[k] = v
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := []string{"-D", s.dataDir}
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}
	logFile, err := os.OpenFile(filepath.Join(s.dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	// Not CommandContext: the server outlives the context that starts it.
	cmd := s.command(context.Background(), "postgres", args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("postgres exited during start-up: %s", s.logTail())
		case <-ctx.Done():
			_ = s.stopPostgres(syscall.SIGQUIT, 10*time.Second)
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(pingCtx, s.DSN("postgres"))
		cancel()
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		if time.Now().After(deadline) {
			_ = s.stopPostgres(syscall.SIGQUIT, 10*time.Second)
			return fmt.Errorf("postgres not ready after 60s: %w: %s", err, s.logTail())
		}
	}
}

func (s *Server) stopPostgres(sig syscall.Signal, grace time.Duration) error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
		return nil
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-exited
		return errors.New("postgres did not stop in time and was killed")
	}
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
	return tail(string(b), 2000)
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ErrNoPostgres is returned when no PostgreSQL installation is found.
var ErrNoPostgres = errors.New("pgtmp: no PostgreSQL installation found (set ROYALTY_PG_BINDIR to the directory holding initdb and postgres)")

func findBinDir(dir string) (string, error) {
	var candidates []string
	if dir != "" {
		candidates = append(candidates, dir)
	}
	if env := os.Getenv("ROYALTY_PG_BINDIR"); env != "" {
		candidates = append(candidates, env)
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(matches, func(i, j int) bool { return versionOf(matches[i]) > versionOf(matches[j]) })
	candidates = append(candidates, matches...)
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	for _, c := range candidates {
		if _, err := os.Stat(filepath.Join(c, "initdb")); err == nil {
			return c, nil
		}
	}
	return "", ErrNoPostgres
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}
