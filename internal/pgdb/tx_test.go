package pgdb_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newPool opens a fresh database with a table of two rows, (1, 0) and (2, 0).
func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool, err := pgdb.Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, `CREATE TABLE tx_test (id INT PRIMARY KEY, v INT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO tx_test VALUES (1, 0), (2, 0)`); err != nil {
		t.Fatal(err)
	}
	return pool
}

func isCockroach(t *testing.T, pool *pgxpool.Pool) bool {
	t.Helper()
	var v string
	if err := pool.QueryRow(context.Background(), `SELECT version()`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return strings.Contains(v, "CockroachDB")
}

// forceSerializationFailure makes the server fail tx with SQLSTATE 40001.
func forceSerializationFailure(ctx context.Context, tx pgx.Tx) error {
	var v string
	if err := tx.QueryRow(ctx, `SELECT version()`).Scan(&v); err != nil {
		return fmt.Errorf("reading the version: %w", err)
	}
	q := `DO $$ BEGIN RAISE EXCEPTION 'forced serialization failure' USING ERRCODE = 'serialization_failure'; END $$`
	if strings.Contains(v, "CockroachDB") {
		q = `SELECT crdb_internal.force_retry('1h')`
	}
	_, err := tx.Exec(ctx, q)
	return fmt.Errorf("forcing a serialization failure: %w", err)
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// await waits for ch to be closed, for at most 10 s, so that a broken interleaving fails the
// test instead of hanging it.
func await(ch <-chan struct{}, what string) error {
	select {
	case <-ch:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("timed out waiting for %s", what)
	}
}

func values(t *testing.T, pool *pgxpool.Pool) (v1, v2 int) {
	t.Helper()
	err := pool.QueryRow(context.Background(), `SELECT (SELECT v FROM tx_test WHERE id = 1), (SELECT v FROM tx_test WHERE id = 2)`).Scan(&v1, &v2)
	if err != nil {
		t.Fatal(err)
	}
	return v1, v2
}

// TestTxRetriesSerializationConflict runs two transactions that each read both rows and write
// one of them with the sum plus one, made to overlap: each writes after both have read (write
// skew). SERIALIZABLE aborts one with 40001, Tx runs it again, and both commit as if serial:
// the second sees the first's write, so the values are 1 and 2 (3 in all), not 1 and 1.
func TestTxRetriesSerializationConflict(t *testing.T) {
	pool := newPool(t)
	ctx := context.Background()
	var attempts atomic.Int32
	var read sync.WaitGroup
	read.Add(2)
	bothRead := make(chan struct{})
	go func() { read.Wait(); close(bothRead) }()
	run := func(id int) error {
		first := true
		return pgdb.Tx(ctx, pool, pgdb.TxOptions{Op: fmt.Sprintf("writer %d", id)}, func(ctx context.Context, tx pgx.Tx) error {
			attempts.Add(1)
			var sum int
			if err := tx.QueryRow(ctx, `SELECT sum(v) FROM tx_test`).Scan(&sum); err != nil {
				return fmt.Errorf("reading: %w", err)
			}
			if first {
				first = false
				read.Done()
				if err := await(bothRead, "both reads"); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, `UPDATE tx_test SET v = $1 WHERE id = $2`, sum+1, id)
			return err
		})
	}
	errs := make(chan error, 2)
	for id := 1; id <= 2; id++ {
		go func() { errs <- run(id) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("a transaction failed: %v", err)
		}
	}
	v1, v2 := values(t, pool)
	if v1+v2 != 3 || min(v1, v2) != 1 {
		t.Errorf("values %d and %d, want 1 and 2 in some order (write skew was not prevented or not retried)", v1, v2)
	}
	if n := attempts.Load(); n < 3 {
		t.Errorf("%d attempts in all, want at least 3 (one retry)", n)
	}
}

// commitRace makes a transaction's serialization failure surface at COMMIT: A and B both read
// both rows and write one each (no conflict yet), A commits, then B commits, and PostgreSQL
// fails B's COMMIT with 40001 (read/write dependencies). It returns B's error, and for each of
// B's attempts whether fn itself succeeded.
func commitRace(t *testing.T, pool *pgxpool.Pool, bOpts pgdb.TxOptions) (error, []bool) {
	t.Helper()
	if isCockroach(t, pool) {
		t.Skip("the interleaving relies on PostgreSQL's serializable snapshot isolation")
	}
	ctx := context.Background()
	bWrote, aDone := make(chan struct{}), make(chan struct{})
	write := func(ctx context.Context, tx pgx.Tx, id int) error {
		var sum int
		if err := tx.QueryRow(ctx, `SELECT sum(v) FROM tx_test`).Scan(&sum); err != nil {
			return fmt.Errorf("reading: %w", err)
		}
		_, err := tx.Exec(ctx, `UPDATE tx_test SET v = $1 WHERE id = $2`, sum+1, id)
		return err
	}
	aErr := make(chan error, 1)
	go func() {
		defer close(aDone)
		first := true
		aErr <- pgdb.Tx(ctx, pool, pgdb.TxOptions{Op: "A"}, func(ctx context.Context, tx pgx.Tx) error {
			if err := write(ctx, tx, 1); err != nil {
				return err
			}
			if first {
				first = false
				return await(bWrote, "B's write")
			}
			return nil
		})
	}()
	var fnOK []bool
	first := true
	bErr := pgdb.Tx(ctx, pool, bOpts, func(ctx context.Context, tx pgx.Tx) error {
		err := write(ctx, tx, 2)
		if first {
			first = false
			close(bWrote)
			if err == nil {
				err = await(aDone, "A's commit")
			}
		}
		fnOK = append(fnOK, err == nil)
		return err
	})
	if err := <-aErr; err != nil {
		t.Fatalf("A failed: %v", err)
	}
	return bErr, fnOK
}

// TestTxRetriesCommitTimeFailure checks that a serialization failure reported by COMMIT, where
// PostgreSQL reports most of them, is retried: B's first attempt ran fn to the end, its COMMIT
// failed, and the second attempt committed.
func TestTxRetriesCommitTimeFailure(t *testing.T) {
	pool := newPool(t)
	err, fnOK := commitRace(t, pool, pgdb.TxOptions{Op: "B"})
	if err != nil {
		t.Fatalf("B failed: %v", err)
	}
	if len(fnOK) != 2 || !fnOK[0] || !fnOK[1] {
		t.Fatalf("B's attempts (true: fn succeeded) = %v, want [true true]: a failed COMMIT and a retry", fnOK)
	}
	if v1, v2 := values(t, pool); v1 != 1 || v2 != 2 {
		t.Errorf("values %d and %d, want 1 and 2", v1, v2)
	}
}

// TestTxReturnsCommitFailure checks that a failed COMMIT is reported, never acknowledged: with
// one attempt allowed, B's error is the COMMIT's 40001 and B's write is not in the table.
func TestTxReturnsCommitFailure(t *testing.T) {
	pool := newPool(t)
	err, fnOK := commitRace(t, pool, pgdb.TxOptions{Op: "B", MaxAttempts: 1})
	if len(fnOK) != 1 || !fnOK[0] {
		t.Fatalf("B's attempts (true: fn succeeded) = %v, want [true]", fnOK)
	}
	var exhausted *pgdb.RetriesExhaustedError
	if !errors.As(err, &exhausted) || exhausted.Attempts != 1 || sqlState(err) != "40001" {
		t.Fatalf("B's error = %v, want a RetriesExhaustedError after 1 attempt with SQLSTATE 40001", err)
	}
	if !strings.Contains(err.Error(), "committing") {
		t.Errorf("B's error %q does not say that COMMIT failed", err)
	}
	if v1, v2 := values(t, pool); v1 != 1 || v2 != 0 {
		t.Errorf("values %d and %d, want 1 and 0 (B not committed)", v1, v2)
	}
}

// TestTxRetriesDeadlock locks the two rows in opposite orders in two transactions. The server
// aborts one with 40P01 (PostgreSQL) or a retry error (CockroachDB); Tx runs it again and both
// commit.
func TestTxRetriesDeadlock(t *testing.T) {
	pool := newPool(t)
	ctx := context.Background()
	var attempts atomic.Int32
	var deadlocks atomic.Int32
	var locked sync.WaitGroup
	locked.Add(2)
	bothLocked := make(chan struct{})
	go func() { locked.Wait(); close(bothLocked) }()
	run := func(firstID, secondID int) error {
		first := true
		return pgdb.Tx(ctx, pool, pgdb.TxOptions{Op: fmt.Sprintf("locking %d then %d", firstID, secondID)}, func(ctx context.Context, tx pgx.Tx) (err error) {
			attempts.Add(1)
			defer func() {
				if sqlState(err) == "40P01" {
					deadlocks.Add(1)
				}
			}()
			if _, err := tx.Exec(ctx, `UPDATE tx_test SET v = v + 1 WHERE id = $1`, firstID); err != nil {
				return fmt.Errorf("updating %d: %w", firstID, err)
			}
			if first {
				first = false
				locked.Done()
				if err := await(bothLocked, "both first locks"); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, `UPDATE tx_test SET v = v + 1 WHERE id = $1`, secondID); err != nil {
				return fmt.Errorf("updating %d: %w", secondID, err)
			}
			return nil
		})
	}
	errs := make(chan error, 2)
	go func() { errs <- run(1, 2) }()
	go func() { errs <- run(2, 1) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("a transaction failed: %v", err)
		}
	}
	if v1, v2 := values(t, pool); v1 != 2 || v2 != 2 {
		t.Errorf("values %d and %d, want 2 and 2", v1, v2)
	}
	if n := attempts.Load(); n < 3 {
		t.Errorf("%d attempts in all, want at least 3 (one retry)", n)
	}
	if !isCockroach(t, pool) && deadlocks.Load() == 0 {
		t.Errorf("no attempt failed with 40P01")
	}
}

// TestTxReadOnly checks that ReadOnly transactions are READ ONLY and SERIALIZABLE, and are
// retried after a serialization failure like the others.
func TestTxReadOnly(t *testing.T) {
	pool := newPool(t)
	ctx := context.Background()
	show := func(ctx context.Context, tx pgx.Tx) (readOnly, iso string, err error) {
		if err := tx.QueryRow(ctx, `SHOW transaction_read_only`).Scan(&readOnly); err != nil {
			return "", "", fmt.Errorf("reading the access mode: %w", err)
		}
		if err := tx.QueryRow(ctx, `SHOW transaction_isolation`).Scan(&iso); err != nil {
			return "", "", fmt.Errorf("reading the isolation level: %w", err)
		}
		return readOnly, iso, nil
	}
	attempts := 0
	var readOnly, iso string
	err := pgdb.Tx(ctx, pool, pgdb.TxOptions{Op: "reading", ReadOnly: true}, func(ctx context.Context, tx pgx.Tx) (err error) {
		attempts++
		if attempts == 1 {
			return forceSerializationFailure(ctx, tx)
		}
		readOnly, iso, err = show(ctx, tx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 2 {
		t.Errorf("%d attempts, want 2", attempts)
	}
	if readOnly != "on" || iso != "serializable" {
		t.Errorf("transaction_read_only %q, transaction_isolation %q; want on, serializable", readOnly, iso)
	}
	err = pgdb.Serializable(ctx, pool, func(ctx context.Context, tx pgx.Tx) (err error) {
		readOnly, iso, err = show(ctx, tx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if readOnly != "off" || iso != "serializable" {
		t.Errorf("Serializable: transaction_read_only %q, transaction_isolation %q; want off, serializable", readOnly, iso)
	}
}

// TestTxRetriesExhausted checks the error when every attempt fails: a RetriesExhaustedError
// with the attempt count, the code EUNAVAILABLE and the last database error.
func TestTxRetriesExhausted(t *testing.T) {
	pool := newPool(t)
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		max  int
		tx   func(fn func(context.Context, pgx.Tx) error) error
	}{
		{"Tx", 3, func(fn func(context.Context, pgx.Tx) error) error {
			return pgdb.Tx(ctx, pool, pgdb.TxOptions{Op: "conflicting", MaxAttempts: 3, BaseDelay: time.Millisecond}, fn)
		}},
		{"Serializable", pgdb.DefaultMaxAttempts, func(fn func(context.Context, pgx.Tx) error) error {
			return pgdb.Serializable(ctx, pool, fn)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			attempts := 0
			err := tt.tx(func(ctx context.Context, tx pgx.Tx) error {
				attempts++
				return forceSerializationFailure(ctx, tx)
			})
			if attempts != tt.max {
				t.Errorf("%d attempts, want %d", attempts, tt.max)
			}
			var exhausted *pgdb.RetriesExhaustedError
			if !errors.As(err, &exhausted) || exhausted.Attempts != tt.max {
				t.Fatalf("error %v, want a RetriesExhaustedError after %d attempts", err, tt.max)
			}
			if code := royalty.ErrorCode(err); code != royalty.EUNAVAILABLE {
				t.Errorf("royalty.ErrorCode = %q, want %q", code, royalty.EUNAVAILABLE)
			}
			if msg := royalty.ErrorMessage(err); !strings.Contains(msg, fmt.Sprintf("gave up after %d attempts", tt.max)) {
				t.Errorf("royalty.ErrorMessage = %q, want the attempt count", msg)
			}
			if sqlState(err) != "40001" {
				t.Errorf("the last database error is not in the chain: %v", err)
			}
			if wrapped := fmt.Errorf("posting usage: %w", err); royalty.ErrorCode(wrapped) != royalty.EUNAVAILABLE {
				t.Errorf("wrapped, the code is %q", royalty.ErrorCode(wrapped))
			}
		})
	}
}

// TestTxHonoursDeadline checks that Tx gives up when the context ends, without sleeping past
// it, and says why.
func TestTxHonoursDeadline(t *testing.T) {
	pool := newPool(t)
	conflict := func(attempts *int) func(context.Context, pgx.Tx) error {
		return func(ctx context.Context, tx pgx.Tx) error {
			*attempts++
			return forceSerializationFailure(ctx, tx)
		}
	}
	t.Run("deadline passes during the retries", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start, attempts := time.Now(), 0
		err := pgdb.Tx(ctx, pool, pgdb.TxOptions{Op: "conflicting", MaxAttempts: 1 << 20, BaseDelay: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond}, conflict(&attempts))
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Errorf("returned after %v, deadline was 300ms", elapsed)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v, want one wrapping context.DeadlineExceeded", err)
		}
		if attempts < 2 {
			t.Errorf("%d attempts, want several", attempts)
		}
	})
	t.Run("backoff longer than the time left", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start, attempts := time.Now(), 0
		err := pgdb.Tx(ctx, pool, pgdb.TxOptions{Op: "conflicting", BaseDelay: time.Minute, MaxDelay: time.Minute}, conflict(&attempts))
		if elapsed := time.Since(start); elapsed > 900*time.Millisecond {
			t.Errorf("returned after %v: waited for the deadline instead of giving up at once", elapsed)
		}
		if !errors.Is(err, context.DeadlineExceeded) || attempts != 1 {
			t.Errorf("error %v after %d attempts, want one wrapping context.DeadlineExceeded after 1", err, attempts)
		}
		if !strings.Contains(err.Error(), "conflicting") {
			t.Errorf("error %q does not name the operation", err)
		}
	})
	t.Run("canceled during the backoff", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		time.AfterFunc(200*time.Millisecond, cancel)
		start, attempts := time.Now(), 0
		err := pgdb.Tx(ctx, pool, pgdb.TxOptions{Op: "conflicting", BaseDelay: time.Minute, MaxDelay: time.Minute}, conflict(&attempts))
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Errorf("returned after %v, canceled after 200ms", elapsed)
		}
		if !errors.Is(err, context.Canceled) || attempts != 1 {
			t.Errorf("error %v after %d attempts, want one wrapping context.Canceled after 1", err, attempts)
		}
	})
}

// TestTxDoesNotRetryOtherErrors checks that an error that is not a conflict ends Tx after one
// attempt, unchanged, and that the transaction's writes are rolled back.
func TestTxDoesNotRetryOtherErrors(t *testing.T) {
	pool := newPool(t)
	ctx := context.Background()
	attempts := 0
	err := pgdb.Serializable(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
		attempts++
		if _, err := tx.Exec(ctx, `UPDATE tx_test SET v = 7 WHERE id = 2`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO tx_test VALUES (1, 0)`)
		return fmt.Errorf("inserting: %w", err)
	})
	if attempts != 1 || sqlState(err) != "23505" {
		t.Fatalf("error %v after %d attempts, want the unique violation (23505) after 1", err, attempts)
	}
	if code := royalty.ErrorCode(err); code != royalty.EINTERNAL {
		t.Errorf("royalty.ErrorCode = %q, want %q", code, royalty.EINTERNAL)
	}
	if _, v2 := values(t, pool); v2 != 0 {
		t.Errorf("row 2 is %d, want 0 (rolled back)", v2)
	}
}

// TestRetryable checks that an error marked Retryable makes Tx run the transaction again.
func TestRetryable(t *testing.T) {
	pool := newPool(t)
	attempts := 0
	errTaken := errors.New("key taken by a transaction this one cannot see")
	err := pgdb.Serializable(context.Background(), pool, func(ctx context.Context, tx pgx.Tx) error {
		attempts++
		if attempts < 3 {
			return fmt.Errorf("booking: %w", pgdb.Retryable(errTaken))
		}
		return nil
	})
	if err != nil || attempts != 3 {
		t.Fatalf("error %v after %d attempts, want nil after 3", err, attempts)
	}
	if !pgdb.IsRetryable(pgdb.Retryable(errTaken)) || !errors.Is(pgdb.Retryable(errTaken), errTaken) {
		t.Error("Retryable does not mark or does not wrap")
	}
}
