package postgres

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger"
)

// pageToken is the position after the last entry of a statement page.
type pageToken struct {
	CreatedAt int64  `json:"t"` // Unix microseconds
	TxID      string `json:"x"`
	N         int64  `json:"n"`
}

func (p pageToken) encode() string {
	b, _ := json.Marshal(p)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePageToken(s string) (pageToken, error) {
	var p pageToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &p)
	}
	if err == nil {
		err = ledger.CheckID("page_token", p.TxID)
	}
	if err != nil {
		return p, royalty.FieldErrorf(royalty.EINVALID, "page_token", "not a token returned by this call")
	}
	return p, nil
}

// Statement returns a page of an account's postings, newest first, each usage credit with the
// evidence of its identity.
func (s *Store) Statement(ctx context.Context, q ledger.StatementQuery) (ledger.StatementPage, error) {
	acct, err := ledger.ParseAccount("account", q.Account)
	if err != nil {
		return ledger.StatementPage{}, err
	}
	if q.Currency != "" {
		if _, err := ledger.ParseCurrency("currency", q.Currency); err != nil {
			return ledger.StatementPage{}, err
		}
	}
	size := q.PageSize
	switch {
	case size == 0:
		size = ledger.DefaultPageSize
	case size < 0 || size > ledger.MaxPageSize:
		return ledger.StatementPage{}, royalty.FieldErrorf(royalty.EINVALID, "page_size", "must be between 1 and %d, got %d", ledger.MaxPageSize, size)
	}
	sql := `
		SELECT ` + statementColumns + `
		FROM ledger_postings AS p JOIN ledger_transactions AS t ON t.id = p.transaction_id
		WHERE p.account_id = $1 AND ($2 = '' OR p.currency = $2)`
	args := []any{accountID(q.Account), q.Currency}
	if q.PageToken != "" {
		tok, err := decodePageToken(q.PageToken)
		if err != nil {
			return ledger.StatementPage{}, err
		}
		sql += ` AND (p.created_at, p.transaction_id, p.n) < ($3::TIMESTAMPTZ, $4::UUID, $5::INT8)`
		args = append(args, time.UnixMicro(tok.CreatedAt).UTC(), tok.TxID, tok.N)
	}
	// The transaction id only breaks ties between postings of the same instant, so that pages
	// neither skip nor repeat entries; it says nothing about order.
	sql += fmt.Sprintf(` ORDER BY p.created_at DESC, p.transaction_id DESC, p.n DESC LIMIT %d`, size+1)
	var page ledger.StatementPage
	err = s.readOnly(ctx, "reading a statement", func(ctx context.Context, tx pgx.Tx) error {
		page = ledger.StatementPage{}
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return fmt.Errorf("reading the statement of %s: %w", q.Account, err)
		}
		defer rows.Close()
		var last pageToken
		for rows.Next() {
			if len(page.Entries) == size {
				page.NextPageToken = last.encode()
				break
			}
			e, n, err := scanEntry(rows, acct.Type)
			if err != nil {
				return fmt.Errorf("reading the statement of %s: %w", q.Account, err)
			}
			page.Entries = append(page.Entries, e)
			last = pageToken{CreatedAt: e.CreatedAt.UnixMicro(), TxID: e.TransactionID, N: n}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("reading the statement of %s: %w", q.Account, err)
		}
		rows.Close()
		if q.ExpandReleases && acct.Type == ledger.AccountContributor {
			return expandReleases(ctx, tx, page.Entries)
		}
		return nil
	})
	if err != nil {
		return ledger.StatementPage{}, err
	}
	return page, nil
}

const statementColumns = `p.transaction_id, p.n, p.currency, p.amount, p.created_at, t.kind, t.reverses, t.metadata, t.evidence`

// scanEntry reads one row of statementColumns as an entry of an account of type typ, with the
// posting's index n.
func scanEntry(rows pgx.Rows, typ ledger.AccountType) (e ledger.StatementEntry, n int64, err error) {
	var amount decimal.Decimal
	var kind string
	var reverses *string
	var raw, evidence []byte
	if err := rows.Scan(&e.TransactionID, &n, &e.Currency, &amount, &e.CreatedAt, &kind, &reverses, &raw, &evidence); err != nil {
		return e, 0, err
	}
	e.CreatedAt, e.Kind = e.CreatedAt.UTC(), ledger.Kind(kind)
	e.Amount = ledger.Posting{Type: typ, Amount: amount}.Normal()
	if reverses != nil {
		e.Reverses = *reverses
	}
	m, err := decodeMeta(raw)
	if err == nil {
		m.Evidence, err = decodeEvidence(evidence)
	}
	if err != nil {
		return e, 0, fmt.Errorf("transaction %s: %w", e.TransactionID, err)
	}
	describe(&e, n, m)
	return e, n, nil
}

