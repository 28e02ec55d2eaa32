package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// Balances in constant time of history (docs/design.md §8). The journal's sealer writes, with
// every block, a balance checkpoint (ledger_balance_checkpoints) for each account the block
// touches: its debits, credits and posting count per currency over the journal's first
// journal_size transactions. It also writes a fence (ledger_balance_fences): a time before which
// every transaction with postings is sealed in those positions. An account's balance is then
//
//	its newest checkpoint + its postings created at or after the newest fence that are not sealed
//
// which is exact: postings sealed after the account's newest checkpoint do not exist (their block
// would have written a newer one), and an unsealed posting cannot be older than the fence. The
// last point holds for late commits too, because every ledger write reads the newest fence in
// its SERIALIZABLE transaction and stamps a later created_at (fencedClock), while the sealer
// reads the range below the new fence in its own: a write racing the sealer forms a read-write
// cycle with it and one of the two is retried, on both engines.
//
// When no fence exists yet, or the journal was extended by a sealer that writes no
// checkpoints (an older binary during a rolling upgrade), reads fall back to the full sum.

// fence is the newest balance fence: every transaction with postings created before at is sealed
// within the journal's first size positions.
type fence struct {
	size int64
	at   time.Time
}

// newestFence reads the newest fence; ok is false when there is none or when the journal has
// grown past it without checkpoints (then only a full sum is exact).
func newestFence(ctx context.Context, q querier) (f fence, ok bool, err error) {
	var journal *int64
	err = q.QueryRow(ctx, `
		SELECT f.journal_size, f.fence, (SELECT max(size) FROM journal_checkpoints)
		FROM ledger_balance_fences AS f ORDER BY f.journal_size DESC LIMIT 1`).Scan(&f.size, &f.at, &journal)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, false, nil
	}
	if err != nil {
		return f, false, fmt.Errorf("reading the newest balance fence: %w", err)
	}
	return f, journal != nil && *journal == f.size, nil
}

// fencedClock is the time to stamp a write with: the clock, or just after the newest balance
// fence when the clock is not past it (a replica whose clock lags the sealer's). Reading the
// fence puts it in the transaction's read set, which is what makes a write that commits late
// conflict with the sealer instead of landing below a fence it did not see.
func (s *Store) fencedClock(ctx context.Context, tx pgx.Tx) (time.Time, error) {
	return s.afterFence(scanFence(tx.QueryRow(ctx, fenceSQL)))
}

// fenceSQL reads the newest balance fence (no row before the first).
const fenceSQL = `SELECT fence FROM ledger_balance_fences ORDER BY journal_size DESC LIMIT 1`

// scanFence reads the row of fenceSQL; a nil time when there is no fence yet.
func scanFence(row pgx.Row) (*time.Time, error) {
	var at time.Time
	err := row.Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the newest balance fence: %w", err)
	}
	return &at, nil
}

// afterFence is the clock, or just after the fence at when the clock is not past it.
func (s *Store) afterFence(at *time.Time, err error) (time.Time, error) {
	now := s.clock()
	if err != nil {
		return now, err
	}
	if at != nil && !now.After(*at) {
		now = at.UTC().Add(time.Microsecond)
	}
	return now, nil
}

// sums are an account's debits, credits and postings per currency.
type sums map[string]*sum

type sum struct {
	debits, credits decimal.Decimal
	postings        int64
}

func (ss sums) add(cur string, amount decimal.Decimal, n int64) {
	s := ss[cur]
	if s == nil {
		s = &sum{}
		ss[cur] = s
	}
	if amount.Sign() > 0 {
		s.debits = s.debits.Add(amount)
	} else {
		s.credits = s.credits.Add(amount)
	}
	s.postings += n
}

// balances returns the signed balance (debit positive) per currency.
func (ss sums) balances() map[string]decimal.Decimal {
	out := make(map[string]decimal.Decimal, len(ss))
	for cur, s := range ss {
		out[cur] = s.debits.Add(s.credits)
	}
	return out
}

// checkpointSums reads an account's newest balance checkpoint plus its postings the checkpoint
// does not cover. ok is false when no usable fence exists (the caller sums everything).
func checkpointSums(ctx context.Context, q querier, id any) (_ sums, ok bool, _ error) {
	f, ok, err := newestFence(ctx, q)
	if err != nil || !ok {
		return nil, false, err
	}
	out := sums{}
	rows, err := q.Query(ctx, `
		SELECT currency, debits, credits, postings FROM ledger_balance_checkpoints
		WHERE account_id = $1 AND journal_size = (SELECT max(journal_size) FROM ledger_balance_checkpoints WHERE account_id = $1)`, id)
	if err != nil {
		return nil, false, fmt.Errorf("reading a balance checkpoint: %w", err)
	}
	var cur string
	var deb, cred decimal.Decimal
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&cur, &deb, &cred, &n}, func() error {
		out[cur] = &sum{debits: deb, credits: cred, postings: n}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("reading a balance checkpoint: %w", err)
	}
	// The tail in two steps with plans that do not depend on the account's size: the
	// account's postings from the fence on (a short range of its index: the unsealed ones and
	// those sealed since the fence), then which of their transactions are sealed (point lookups
	// of the unique transaction_id). As one NOT EXISTS query, PostgreSQL's estimate for an
	// account with millions of postings made it hash the whole journal_leaves table instead.
	rows, err = q.Query(ctx, `
		SELECT transaction_id, currency, amount FROM ledger_postings
		WHERE account_id = $1 AND created_at >= $2`, id, f.at)
	if err != nil {
		return nil, false, fmt.Errorf("reading postings after a balance checkpoint: %w", err)
	}
	type posting struct {
		tx       [16]byte
		currency string
		amount   decimal.Decimal
	}
	var tail []posting
	var p posting
	_, err = pgx.ForEachRow(rows, []any{&p.tx, &p.currency, &p.amount}, func() error {
		tail = append(tail, p)
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("reading postings after a balance checkpoint: %w", err)
	}
	if len(tail) == 0 {
		return out, true, nil
	}
	ids := make([][16]byte, 0, len(tail))
	for _, p := range tail {
		ids = append(ids, p.tx)
	}
	rows, err = q.Query(ctx, `SELECT transaction_id FROM journal_leaves WHERE transaction_id = ANY($1::UUID[])`, ids)
	if err != nil {
		return nil, false, fmt.Errorf("reading which postings after a balance checkpoint are sealed: %w", err)
	}
	sealed := map[[16]byte]bool{}
	var tx [16]byte
	_, err = pgx.ForEachRow(rows, []any{&tx}, func() error {
		sealed[tx] = true
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("reading which postings after a balance checkpoint are sealed: %w", err)
	}
	for _, p := range tail {
		if !sealed[p.tx] {
			out.add(p.currency, p.amount, 1)
		}
	}
	return out, true, nil
}

// FullBalance sums all of an account's postings per currency, signed (debit positive): the
// reference that checkpoint + tail must equal (tests, benchmarks, VerifyBalances).
func (s *Store) FullBalance(ctx context.Context, account string) (map[string]decimal.Decimal, error) {
	var out map[string]decimal.Decimal
	err := s.readOnly(ctx, "summing postings", func(ctx context.Context, tx pgx.Tx) (err error) {
		out, err = fullSum(ctx, tx, account, time.Time{})
		return err
	})
	return out, err
}
