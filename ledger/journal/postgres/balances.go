package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/ledger/journal"
)

// Balance checkpoints (docs/design.md §8, read by ledger/postgres): with every block the sealer
// writes, in the block's transaction, each touched account's debits, credits and postings per
// currency over the journal's first size positions (its previous checkpoint plus the block's
// postings, so nothing is summed twice and no row is updated), and a fence: a time before which
// every transaction with postings is sealed within those positions.
//
// The fence is the oldest created_at of a transaction with postings that is still unsealed once
// the block's leaves are in (looked for from the previous fence up to the round's cutoff), or the
// cutoff when there is none. That read is inside the block's SERIALIZABLE transaction, and every
// ledger write reads the newest fence in its own: a write that would commit with a created_at
// below the new fence without the sealer having seen it forms a read-write cycle with the block,
// so one of the two is retried (the write then stamps a later time). Hence a balance is the
// newest checkpoint plus the unsealed postings at or after the newest fence, exactly.
//
// The first block after the checkpoints were introduced, or after a sealer that writes none
// extended the journal (an older binary during a rolling upgrade), rebuilds every account's
// checkpoint from all sealed postings once.

type balanceKey struct {
	account  string // account id
	currency string
}

type balanceSum struct {
	debits, credits decimal.Decimal
	postings        int64
}

func (b *balanceSum) add(amount decimal.Decimal) {
	if amount.Sign() > 0 {
		b.debits = b.debits.Add(amount)
	} else {
		b.credits = b.credits.Add(amount)
	}
	b.postings++
}

