package pgtmp_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openroyalty/royalty/internal/pgtmp"
)

func start(t *testing.T) *pgtmp.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := pgtmp.Start(ctx, pgtmp.Options{})
	if err != nil {
		if os.Getenv("CI") != "true" && err == pgtmp.ErrNoPostgres {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	return s
}

func query(t *testing.T, dsn, q string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var out string
	if err := conn.QueryRow(ctx, q).Scan(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestStartQueryRestartStop(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	dsn, err := s.CreateDatabase(ctx, "x", "")
	if err != nil {
		t.Fatal(err)
	}
	if v := query(t, dsn, "SHOW server_version"); !strings.HasPrefix(v, "1") {
		t.Fatalf("server_version = %q", v)
	}
	if err := s.Restart(ctx, true); err != nil {
		t.Fatalf("restart after crash: %v", err)
	}
	if got := query(t, dsn, "SELECT current_database()"); got != "x" {
		t.Fatalf("after restart current_database = %q", got)
	}
	dir := s.Dir()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("directory %s still there after Stop: %v", dir, err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

// TestWatchdogCleansUpAfterSIGKILL runs a child test process that starts a server and is then
// killed with SIGKILL: the watchdog must stop postgres and remove the directory.
func TestWatchdogCleansUpAfterSIGKILL(t *testing.T) {
	if os.Getenv("PGTMP_CHILD") == "1" {
		s := start(t)
		os.Stdout.WriteString("DIR=" + s.Dir() + "\n")
		time.Sleep(time.Minute)
		return
	}
	if _, err := exec.LookPath("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestWatchdogCleansUpAfterSIGKILL$", "-test.v")
	cmd.Env = append(os.Environ(), "PGTMP_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var dir string
	buf := make([]byte, 4096)
	var acc string
	deadline := time.Now().Add(time.Minute)
	for dir == "" && time.Now().Before(deadline) {
		n, err := out.Read(buf)
		acc += string(buf[:n])
		for _, line := range strings.Split(acc, "\n") {
			if strings.HasPrefix(line, "DIR=") && strings.HasSuffix(acc, "\n") {
				dir = strings.TrimPrefix(line, "DIR=")
			}
		}
		if err != nil {
			break
		}
	}
	if dir == "" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child did not report its directory; output: %s", acc)
	}
	pid, err := os.ReadFile(dir + "/data/postmaster.pid")
	if err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	for time.Now().Before(deadline) {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("directory %s left behind after SIGKILL", dir)
	}
	var postmaster int
	for _, c := range strings.SplitN(string(pid), "\n", 2)[0] {
		postmaster = postmaster*10 + int(c-'0')
	}
	if running(postmaster) {
		t.Fatalf("postmaster %d still running after SIGKILL of its owner", postmaster)
	}
}

// running reports whether process pid exists and is not a zombie: a postmaster orphaned by its
// owner's death is reparented to PID 1, which in some containers reaps late, and until then
// kill(pid, 0) succeeds on what is only an exit status.
func running(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !os.IsNotExist(err) // no /proc: trust kill
	}
	// The state follows the command name, which is in parentheses and may hold spaces.
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
	fields := strings.Fields(rest)
	return len(fields) == 0 || (fields[0] != "Z" && fields[0] != "X")
}