// expandReleases fills Released of the escrow_release entries of a contributor's statement: the
// identity's escrow entries in the entry's currency booked up to the release, assigned to the
// releases that moved them by ledger.AssignReleases. Within one instant a release is ordered
// after the credits and reversals: it moved what the escrow held when it was booked.
func expandReleases(ctx context.Context, tx pgx.Tx, entries []ledger.StatementEntry) error {
	for i := range entries {
		e := &entries[i]
		if e.Kind != ledger.KindEscrowRelease || e.IdentityKey == "" {
			continue
		}
		escrow := ledger.EscrowAccount(e.IdentityKey)
		rows, err := tx.Query(ctx, `SELECT `+statementColumns+`
			FROM ledger_postings AS p JOIN ledger_transactions AS t ON t.id = p.transaction_id
			WHERE p.account_id = $1 AND p.currency = $2 AND p.created_at <= $3
			ORDER BY p.created_at, (t.kind = 'escrow_release'), p.transaction_id, p.n`,
			accountID(escrow), e.Currency, e.CreatedAt)
		if err != nil {
			return fmt.Errorf("reading the escrow of %s: %w", e.IdentityKey, err)
		}
		var history []ledger.StatementEntry
		for rows.Next() {
			h, _, err := scanEntry(rows, ledger.AccountIdentityEscrow)
			if err != nil {
				rows.Close()
				return fmt.Errorf("reading the escrow of %s: %w", e.IdentityKey, err)
			}
			history = append(history, h)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("reading the escrow of %s: %w", e.IdentityKey, err)
		}
		groups, err := ledger.AssignReleases(history)
		if err != nil {
			return err
		}
		released, ok := groups[ledger.ReleaseRef{TransactionID: e.TransactionID, Currency: e.Currency}]
		if !ok {
			return fmt.Errorf("escrow release %s is not on the escrow %s", e.TransactionID, escrow)
		}
		if e.Released = released; e.Released == nil {
			e.Released = []ledger.StatementEntry{}
		}
	}
	return nil
}

// describe fills what a statement shows about posting n of a transaction from its metadata.
func describe(e *ledger.StatementEntry, n int64, m meta) {
	e.ModelID, e.Reason = m.ModelID, m.Reason
	if e.Feedback = feedbackEvidence(n, m); e.Feedback != nil {
		pool, _ := ledger.ParseFeedbackPool("pool", e.Feedback.Pool)
		e.IdentityKey = ledger.RaterIdentityKey(pool.ProviderID, e.Feedback.RaterID)
	}
	if m.IdentityKey != "" { // escrow release
		e.IdentityKey = m.IdentityKey
	}
	for _, c := range m.Credits {
		if int64(c.N) != n {
			continue
		}
		e.IdentityKey = c.IdentityKey
		if e.Kind == ledger.KindUsage && m.Index != nil {
			e.Index = &ledger.IndexVersion{Posts: m.Index.Posts, Mark: m.Index.Mark}
		}
		if e.Kind == ledger.KindUsage {
			for _, ev := range m.Evidence {
				if ev.IdentityKey == c.IdentityKey {
					e.Evidence = append(e.Evidence, ledger.Evidence(ev))
				}
			}
		}
	}
}

