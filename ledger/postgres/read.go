package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger"
)

const txColumns = `id, kind, principal_id, request_id, payload_hash, created_at, reverses, metadata, evidence`

// storedTx is a transaction row with its decoded metadata.
type storedTx struct {
	ledger.Transaction
	meta meta
}

// queryTxs reads transactions and their postings. where is appended to the SELECT.
func queryTxs(ctx context.Context, q querier, where string, args ...any) ([]storedTx, error) {
	rows, err := q.Query(ctx, `SELECT `+txColumns+` FROM ledger_transactions `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("reading ledger transactions: %w", err)
	}
	var txs []storedTx
	for rows.Next() {
		var t storedTx
		var reverses *string
		var raw, evidence []byte
		var kind string
		if err := rows.Scan(&t.ID, &kind, &t.PrincipalID, &t.RequestID, &t.PayloadHash, &t.CreatedAt, &reverses, &raw, &evidence); err != nil {
			rows.Close()
			return nil, fmt.Errorf("reading ledger transactions: %w", err)
		}
		t.Kind = ledger.Kind(kind)
		t.CreatedAt = t.CreatedAt.UTC()
		if reverses != nil {
			t.Reverses = *reverses
		}
		if t.meta, err = decodeMeta(raw); err == nil {
			t.meta.Evidence, err = decodeEvidence(evidence)
		}
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("transaction %s: %w", t.ID, err)
		}
		txs = append(txs, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading ledger transactions: %w", err)
	}
	if len(txs) == 0 {
		return nil, nil
	}
	ids := make([]string, len(txs))
	for i, t := range txs {
		ids[i] = t.ID
	}
	postings, err := loadPostings(ctx, q, ids)
	if err != nil {
		return nil, err
	}
	for i := range txs {
		txs[i].Postings = postings[txs[i].ID]
	}
	return txs, nil
}

// loadPostings reads the postings of transactions, each in posting order.
func loadPostings(ctx context.Context, q querier, txIDs []string) (map[string][]ledger.Posting, error) {
	rows, err := q.Query(ctx, `
		SELECT p.transaction_id, p.n, a.address, a.type, p.currency, p.amount
		FROM ledger_postings AS p JOIN ledger_accounts AS a ON a.id = p.account_id
		WHERE p.transaction_id = ANY($1::UUID[])`, txIDs)
	if err != nil {
		return nil, fmt.Errorf("reading postings: %w", err)
	}
	defer rows.Close()
	type numbered struct {
		n int64
		p ledger.Posting
	}
	byTx := map[string][]numbered{}
	for rows.Next() {
		var txID, typ string
		var x numbered
		if err := rows.Scan(&txID, &x.n, &x.p.Account, &typ, &x.p.Currency, &x.p.Amount); err != nil {
			return nil, fmt.Errorf("reading postings: %w", err)
		}
		x.p.Type = ledger.AccountType(typ)
		byTx[txID] = append(byTx[txID], x)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading postings: %w", err)
	}
	out := make(map[string][]ledger.Posting, len(byTx))
	for id, ps := range byTx {
		sort.Slice(ps, func(i, j int) bool { return ps[i].n < ps[j].n })
		list := make([]ledger.Posting, len(ps))
		for i, x := range ps {
			list[i] = x.p
		}
		out[id] = list
	}
	return out, nil
}

// usagesOf turns usage transactions into Usages, with their reversals.
func usagesOf(ctx context.Context, q querier, txs []storedTx) ([]ledger.Usage, error) {
	if len(txs) == 0 {
		return nil, nil
	}
	ids := make([]string, len(txs))
	for i, t := range txs {
		ids[i] = t.ID
	}
	revs, err := reversalsOf(ctx, q, ids)
	if err != nil {
		return nil, err
	}
	out := make([]ledger.Usage, len(txs))
	for i, t := range txs {
		if out[i], err = usageFrom(t.Transaction, t.meta); err != nil {
			return nil, err
		}
		if r, ok := revs[t.ID]; ok {
			out[i].Reversal = &r
		}
	}
	return out, nil
}

// reversalsOf returns the reversals of the given transactions, by reversed id.
func reversalsOf(ctx context.Context, q querier, ids []string) (map[string]ledger.Reversal, error) {
	rows, err := q.Query(ctx, `
		SELECT reverses, id, created_at, metadata
		FROM ledger_transactions WHERE reverses = ANY($1::UUID[])`, ids)
	if err != nil {
		return nil, fmt.Errorf("reading reversals: %w", err)
	}
	defer rows.Close()
	out := map[string]ledger.Reversal{}
	for rows.Next() {
		var of string
		var r ledger.Reversal
		var raw []byte
		if err := rows.Scan(&of, &r.TransactionID, &r.CreatedAt, &raw); err != nil {
			return nil, fmt.Errorf("reading reversals: %w", err)
		}
		m, err := decodeMeta(raw)
		if err != nil {
			return nil, err
		}
		r.Reason, r.CreatedAt = m.Reason, r.CreatedAt.UTC()
		out[of] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading reversals: %w", err)
	}
	return out, nil
}

// GetUsage returns a usage report by its transaction id.
func (s *Store) GetUsage(ctx context.Context, transactionID string) (ledger.Usage, error) {
	if err := ledger.CheckID("transaction_id", transactionID); err != nil {
		return ledger.Usage{}, err
	}
	return s.oneUsage(ctx, s.pool, `WHERE id = $1 AND kind = 'usage'`, transactionID)
}

