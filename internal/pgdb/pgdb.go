// Package pgdb opens connection pools to PostgreSQL or CockroachDB configured the way every
// royalty adapter expects (NUMERIC columns scan into and bind from shopspring/decimal values),
// and runs transactions on them: Tx is the one transaction-retry loop of royalty. It runs a
// SERIALIZABLE transaction, read-write or read-only, and retries it whole, BEGIN to COMMIT, on
// serialization failures, deadlocks and connection failures before COMMIT with a capped,
// jittered backoff, a bounded number of attempts and the context's deadline as limits. A
// COMMIT's error is always returned or retried, never dropped; running out of attempts is a
// RetriesExhaustedError, which carries the code royalty.EUNAVAILABLE. Unavailable tells an
// unreachable database from a failed statement, and Classify gives such errors the code
// royalty.EUNAVAILABLE, so that callers see UNAVAILABLE, never INTERNAL.
package pgdb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	pgxdecimal "github.com/jackc/pgx-shopspring-decimal"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultConnectTimeout bounds a connection attempt when the URL sets no connect_timeout.
const DefaultConnectTimeout = 5 * time.Second

// Open connects a pool to dsn and checks that the server answers. The pool holds at most
// maxConns[0] connections when that is given and positive, and the URL sets no pool_max_conns;
// otherwise pgx's default (the URL's pool_max_conns, or max(4, CPUs)).
func Open(ctx context.Context, dsn string, maxConns ...int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parsing database URL: %w", err)
	}
	if len(maxConns) > 0 && maxConns[0] > 0 && !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = maxConns[0]
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// A database host that does not answer fails a connection attempt in seconds instead
		// of hanging a call without a deadline (connect_timeout in the URL overrides it).
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		pgxdecimal.Register(conn.TypeMap())
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to the database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting to the database: %w", err)
	}
	return pool, nil
}

// IsUndefinedTable reports whether err is undefined_table (SQLSTATE 42P01, on both engines): a
// query named a table that does not exist, as in a database `royalty migrate` has not run on.
func IsUndefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P01"
}
