package pgtest_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/openroyalty/royalty/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestIgnoresCommandDatabase checks that the tests' databases never come from
// ROYALTY_DATABASE_URL, which a developer exports for the commands (their real database).
func TestIgnoresCommandDatabase(t *testing.T) {
	if os.Getenv(pgtest.EnvURL) != "" {
		t.Skipf("%s is set", pgtest.EnvURL)
	}
	pgtest.Server(t) // skips (or fails under CI) when there is no PostgreSQL at all
	const real = "postgres://developer@real-database.invalid:5432/royalty"
	t.Setenv("ROYALTY_DATABASE_URL", real)
	var dsn string
	if !t.Run("NewDatabase", func(t *testing.T) { dsn = pgtest.NewDatabase(t) }) || dsn == "" {
		t.Fatal("NewDatabase failed or skipped with ROYALTY_DATABASE_URL set: it tried the developer's database")
	}
	if strings.Contains(dsn, "real-database.invalid") {
		t.Fatalf("NewDatabase used ROYALTY_DATABASE_URL: %s", dsn)
	}
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil || n != 1 {
		t.Fatalf("the database is not migrated: %d, %v", n, err)
	}
}
