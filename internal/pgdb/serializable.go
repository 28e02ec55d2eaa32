package pgdb

import (
	"context"
	"fmt"

	"github.com/cockroachdb/cockroach-go/v2/crdb"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Serializable runs fn in a SERIALIZABLE transaction and retries the whole transaction, BEGIN to
// COMMIT, on serialization failures (SQLSTATE 40001) with crdb.ExecuteCtx. The closure returns
// the COMMIT's error so that a transaction that fails at commit is retried or reported, never
// acknowledged (docs/design.md §3). fn must have no side effects outside the transaction and must
// wrap errors with %w so that retryable errors stay visible.
func Serializable(ctx context.Context, pool *pgxpool.Pool, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return crdb.ExecuteCtx(ctx, func(ctx context.Context, _ ...any) error {
		tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable})
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		defer tx.Rollback(context.WithoutCancel(ctx))
		if err := fn(ctx, tx); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
}