// TrialBalance sums every posting per account type and currency, in Go. The current trial
// balance reads each account's newest balance checkpoint and the postings after them (in time
// independent of the history, balances.go) in one snapshot; as of a time it sums the postings
// up to it in one statement (a consistent snapshot on both engines).
func (s *Store) TrialBalance(ctx context.Context, asOf time.Time) (ledger.TrialBalance, error) {
	type key struct {
		typ      ledger.AccountType
		currency string
	}
	var (
		lines    map[key]*ledger.TrialBalanceLine
		accounts map[key]map[string]bool
		tb       ledger.TrialBalance
	)
	reset := func() {
		lines, accounts, tb = map[key]*ledger.TrialBalanceLine{}, map[key]map[string]bool{}, ledger.TrialBalance{}
	}
	add := func(typ, account, cur string, debits, credits decimal.Decimal, n int64) {
		k := key{ledger.AccountType(typ), cur}
		l := lines[k]
		if l == nil {
			l = &ledger.TrialBalanceLine{Type: k.typ, Currency: cur}
			lines[k], accounts[k] = l, map[string]bool{}
		}
		l.Debits, l.Credits = l.Debits.Add(debits), l.Credits.Add(credits)
		accounts[k][account] = true
		l.Postings += n
		tb.Postings += n
	}
	addPosting := func(typ, account, cur string, amount decimal.Decimal) {
		if amount.Sign() > 0 {
			add(typ, account, cur, amount, decimal.Zero, 1)
		} else {
			add(typ, account, cur, decimal.Zero, amount, 1)
		}
	}
	scanPostings := func(rows pgx.Rows, err error) error {
		if err != nil {
			return fmt.Errorf("reading postings for the trial balance: %w", err)
		}
		var typ, account, cur string
		var amount decimal.Decimal
		_, err = pgx.ForEachRow(rows, []any{&typ, &account, &cur, &amount}, func() error {
			addPosting(typ, account, cur, amount)
			return nil
		})
		if err != nil {
			return fmt.Errorf("reading postings for the trial balance: %w", err)
		}
		return nil
	}
	const all = `SELECT a.type, p.account_id, p.currency, p.amount FROM ledger_postings AS p JOIN ledger_accounts AS a ON a.id = p.account_id`
	err := s.readOnly(ctx, "reading the trial balance", func(ctx context.Context, tx pgx.Tx) error {
		reset()
		if !asOf.IsZero() {
			return scanPostings(tx.Query(ctx, all+` WHERE p.created_at <= $1`, asOf))
		}
		f, ok, err := newestFence(ctx, tx)
		if err != nil {
			return err
		}
		if !ok {
			return scanPostings(tx.Query(ctx, all))
		}
		rows, err := tx.Query(ctx, `
			SELECT a.type, c.account_id, c.currency, c.debits, c.credits, c.postings
			FROM ledger_accounts AS a JOIN ledger_balance_checkpoints AS c ON c.account_id = a.id
			 AND c.journal_size = (SELECT max(m.journal_size) FROM ledger_balance_checkpoints AS m WHERE m.account_id = a.id)`)
		if err != nil {
			return fmt.Errorf("reading balance checkpoints: %w", err)
		}
		var typ, account, cur string
		var debits, credits decimal.Decimal
		var n int64
		_, err = pgx.ForEachRow(rows, []any{&typ, &account, &cur, &debits, &credits, &n}, func() error {
			add(typ, account, cur, debits, credits, n)
			return nil
		})
		if err != nil {
			return fmt.Errorf("reading balance checkpoints: %w", err)
		}
		return scanPostings(tx.Query(ctx, `
			SELECT a.type, p.account_id, p.currency, p.amount
			FROM ledger_transactions AS t
			JOIN ledger_postings AS p ON p.transaction_id = t.id
			JOIN ledger_accounts AS a ON a.id = p.account_id
			WHERE t.created_at >= $1 AND NOT EXISTS (SELECT 1 FROM journal_leaves AS l WHERE l.transaction_id = t.id)`, f.at))
	})
	if err != nil {
		return ledger.TrialBalance{}, err
	}
	totals := map[string]decimal.Decimal{}
	for k, l := range lines {
		l.Balance = l.Debits.Add(l.Credits)
		l.Accounts = len(accounts[k])
		totals[k.currency] = totals[k.currency].Add(l.Balance)
		tb.Lines = append(tb.Lines, *l)
	}
	rank := map[ledger.AccountType]int{}
	for i, t := range ledger.AccountTypes {
		rank[t] = i
	}
	sort.Slice(tb.Lines, func(i, j int) bool {
		a, b := tb.Lines[i], tb.Lines[j]
		if a.Currency != b.Currency {
			return a.Currency < b.Currency
		}
		return rank[a.Type] < rank[b.Type]
	})
	for cur, t := range totals {
		tb.Totals = append(tb.Totals, ledger.Money{Amount: t, Currency: cur})
	}
	sort.Slice(tb.Totals, func(i, j int) bool { return tb.Totals[i].Currency < tb.Totals[j].Currency })
	return tb, nil
}