// UsageByRequest returns a provider's usage report by its request id.
func (s *Store) UsageByRequest(ctx context.Context, providerID, requestID string) (ledger.Usage, error) {
	if err := ledger.CheckID("provider_id", providerID); err != nil {
		return ledger.Usage{}, err
	}
	return s.oneUsage(ctx, s.pool, `WHERE principal_id = $1 AND kind = 'usage' AND request_id = $2`, providerID, requestID)
}

// ReplayUsage returns the report booked under the key when its payload hash is requestHash.
func (s *Store) ReplayUsage(ctx context.Context, providerID, requestID string, requestHash []byte) (ledger.Usage, error) {
	u, err := s.UsageByRequest(ctx, providerID, requestID)
	if err != nil {
		return ledger.Usage{}, err
	}
	if !bytes.Equal(u.PayloadHash, requestHash) {
		return ledger.Usage{}, conflictErr("request_id", requestID, u.TransactionID)
	}
	return u, nil
}

func conflictErr(field, requestID, txID string) error {
	return royalty.FieldErrorf(royalty.ECONFLICT, field, "%s was already used for a different request (transaction %s)", quoteID(requestID), txID)
}

func quoteID(s string) string { return fmt.Sprintf("%q", s) }

func (s *Store) oneUsage(ctx context.Context, q querier, where string, args ...any) (ledger.Usage, error) {
	txs, err := queryTxs(ctx, q, where, args...)
	if err != nil {
		return ledger.Usage{}, err
	}
	if len(txs) == 0 {
		return ledger.Usage{}, royalty.Errorf(royalty.ENOTFOUND, "no such usage report")
	}
	us, err := usagesOf(ctx, q, txs)
	if err != nil {
		return ledger.Usage{}, err
	}
	return us[0], nil
}

// IdentityOwners returns the owners of the claimed identities among keys.
func (s *Store) IdentityOwners(ctx context.Context, keys []string) (map[string]string, error) {
	return identityOwners(ctx, s.pool, keys)
}

func identityOwners(ctx context.Context, q querier, keys []string) (map[string]string, error) {
	out := map[string]string{}
	if len(keys) == 0 {
		return out, nil
	}
	rows, err := q.Query(ctx, `SELECT identity_key, contributor_id FROM ledger_identity_owners WHERE identity_key = ANY($1::TEXT[])`, keys)
	if err != nil {
		return nil, fmt.Errorf("reading identity owners: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, c string
		if err := rows.Scan(&k, &c); err != nil {
			return nil, fmt.Errorf("reading identity owners: %w", err)
		}
		out[k] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading identity owners: %w", err)
	}
	return out, nil
}

// sumAccount returns an account's balance per currency as of a time (zero: now), signed (debit
// positive), summed in Go: CockroachDB computes SQL decimal arithmetic at lower precision
// (docs/design.md §3). The current balance is the newest balance checkpoint plus the postings
// after it (balances.go), in time independent of the account's history; a balance as of a time
// sums the postings up to it.
func sumAccount(ctx context.Context, q querier, address string, asOf time.Time) (map[string]decimal.Decimal, error) {
	if asOf.IsZero() {
		ss, ok, err := checkpointSums(ctx, q, accountID(address))
		if err != nil {
			return nil, fmt.Errorf("balance of %s: %w", address, err)
		}
		if ok {
			return ss.balances(), nil
		}
	}
	return fullSum(ctx, q, address, asOf)
}

// fullSum sums every posting of an account up to asOf (zero: all).
func fullSum(ctx context.Context, q querier, address string, asOf time.Time) (map[string]decimal.Decimal, error) {
	sql := `SELECT currency, amount FROM ledger_postings WHERE account_id = $1`
	args := []any{accountID(address)}
	if !asOf.IsZero() {
		sql += ` AND created_at <= $2`
		args = append(args, asOf)
	}
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("summing postings of %s: %w", address, err)
	}
	defer rows.Close()
	sums := map[string]decimal.Decimal{}
	var cur string
	var amount decimal.Decimal
	for rows.Next() {
		if err := rows.Scan(&cur, &amount); err != nil {
			return nil, fmt.Errorf("summing postings of %s: %w", address, err)
		}
		sums[cur] = sums[cur].Add(amount)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("summing postings of %s: %w", address, err)
	}
	return sums, nil
}

// Balances returns an account's balance per currency in its normal direction.
func (s *Store) Balances(ctx context.Context, account string, asOf time.Time) ([]ledger.Balance, error) {
	acct, err := ledger.ParseAccount("account", account)
	if err != nil {
		return nil, err
	}
	var sums map[string]decimal.Decimal
	err = s.readOnly(ctx, "reading balances", func(ctx context.Context, tx pgx.Tx) (err error) {
		sums, err = sumAccount(ctx, tx, account, asOf)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]ledger.Balance, 0, len(sums))
	for cur, sum := range sums {
		b := ledger.Balance{Account: account, Currency: cur, Balance: sum}
		if !acct.Type.DebitNormal() {
			b.Balance = sum.Neg()
		}
		b.Available = ledger.Available(b.Balance, cur)
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Currency < out[j].Currency })
	return out, nil
}

// isNoRows reports whether err says a single-row query found nothing.
func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
