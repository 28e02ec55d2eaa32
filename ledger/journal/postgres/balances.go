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
// The block writes the previous fence carried forward (before the first, the beginning of time),
// which reads no range of ledger_transactions, so the block does not conflict with the writes
// landing there. A small SERIALIZABLE transaction of its own then moves it forward
// (advanceFenceTx) to the oldest created_at of a transaction with postings still unsealed
// (looked for from the previous fence up to the round's cutoff), or the cutoff when there is
// none. Every ledger write reads the newest fence in its own: a write that would commit with a
// created_at below the new fence without the sealer having seen it forms a read-write cycle
// with the advance, so one of the two is retried (the write then stamps a later time). Hence a
// balance is the newest checkpoint plus the unsealed postings at or after the newest fence,
// exactly.
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
// journal from base to size with es, inside the block's transaction.
//
// The fence stays where it was (before the first, at the beginning of time): it still holds for
// the longer journal, and no range of ledger_transactions is read, so the block does not conflict
// with the writes landing there. advanceFenceTx moves it forward after the block.
func writeBalances(ctx context.Context, tx pgx.Tx, base, size uint64, es []journal.Entry, ids map[string]string) error {
	var prevSize int64
	var prevFence *time.Time
	err := tx.QueryRow(ctx, `SELECT journal_size, fence FROM ledger_balance_fences ORDER BY journal_size DESC LIMIT 1`).Scan(&prevSize, &prevFence)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("reading the newest balance fence: %w", err)
	}
	rebuild := base > 0 && uint64(prevSize) != base
	if rebuild {
		prevFence = nil // the beginning of time; advanceFenceTx looks through the whole history once
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

	f := time.Unix(0, 0).UTC()
	if prevFence != nil {
		f = *prevFence
	}
	if _, err := tx.Exec(ctx, `INSERT INTO ledger_balance_fences (journal_size, fence) VALUES ($1, $2)`, int64(size), f); err != nil {
		return fmt.Errorf("inserting the balance fence: %w", err)
	}
	return nil
}

// fenceStep bounds the transactions one advanceFenceTx reads. PostgreSQL tracks the reads of a
// SERIALIZABLE transaction as predicate locks, a page's tuples turning into the page and, past 32
// pages of one relation (max_pred_locks_per_relation's default), into the whole relation. Reading
// a whole round of transactions took relation locks, so every concurrent write conflicted with
// the advance and it never won under load; a step of this many transactions stays on a few
// pages, which the writes landing after the cutoff do not touch. The transactions of one group
// commit share a created_at, so a step that cannot get past one such run reads more
// (fenceStepMax, above the largest batch).
const (
	fenceStep    = 64
	fenceStepMax = 512
)

// advanceFenceTx moves the fence of the block that made the journal size long forward, inside
// a SERIALIZABLE transaction of its own (Sealer.advanceFence), over about fenceStep
// transactions from the current fence towards the cutoff upto: to the created_at of the oldest
// transaction with postings still unsealed, or, when all are sealed, to upto if the step reached
// it, else to the created_at of the last transaction read (those before it are sealed). more
// reports that the step stopped short of upto with all sealed, so another step can go on. It does
// nothing when another block has extended the journal since (that block's fence is the newest and
// its advance moves it).
//
// Reading that range is what makes a write racing the sealer safe: every ledger write reads the
// newest fence in its own SERIALIZABLE transaction and stamps a later created_at, so a write
// that would commit below the new fence without having been seen here forms a read-write cycle
// with this transaction, and one of the two is retried.
func advanceFenceTx(ctx context.Context, tx pgx.Tx, size uint64, upto time.Time) (more bool, err error) {
	var fenceSize int64
	var prev time.Time
	var journalSize *int64
	err = tx.QueryRow(ctx, `
		SELECT f.journal_size, f.fence, (SELECT max(size) FROM journal_checkpoints)
		FROM ledger_balance_fences AS f ORDER BY f.journal_size DESC LIMIT 1`).Scan(&fenceSize, &prev, &journalSize)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the newest balance fence: %w", err)
	}
	if uint64(fenceSize) != size || journalSize == nil || *journalSize != fenceSize || !upto.After(prev) {
		return false, nil
	}
	// The next transactions in created_at order (an index range scan that stops after limit),
	// each with whether it is sealed: a probe of journal_leaves' transaction_id index per
	// transaction. (Written as EXISTS, PostgreSQL hashed the subquery: a sequential scan of the
	// whole journal for every step, and a predicate lock on all of it.)
	type txAt struct {
		id     [16]byte
		at     time.Time
		sealed bool
	}
	var step []txAt
	limit := fenceStep
	for {
		rows, err := tx.Query(ctx, `
			SELECT t.id, t.created_at, s.sealed IS NOT NULL
			FROM ledger_transactions AS t
			LEFT JOIN LATERAL (SELECT true AS sealed FROM journal_leaves AS l WHERE l.transaction_id = t.id LIMIT 1) AS s ON true
			WHERE t.created_at >= $1 AND t.created_at < $2
			ORDER BY t.created_at LIMIT $3`, prev, upto, limit)
		if err != nil {
			return false, fmt.Errorf("looking for unsealed transactions below the balance fence: %w", err)
		}
		step = step[:0]
		var r txAt
		if _, err := pgx.ForEachRow(rows, []any{&r.id, &r.at, &r.sealed}, func() error {
			step = append(step, r)
			return nil
		}); err != nil {
			return false, fmt.Errorf("looking for unsealed transactions below the balance fence: %w", err)
		}
		if len(step) < limit || !step[len(step)-1].at.Equal(prev) || limit >= fenceStepMax {
			break
		}
		limit = fenceStepMax // every one shares the fence's created_at: read past the run
	}
	f := upto
	if len(step) == limit {
		f, more = step[len(step)-1].at, true
	}
	for _, t := range step {
		if t.sealed || !t.at.Before(f) {
			continue
		}
		// Unsealed: it holds the fence unless it has no postings (the ledger writes none such;
		// the sealer cannot seal one and logs it).
		var has bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM ledger_postings WHERE transaction_id = $1)`, t.id).Scan(&has); err != nil {
			return false, fmt.Errorf("looking for unsealed transactions below the balance fence: %w", err)
		}
		if has {
			f, more = t.at, false
			break
		}
	}
	if !f.After(prev) {
		return false, nil
	}
	if _, err := tx.Exec(ctx, `UPDATE ledger_balance_fences SET fence = $2 WHERE journal_size = $1`, fenceSize, f); err != nil {
		return false, fmt.Errorf("advancing the balance fence: %w", err)
	}
	return more, nil
}

// accountIDs reads the ids of the accounts the entries post to. Accounts are never changed or
// deleted, so this is read before the block's transaction: inside it, the read would make the
// block conflict with every write that creates an account (SERIALIZABLE), and lose.
func accountIDs(ctx context.Context, q querier, accounts *accountCache, es []journal.Entry) (map[string]string, error) {
	var addrs []string
	for i := range es {
		for _, p := range es[i].Postings {
			addrs = append(addrs, p.Account)
		}
	}
	accts, err := accounts.byAddresses(ctx, q, addrs)
	if err != nil {
		return nil, fmt.Errorf("reading account ids: %w", err)
	}
	ids := make(map[string]string, len(accts))
	for addr, a := range accts {
		ids[addr] = a.id
	}
	return ids, nil
}