// Journal streams every transaction created in [since, until) with its postings, from one
// statement (a consistent snapshot), in created_at order (ties by id, which is arbitrary but
// stable).
func (s *Store) Journal(ctx context.Context, since, until time.Time, fn func(ledger.Transaction) error) error {
	sql := `
		SELECT t.id, t.kind, t.principal_id, t.request_id, t.payload_hash, t.created_at, t.reverses,
		       p.n, a.address, a.type, p.currency, p.amount
		FROM ledger_transactions AS t
		LEFT JOIN ledger_postings AS p ON p.transaction_id = t.id
		LEFT JOIN ledger_accounts AS a ON a.id = p.account_id
		WHERE ($1::TIMESTAMPTZ IS NULL OR t.created_at >= $1) AND ($2::TIMESTAMPTZ IS NULL OR t.created_at < $2)
		ORDER BY t.created_at, t.id, p.n`
	var from, to *time.Time
	if !since.IsZero() {
		from = &since
	}
	if !until.IsZero() {
		to = &until
	}
	rows, err := s.pool.Query(ctx, sql, from, to)
	if err != nil {
		return fmt.Errorf("reading the journal: %w", err)
	}
	defer rows.Close()
	var cur *ledger.Transaction
	for rows.Next() {
		var t ledger.Transaction
		var kind string
		var reverses, address, typ, currency *string
		var n *int64
		var amount decimal.NullDecimal
		if err := rows.Scan(&t.ID, &kind, &t.PrincipalID, &t.RequestID, &t.PayloadHash, &t.CreatedAt, &reverses,
			&n, &address, &typ, &currency, &amount); err != nil {
			return fmt.Errorf("reading the journal: %w", err)
		}
		if cur == nil || cur.ID != t.ID {
			if cur != nil {
				if err := fn(*cur); err != nil {
					return err
				}
			}
			t.Kind, t.CreatedAt = ledger.Kind(kind), t.CreatedAt.UTC()
			if reverses != nil {
				t.Reverses = *reverses
			}
			cur = &t
		}
		if n != nil {
			p := ledger.Posting{Currency: *currency, Amount: amount.Decimal}
			if address != nil { // a posting whose account row is missing keeps an empty address
				p.Account, p.Type = *address, ledger.AccountType(*typ)
			}
			cur.Postings = append(cur.Postings, p)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading the journal: %w", err)
	}
	if cur != nil {
		return fn(*cur)
	}
	return nil
}

// SetAgreement sets a provider's royalty rate.
func (s *Store) SetAgreement(ctx context.Context, providerID string, rate decimal.Decimal) (ledger.Agreement, error) {
	if err := ledger.CheckID("provider_id", providerID); err != nil {
		return ledger.Agreement{}, err
	}
	if err := ledger.CheckRate("royalty_rate", rate); err != nil {
		return ledger.Agreement{}, err
	}
	if err := s.ensureAccounts(ctx, s.pool, "provider_id", ledger.ProviderAccount(providerID)); err != nil {
		return ledger.Agreement{}, err
	}
	now := s.clock()
	err := s.serializable(ctx, "setting an agreement", func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO ledger_provider_agreements (provider_id, royalty_rate, updated_at) VALUES ($1, $2::NUMERIC, $3)
			ON CONFLICT (provider_id) DO UPDATE SET royalty_rate = excluded.royalty_rate, updated_at = excluded.updated_at`,
			providerID, rate.String(), now)
		if err != nil {
			return fmt.Errorf("setting the agreement of %s: %w", providerID, err)
		}
		return nil
	})
	if err != nil {
		return ledger.Agreement{}, err
	}
	return ledger.Agreement{ProviderID: providerID, RoyaltyRate: rate, UpdatedAt: now}, nil
}

// GetAgreement returns a provider's agreement, or the default rate.
func (s *Store) GetAgreement(ctx context.Context, providerID string) (ledger.Agreement, error) {
	if err := ledger.CheckID("provider_id", providerID); err != nil {
		return ledger.Agreement{}, err
	}
	a := ledger.Agreement{ProviderID: providerID}
	err := s.pool.QueryRow(ctx, `SELECT royalty_rate, updated_at FROM ledger_provider_agreements WHERE provider_id = $1`, providerID).
		Scan(&a.RoyaltyRate, &a.UpdatedAt)
	if isNoRows(err) {
		fr, err := s.feedbackRate(ctx, providerID)
		return ledger.Agreement{ProviderID: providerID, RoyaltyRate: s.defaultRate, Default: true, FeedbackRate: fr}, err
	}
	if err != nil {
		return ledger.Agreement{}, fmt.Errorf("reading the agreement of %s: %w", providerID, err)
	}
	a.UpdatedAt = a.UpdatedAt.UTC()
	a.FeedbackRate, err = s.feedbackRate(ctx, providerID)
	return a, err
}