// writeBalances writes the balance checkpoints and the fence of the block that extends the
// journal from base to size with es, inside the block's transaction. upto is the round's
// cutoff: transactions created after it were not candidates.
//
// With advance false the fence stays where it was (before the first, at the beginning of time): it
// still holds for the longer journal, and no range of ledger_transactions is read (sealBlock).
func writeBalances(ctx context.Context, tx pgx.Tx, base, size uint64, es []journal.Entry, ids map[string]string, upto time.Time, advance bool) error {
	var prevSize int64
	var prevFence *time.Time
	err := tx.QueryRow(ctx, `SELECT journal_size, fence FROM ledger_balance_fences ORDER BY journal_size DESC LIMIT 1`).Scan(&prevSize, &prevFence)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("reading the newest balance fence: %w", err)
	}
	rebuild := base > 0 && uint64(prevSize) != base
	if rebuild {
		prevFence = nil // look for unsealed transactions in the whole history once
	}

	// The block's postings, by account id.
	var id string
	sums := map[balanceKey]*balanceSum{}
	touched := map[string]bool{}
	at := func(k balanceKey) *balanceSum {
		s := sums[k]
		if s == nil {
			s = &balanceSum{}
			sums[k] = s
		}
		return s
	}
	for i := range es {
		for _, p := range es[i].Postings {
			id, ok := ids[p.Account]
			if !ok {
				return fmt.Errorf("account %s of transaction %s has no row", p.Account, es[i].TransactionID)
			}
			touched[id] = true
			at(balanceKey{id, p.Currency}).add(p.Amount)
		}
	}

	// What came before: the touched accounts' newest checkpoints, or every sealed posting.
	if rebuild {
		rows, err := tx.Query(ctx, `
			SELECT p.account_id, p.currency, p.amount
			FROM journal_leaves AS l JOIN ledger_postings AS p ON p.transaction_id = l.transaction_id
			WHERE l.idx < $1`, int64(base))
		if err != nil {
			return fmt.Errorf("summing sealed postings: %w", err)
		}
		var cur string
		var amount decimal.Decimal
		_, err = pgx.ForEachRow(rows, []any{&id, &cur, &amount}, func() error {
			touched[id] = true
			at(balanceKey{id, cur}).add(amount)
			return nil
		})
		if err != nil {
			return fmt.Errorf("summing sealed postings: %w", err)
		}
	} else if base > 0 {
		accts := make([]string, 0, len(touched))
		for a := range touched {
			accts = append(accts, a)
		}
		rows, err := tx.Query(ctx, `
			SELECT c.account_id, c.currency, c.debits, c.credits, c.postings
			FROM unnest($1::UUID[]) AS a (id)
			JOIN ledger_balance_checkpoints AS c ON c.account_id = a.id
			 AND c.journal_size = (SELECT max(m.journal_size) FROM ledger_balance_checkpoints AS m WHERE m.account_id = a.id)`, accts)
		if err != nil {
			return fmt.Errorf("reading balance checkpoints: %w", err)
		}
		var cur string
		var prev balanceSum
		_, err = pgx.ForEachRow(rows, []any{&id, &cur, &prev.debits, &prev.credits, &prev.postings}, func() error {
			s := at(balanceKey{id, cur})
			s.debits, s.credits, s.postings = s.debits.Add(prev.debits), s.credits.Add(prev.credits), s.postings+prev.postings
			return nil
		})
		if err != nil {
			return fmt.Errorf("reading balance checkpoints: %w", err)
		}
	}

	var (
		accountIDs, currencies, debits, credits []string
		sizes, postings                         []int64
	)
	for k, s := range sums {
		accountIDs, currencies = append(accountIDs, k.account), append(currencies, k.currency)
		debits, credits = append(debits, s.debits.String()), append(credits, s.credits.String())
		sizes, postings = append(sizes, int64(size)), append(postings, s.postings)
	}
	if len(sums) > 0 {
		_, err = tx.Exec(ctx, `
			INSERT INTO ledger_balance_checkpoints (account_id, journal_size, currency, debits, credits, postings)
			SELECT a, s, c, d::NUMERIC, k::NUMERIC, n
			FROM unnest($1::UUID[], $2::INT8[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::INT8[]) AS x (a, s, c, d, k, n)`,
			accountIDs, sizes, currencies, debits, credits, postings)
		if err != nil {
			return fmt.Errorf("inserting balance checkpoints: %w", err)
		}
	}

	f, err := nextFence(ctx, tx, prevFence, upto, advance || rebuild)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO ledger_balance_fences (journal_size, fence) VALUES ($1, $2)`, int64(size), f); err != nil {
		return fmt.Errorf("inserting the balance fence: %w", err)
	}
	return nil
}

// nextFence is the fence of a block. Advanced, it is the oldest transaction with postings still
// unsealed (from prev up to the cutoff upto), or upto, never before prev. Otherwise it is prev
// carried forward, or before the first fence the beginning of time, which holds trivially
// (balances then read every unsealed posting of an account until a block advances it); that
// reads no range of ledger_transactions.
func nextFence(ctx context.Context, tx pgx.Tx, prev *time.Time, upto time.Time, advance bool) (time.Time, error) {
	if !advance {
		if prev != nil {
			return *prev, nil
		}
		return time.Unix(0, 0).UTC(), nil
	}
	var oldest *time.Time
	err := tx.QueryRow(ctx, `
		SELECT min(t.created_at) FROM ledger_transactions AS t
		WHERE ($1::TIMESTAMPTZ IS NULL OR t.created_at >= $1) AND t.created_at < $2
		  AND NOT EXISTS (SELECT 1 FROM journal_leaves AS l WHERE l.transaction_id = t.id)
		  AND EXISTS (SELECT 1 FROM ledger_postings AS p WHERE p.transaction_id = t.id)`, prev, upto).Scan(&oldest)
	if err != nil {
		return upto, fmt.Errorf("looking for unsealed transactions below the balance fence: %w", err)
	}
	f := upto
	if oldest != nil {
		f = *oldest
	}
	if prev != nil && f.Before(*prev) {
		f = *prev
	}
	return f, nil
}

// accountIDs reads the ids of the accounts the entries post to. Accounts are never changed or
// deleted, so this is read before the block's transaction: inside it, the read would make the
// block conflict with every write that creates an account (SERIALIZABLE), and lose.
func accountIDs(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, es []journal.Entry) (map[string]string, error) {
	addrs := map[string]bool{}
	for i := range es {
		for _, p := range es[i].Postings {
			addrs[p.Account] = true
		}
	}
	list := make([]string, 0, len(addrs))
	for a := range addrs {
		list = append(list, a)
	}
	ids := make(map[string]string, len(list))
	rows, err := q.Query(ctx, `SELECT address, id FROM ledger_accounts WHERE address = ANY($1::TEXT[])`, list)
	if err != nil {
		return nil, fmt.Errorf("reading account ids: %w", err)
	}
	var addr, id string
	if _, err := pgx.ForEachRow(rows, []any{&addr, &id}, func() error { ids[addr] = id; return nil }); err != nil {
		return nil, fmt.Errorf("reading account ids: %w", err)
	}
	return ids, nil
}
