package pgdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/cockroachdb/cockroach-go/v2/crdb"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openroyalty/royalty"
)

// Defaults of TxOptions.
const (
	DefaultMaxAttempts = 10
	DefaultBaseDelay   = 5 * time.Millisecond
	DefaultMaxDelay    = 500 * time.Millisecond
)

// TxOptions configures Tx. The zero value is a read-write transaction with the defaults above.
type TxOptions struct {
	// Op names the operation in errors and logs ("posting usage").
	Op string
	// ReadOnly makes the transaction READ ONLY (still SERIALIZABLE unless Isolation says
	// otherwise, and retried alike).
	ReadOnly bool
	// Isolation is the isolation level; SERIALIZABLE when empty. A read-only transaction that
	// only needs one consistent snapshot may ask for pgx.RepeatableRead.
	Isolation pgx.TxIsoLevel
	// MaxAttempts bounds the attempts, the first included; 0 means DefaultMaxAttempts.
	MaxAttempts int
	// BaseDelay is the backoff before the second attempt, doubled for each further one up to
	// MaxDelay; each wait is jittered to between half and all of it. 0 means the defaults.
	BaseDelay, MaxDelay time.Duration
	// Logger receives a debug record per retry; nil means none.
	Logger *slog.Logger
}

// Tx runs fn in a SERIALIZABLE transaction and retries the whole transaction, BEGIN to COMMIT,
// with crdb.ExecuteCtx when it fails with a serialization failure (SQLSTATE 40001), a deadlock
// (40P01), or an error marked with Retryable, and when the database could not be reached or
// went away before COMMIT was sent (Unavailable: a restart, a terminated session, a refused
// connection). A connection lost during COMMIT is returned, never retried. This is the one transaction-retry loop of royalty:
// every store runs its transactions through it.
//
// The closure given to crdb.ExecuteCtx returns tx.Commit's error, so a transaction that fails at
// COMMIT — which is where PostgreSQL reports most serialization failures of SERIALIZABLE
// transactions — is retried or reported, never acknowledged. crdbpgx.ExecuteTx is not used
// because on PostgreSQL it ignores the error of the final COMMIT (on CockroachDB its RELEASE
// SAVEPOINT has already committed).
//
// Between attempts Tx waits a capped, jittered, exponentially growing delay (see TxOptions).
// It never waits past ctx's deadline: when the deadline would pass during the wait, or ctx is
// done, it returns at once with an error wrapping the context's error (context.DeadlineExceeded
// when the deadline is the reason). When the attempts run out it returns a
// *RetriesExhaustedError, whose chain holds a *royalty.Error with code EUNAVAILABLE and the last
// database error. Any other error of fn, BEGIN or COMMIT is returned after one attempt, as it
// is or, when Unavailable, classified by Classify (code EUNAVAILABLE).
//
// fn must have no effects outside the transaction, must reset whatever it computes (it may run
// several times), and must wrap errors with %w so that the SQLSTATE stays visible.
func Tx(ctx context.Context, pool *pgxpool.Pool, opts TxOptions, fn func(ctx context.Context, tx pgx.Tx) error) error {
	opts = opts.withDefaults()
	txOpts := pgx.TxOptions{IsoLevel: pgx.Serializable}
	if opts.Isolation != "" {
		txOpts.IsoLevel = opts.Isolation
	}
	if opts.ReadOnly {
		txOpts.AccessMode = pgx.ReadOnly
	}
	attempt := 0
	var last error // the last retryable error
	// ExecuteCtx makes 1 + WithMaxRetries attempts (TestTxReturnsCommitFailure checks 1).
	err := crdb.ExecuteCtx(crdb.WithMaxRetries(ctx, opts.MaxAttempts-1), func(ctx context.Context, _ ...any) error {
		if attempt > 0 {
			if err := opts.wait(ctx, attempt, last); err != nil {
				return err
			}
		}
		attempt++
		err := runOnce(ctx, pool, opts.Op, txOpts, fn)
		if err != nil && (IsRetryable(err) || retryUnavailable(err)) {
			last = err
			return markRetryable(err)
		}
		return err
	})
	var maxErr *crdb.MaxRetriesExceededError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &maxErr):
		return &RetriesExhaustedError{Op: opts.Op, Attempts: attempt, Err: last}
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		if last != nil {
			return fmt.Errorf("%s: gave up after %d attempts: %w (last conflict: %v)", opts.Op, attempt, err, last)
		}
		return fmt.Errorf("%s: %w", opts.Op, err)
	}
	return Classify(err)
}

// runOnce is one attempt: BEGIN, fn, COMMIT.
func runOnce(ctx context.Context, pool *pgxpool.Pool, op string, txOpts pgx.TxOptions, fn func(ctx context.Context, tx pgx.Tx) error) error {
	tx, err := pool.BeginTx(ctx, txOpts)
	if err != nil {
		return &beforeCommitError{fmt.Errorf("%s: beginning a transaction: %w", op, err)}
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after Commit
	if err := fn(ctx, tx); err != nil {
		return &beforeCommitError{err}
	}
	// The COMMIT's error is returned, never dropped, and never retried when the connection
	// failed: the transaction may have committed.
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("%s: committing: %w", op, err)
	}
	return nil
}

