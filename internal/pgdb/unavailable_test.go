package pgdb_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/internal/pgtmp"
)

// ownServer starts a throwaway server of the test's own, which it may stop and start.
func ownServer(t *testing.T) *pgtmp.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := pgtmp.Start(ctx, pgtmp.Options{})
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("no PostgreSQL to start: %v", err)
	}
	t.Cleanup(func() { srv.Stop() })
	return srv
}

// TestTxUnavailable stops the database under a pool: read-write and read-only transactions
// fail with EUNAVAILABLE within seconds, and the same pool works again once the database is back.
func TestTxUnavailable(t *testing.T) {
	srv := ownServer(t)
	ctx := context.Background()
	dsn, err := srv.CreateDatabase(ctx, "unavailable", "")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgdb.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, `CREATE TABLE t (v INT)`); err != nil {
		t.Fatal(err)
	}
	write := func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO t VALUES (1)`)
		return err
	}
	read := func(ctx context.Context, tx pgx.Tx) error {
		var n int
		return tx.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n)
	}
	ro := pgdb.TxOptions{Op: "reading", ReadOnly: true, Isolation: pgx.RepeatableRead}
	if err := pgdb.Tx(ctx, pool, pgdb.TxOptions{Op: "writing"}, write); err != nil {
		t.Fatal(err)
	}
	if err := pgdb.Tx(ctx, pool, ro, read); err != nil {
		t.Fatal(err)
	}

	if err := srv.Halt(false); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		opts pgdb.TxOptions
		fn   func(context.Context, pgx.Tx) error
	}{{"read-write", pgdb.TxOptions{Op: "writing"}, write}, {"read-only", ro, read}} {
		start := time.Now()
		err := pgdb.Tx(ctx, pool, c.opts, c.fn)
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("%s: took %v to fail", c.name, took)
		}
		if royalty.ErrorCode(err) != royalty.EUNAVAILABLE || !pgdb.Unavailable(err) {
			t.Errorf("%s with the database down: %v (code %q), want EUNAVAILABLE", c.name, err, royalty.ErrorCode(err))
		}
		var exhausted *pgdb.RetriesExhaustedError
		if !errors.As(err, &exhausted) || exhausted.Attempts != pgdb.DefaultMaxAttempts {
			t.Errorf("%s: %v, want the attempts exhausted (retried with backoff)", c.name, err)
		}
	}
	// A single statement outside a transaction is classified alike by Classify.
	if _, err := pool.Exec(ctx, `SELECT 1`); royalty.ErrorCode(pgdb.Classify(err)) != royalty.EUNAVAILABLE {
		t.Errorf("Classify(%v) has code %q, want EUNAVAILABLE", err, royalty.ErrorCode(pgdb.Classify(err)))
	}
	// The caller's own deadline stays a deadline.
	dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	err = pgdb.Tx(dctx, pool, pgdb.TxOptions{Op: "writing"}, write)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("with a deadline: %v, want context.DeadlineExceeded", err)
	}

	if err := srv.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pgdb.Tx(ctx, pool, pgdb.TxOptions{Op: "writing"}, write); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	if err := pgdb.Tx(ctx, pool, ro, read); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
}
