// Package pgtest gives tests a real, migrated database.
//
// By default each test binary starts one throwaway PostgreSQL server (package pgtmp) the first
// time a test asks for a database, and each test gets a fresh database copied from a migrated
// template. When ROYALTY_TEST_DATABASE_URL is set, that cluster is used instead (this is how the
// suite runs against CockroachDB): each test gets a new database in it, migrated from scratch and
// dropped afterwards. ROYALTY_DATABASE_URL, the commands' database, is never used: a developer who
// exported it for `royalty serve` must not have the tests create databases in it.
//
// When no database can be had, tests are skipped, except under CI=true, where they fail.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openroyalty/royalty/internal/pgtmp"
	"github.com/openroyalty/royalty/migrations"
)

const templateName = "royalty_template"

var (
	once      sync.Once
	server    *pgtmp.Server
	serverErr error
)

// EnvURL names the variable that points the tests at another cluster.
const EnvURL = "ROYALTY_TEST_DATABASE_URL"

// Main runs the tests of a package and stops the throwaway server afterwards. Call it from
// TestMain: `func TestMain(m *testing.M) { pgtest.Main(m) }`.
func Main(m *testing.M) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		stop()
		os.Exit(130)
	}()
	code := m.Run()
	stop()
	os.Exit(code)
}

func stop() {
	if server != nil {
		_ = server.Stop()
	}
}

// Server returns the process-wide throwaway server, starting it on first use. It fails or skips
// the test (see the package comment) when no server can be started, and it is an error to call
// it when ROYALTY_TEST_DATABASE_URL is set.
func Server(t testing.TB) *pgtmp.Server {
	t.Helper()
	if os.Getenv(EnvURL) != "" {
		t.Fatal("pgtest.Server: a throwaway server is not used when " + EnvURL + " is set")
	}
	once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		server, serverErr = pgtmp.Start(ctx, pgtmp.Options{})
		if serverErr != nil {
			return
		}
		_, serverErr = server.CreateMigrated(ctx, templateName)
	})
	if serverErr != nil {
		unavailable(t, serverErr)
	}
	return server
}

// NewDatabase returns the DSN of a new, fully migrated database that only this test uses.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := "royalty_test_" + randomSuffix()
	if base := os.Getenv(EnvURL); base != "" {
		dsn, err := createExternal(ctx, base, name)
		if err != nil {
			unavailable(t, err)
		}
		t.Cleanup(func() { dropExternal(base, name) })
		return dsn
	}
	srv := Server(t)
	dsn, err := srv.CreateDatabase(ctx, name, templateName)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("pgtest: no database (CI=true, so this fails instead of skipping): %v", err)
	}
	t.Skipf("pgtest: no database, skipping: %v", err)
}

func createExternal(ctx context.Context, base, name string) (string, error) {
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", fmt.Errorf("connecting to %s: %w", EnvURL, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("creating database %s: %w", name, err)
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("%s must be a URL: %w", EnvURL, err)
	}
	u.Path = "/" + name
	dsn := u.String()
	if err := migrations.Up(ctx, dsn, nil); err != nil {
		return "", err
	}
	return dsn, nil
}

func dropExternal(base, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize())
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
