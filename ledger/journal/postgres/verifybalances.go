package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// BalanceReport says what VerifyBalances checked.
type BalanceReport struct {
	JournalSize int64 // the journal size checked up to
	Checkpoints int64 // balance checkpoint rows compared with the full sum
	Postings    int64 // sealed postings summed
	Fence       time.Time
}

// BalanceError is a balance checkpoint or fence that does not hold.
type BalanceError struct{ Msg string }

func (e *BalanceError) Error() string { return e.Msg }

// VerifyBalances checks every balance checkpoint against the full sum of its account's postings
// over the journal positions it covers (in one pass over the sealed postings in journal order,
// memory in the number of accounts), and that the newest fence holds: no transaction with
// postings created before it is unsealed within its journal size. A failure is a *BalanceError
// naming the first bad row.
func (s *Store) VerifyBalances(ctx context.Context) (BalanceReport, error) {
	var rep BalanceReport
	var size *int64
	if err := s.pool.QueryRow(ctx, `SELECT max(journal_size) FROM ledger_balance_fences`).Scan(&size); err != nil {
		return rep, fmt.Errorf("reading the newest balance fence: %w", err)
	}
	if size == nil {
		return rep, nil
	}
	rep.JournalSize = *size
	if err := s.pool.QueryRow(ctx, `SELECT fence FROM ledger_balance_fences WHERE journal_size = $1`, *size).Scan(&rep.Fence); err != nil {
		return rep, fmt.Errorf("reading the newest balance fence: %w", err)
	}
	var unsealed int64
	if err := s.pool.QueryRow(ctx, `
		SELECT count(*) FROM ledger_transactions AS t
		WHERE t.created_at < $1
		  AND EXISTS (SELECT 1 FROM ledger_postings AS p WHERE p.transaction_id = t.id)
		  AND NOT EXISTS (SELECT 1 FROM journal_leaves AS l WHERE l.transaction_id = t.id AND l.idx < $2)`,
		rep.Fence, rep.JournalSize).Scan(&unsealed); err != nil {
		return rep, fmt.Errorf("checking the balance fence: %w", err)
	}
	if unsealed > 0 {
		return rep, &BalanceError{Msg: fmt.Sprintf("fence %s of journal size %d: %d transactions created before it are not sealed within it",
			rep.Fence.UTC().Format(time.RFC3339Nano), rep.JournalSize, unsealed)}
	}

	cps, err := s.pool.Query(ctx, `
		SELECT journal_size, account_id, currency, debits, credits, postings FROM ledger_balance_checkpoints
		WHERE journal_size <= $1 ORDER BY journal_size`, rep.JournalSize)
	if err != nil {
		return rep, fmt.Errorf("reading balance checkpoints: %w", err)
	}
	defer cps.Close()
	posts, err := s.pool.Query(ctx, `
		SELECT l.idx, p.account_id, p.currency, p.amount
		FROM journal_leaves AS l JOIN ledger_postings AS p ON p.transaction_id = l.transaction_id
		WHERE l.idx < $1 ORDER BY l.idx`, rep.JournalSize)
	if err != nil {
		return rep, fmt.Errorf("reading sealed postings: %w", err)
	}
	defer posts.Close()

	sums := map[balanceKey]*balanceSum{}
	var (
		have    bool // a posting read and not added yet
		pIdx    int64
		pKey    balanceKey
		pAmount decimal.Decimal
	)
	next := func() error {
		if !posts.Next() {
			have = false
			return posts.Err()
		}
		have = true
		return posts.Scan(&pIdx, &pKey.account, &pKey.currency, &pAmount)
	}
	if err := next(); err != nil {
		return rep, fmt.Errorf("reading sealed postings: %w", err)
	}
	for cps.Next() {
		var size int64
		var k balanceKey
		var want balanceSum
		if err := cps.Scan(&size, &k.account, &k.currency, &want.debits, &want.credits, &want.postings); err != nil {
			return rep, fmt.Errorf("reading balance checkpoints: %w", err)
		}
		for have && pIdx < size {
			b := sums[pKey]
			if b == nil {
				b = &balanceSum{}
				sums[pKey] = b
			}
			b.add(pAmount)
			rep.Postings++
			if err := next(); err != nil {
				return rep, fmt.Errorf("reading sealed postings: %w", err)
			}
		}
		got := sums[k]
		if got == nil {
			got = &balanceSum{}
		}
		if !got.debits.Equal(want.debits) || !got.credits.Equal(want.credits) || got.postings != want.postings {
			return rep, &BalanceError{Msg: fmt.Sprintf("balance checkpoint of account %s in %s at journal size %d says debits %s, credits %s, %d postings; the sealed postings sum to %s, %s, %d",
				k.account, k.currency, size, want.debits, want.credits, want.postings, got.debits, got.credits, got.postings)}
		}
		rep.Checkpoints++
	}
	if err := cps.Err(); err != nil {
		return rep, fmt.Errorf("reading balance checkpoints: %w", err)
	}
	return rep, nil
}

// IsBalanceError reports whether err says a balance checkpoint or fence does not hold.
func IsBalanceError(err error) bool {
	var be *BalanceError
	return errors.As(err, &be)
}