// beforeCommitError marks an error of BEGIN or of fn: the transaction did not commit, so a
// connection lost then may be retried with a new one.
type beforeCommitError struct{ err error }

func (e *beforeCommitError) Error() string { return e.err.Error() }
func (e *beforeCommitError) Unwrap() error { return e.err }

// retryUnavailable reports whether err is a failure to reach the database before COMMIT was
// sent (see Unavailable): the transaction is retried on a new connection, so that a database
// restart or a terminated session costs a delay rather than an error. A connection lost at
// COMMIT is not retried: whether the transaction committed is unknown, and the caller decides
// (every royalty write has an idempotency key).
func retryUnavailable(err error) bool {
	var b *beforeCommitError
	return errors.As(err, &b) && Unavailable(err)
}

// Serializable is Tx with the default options: a read-write SERIALIZABLE transaction retried
// whole on serialization failures and deadlocks, at most DefaultMaxAttempts times.
func Serializable(ctx context.Context, pool *pgxpool.Pool, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return Tx(ctx, pool, TxOptions{}, fn)
}

func (o TxOptions) withDefaults() TxOptions {
	if o.Op == "" {
		o.Op = "transaction"
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.BaseDelay <= 0 {
		o.BaseDelay = DefaultBaseDelay
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = DefaultMaxDelay
	}
	if o.MaxDelay < o.BaseDelay {
		o.MaxDelay = o.BaseDelay
	}
	return o
}

// delay is the backoff before attempt n+1 (n ≥ 1 attempts done): BaseDelay·2^(n-1), capped at
// MaxDelay, jittered uniformly to between half and all of it.
func (o TxOptions) delay(n int) time.Duration {
	d := o.BaseDelay
	for i := 1; i < n && d < o.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, o.MaxDelay)
	return d/2 + rand.N(d/2+1)
}

// wait sleeps before the attempt after attempt n, unless ctx ends first or its deadline comes
// before the wait would end; then it returns an error wrapping the context's error, which
// crdb.ExecuteCtx does not retry.
func (o TxOptions) wait(ctx context.Context, n int, last error) error {
	d := o.delay(n)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return fmt.Errorf("the deadline comes before attempt %d could start: %w", n+1, context.DeadlineExceeded)
	}
	if o.Logger != nil {
		o.Logger.DebugContext(ctx, "retrying transaction", "op", o.Op, "attempt", n+1, "after", d, "err", last)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RetriesExhaustedError is returned by Tx when every attempt failed with a retryable error. Its
// chain holds a *royalty.Error with code EUNAVAILABLE (too much contention, retrying later may
// help), so royalty.ErrorCode reports EUNAVAILABLE and the transports answer UNAVAILABLE, and
// the last database error (errors.As finds its *pgconn.PgError).
type RetriesExhaustedError struct {
	Op       string // TxOptions.Op
	Attempts int    // attempts made
	Err      error  // the last attempt's error
}

func (e *RetriesExhaustedError) Error() string {
	return fmt.Sprintf("%s: gave up after %d attempts: %v", e.Op, e.Attempts, e.Err)
}

// Unwrap returns the *royalty.Error that classifies e and the last attempt's error.
func (e *RetriesExhaustedError) Unwrap() []error {
	why := "too much contention"
	if Unavailable(e.Err) {
		why = "the database is unavailable"
	}
	return []error{
		royalty.Errorf(royalty.EUNAVAILABLE, "%s: %s, gave up after %d attempts; retry later", e.Op, why, e.Attempts),
		e.Err,
	}
}

// Retryable marks err so that Tx retries the transaction that returned it, as if it were a
// serialization failure: for a conflict that a fresh snapshot resolves but the database did
// not report, such as a unique key taken by a transaction this one cannot see.
func Retryable(err error) error { return &retryableError{err} }

// IsRetryable reports whether err is a serialization failure (40001, or CockroachDB's legacy
// CR000), a deadlock (40P01) or marked with Retryable: whether Tx runs the transaction again
// after it.
func IsRetryable(err error) bool {
	var r *retryableError
	if errors.As(err, &r) {
		return true
	}
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01" || pgErr.Code == "CR000")
}

// markRetryable makes a retryable err look like a serialization failure to crdb.ExecuteCtx,
// which retries on SQLSTATE 40001 only and reads the first SQLSTATE in err's chain.
func markRetryable(err error) error { return &retryableError{err} }

// retryableError reports SQLSTATE 40001 so that crdb.ExecuteCtx retries it.
type retryableError struct{ err error }

func (e *retryableError) Error() string    { return e.err.Error() }
func (e *retryableError) Unwrap() error    { return e.err }
func (e *retryableError) SQLState() string { return "40001" }
