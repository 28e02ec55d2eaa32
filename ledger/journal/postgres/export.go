package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/ledger/journal"
)

// exportChunk is the number of journal positions read per query: each query sorts one chunk's
// postings, so the database's sort memory stays bounded however long the journal is.
const exportChunk = 20000

// Export calls fn for every posting of every transaction created in [since, until) (zero times
// are open ends), from one consistent snapshot: first the sealed transactions in journal order
// with their chain fields, one row per posting in posting order, the checkpoint of a block on
// its last row; then the transactions not sealed yet, by (created_at, id), without chain fields.
// fn must not keep the row: it is reused. Export stops at fn's first error and returns it.
//
// Only an export without bounds can be verified as a whole (journal.Verifier): a bounded one
// leaves out positions the tree needs.
func (s *Store) Export(ctx context.Context, since, until time.Time, fn func(*journal.Row) error) error {
	// One REPEATABLE READ READ ONLY transaction is one snapshot on PostgreSQL; on CockroachDB
	// every transaction is serializable and a read-only one reads one snapshot as well.
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("starting the export snapshot: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only
	var from, to *time.Time
	if !since.IsZero() {
		from = &since
	}
	if !until.IsZero() {
		to = &until
	}
	var sealed int64
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(size), 0) FROM journal_checkpoints`).Scan(&sealed); err != nil {
		return fmt.Errorf("reading the journal size: %w", err)
	}
	w := newRowWriter(fn)
	for lo := int64(0); lo < sealed; lo += exportChunk {
		hi := min(lo+exportChunk, sealed)
		err := w.query(ctx, tx, true, `
			SELECT l.idx, l.leaf_hash, t.id, t.kind, t.principal_id, t.request_id, t.created_at, t.reverses,
			       a.address, a.type, p.currency, p.amount::TEXT,
			       c.size, c.root_hash, c.created_at, c.key_id, c.signature
			FROM journal_leaves AS l
			JOIN ledger_transactions AS t ON t.id = l.transaction_id
			JOIN ledger_postings AS p ON p.transaction_id = l.transaction_id
			JOIN ledger_accounts AS a ON a.id = p.account_id
			LEFT JOIN journal_checkpoints AS c ON c.size = l.idx + 1
			WHERE l.idx >= $1 AND l.idx < $2
			  AND ($3::TIMESTAMPTZ IS NULL OR t.created_at >= $3) AND ($4::TIMESTAMPTZ IS NULL OR t.created_at < $4)
			ORDER BY l.idx, p.n`, lo, hi, from, to)
		if err != nil {
			return err
		}
	}
	err = w.query(ctx, tx, false, `
		SELECT t.id, t.kind, t.principal_id, t.request_id, t.created_at, t.reverses,
		       a.address, a.type, p.currency, p.amount::TEXT
		FROM ledger_transactions AS t
		JOIN ledger_postings AS p ON p.transaction_id = t.id
		JOIN ledger_accounts AS a ON a.id = p.account_id
		WHERE NOT EXISTS (SELECT 1 FROM journal_leaves AS l WHERE l.transaction_id = t.id)
		  AND ($1::TIMESTAMPTZ IS NULL OR t.created_at >= $1) AND ($2::TIMESTAMPTZ IS NULL OR t.created_at < $2)
		ORDER BY t.created_at, t.id, p.n`, from, to)
	if err != nil {
		return err
	}
	if err := w.flush(); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// rowWriter turns result rows into journal rows. It holds one transaction's rows, because the
// checkpoint of a block goes on the last row of its last transaction and the database repeats it
// on every row of that transaction.
type rowWriter struct {
	fn     func(*journal.Row) error
	rows   []journal.Row
	cp     *journal.Checkpoint
	cpBuf  journal.Checkpoint
	hasher journal.PostingHasher
	header []byte
}

func newRowWriter(fn func(*journal.Row) error) *rowWriter { return &rowWriter{fn: fn} }

// flush emits the held transaction.
func (w *rowWriter) flush() error {
	if len(w.rows) == 0 {
		return nil
	}
	if w.cp != nil {
		w.rows[len(w.rows)-1].Checkpoint = w.cp
	}
	for i := range w.rows {
		if err := w.fn(&w.rows[i]); err != nil {
			return err
		}
	}
	w.rows, w.cp = w.rows[:0], nil
	return nil
}

// query runs one export query and emits its rows.
func (w *rowWriter) query(ctx context.Context, tx pgx.Tx, sealed bool, sql string, args ...any) error {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("reading the journal: %w", err)
	}
	defer rows.Close()
	var (
		idx                            int64
		leaf, cpRoot, cpSig            []byte
		id, kind, principal, request   string
		address, typ, currency, amount string
		reverses, cpKey                *string
		createdAt                      time.Time
		cpSize                         *int64
		cpTime                         *time.Time
		dest                           []any
		lastID                         string
		postingN                       int
	)
	if sealed {
		dest = []any{&idx, &leaf, &id, &kind, &principal, &request, &createdAt, &reverses,
			&address, &typ, &currency, &amount, &cpSize, &cpRoot, &cpTime, &cpKey, &cpSig}
	} else {
		dest = []any{&id, &kind, &principal, &request, &createdAt, &reverses, &address, &typ, &currency, &amount}
	}
	if len(w.rows) > 0 {
		lastID = w.rows[0].TransactionID
		postingN = len(w.rows)
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("reading the journal: %w", err)
		}
		if id != lastID {
			if err := w.flush(); err != nil {
				return err
			}
			lastID, postingN = id, 0
			if sealed && cpSize != nil {
				w.cpBuf = journal.Checkpoint{Size: uint64(*cpSize), Time: cpTime.UTC(), KeyID: *cpKey, Signature: cpSig}
				copy(w.cpBuf.Root[:], cpRoot)
				w.cp = &w.cpBuf
			}
		}
		canon, err := journal.CanonicalAmount(amount)
		if err != nil { // a form the fast path does not know (an exponent): parse it
			d, perr := decimal.NewFromString(amount)
			if perr != nil {
				return fmt.Errorf("transaction %s: amount %q: %w", id, amount, perr)
			}
			canon = journal.FormatAmount(d)
		}
		d, err := decimal.NewFromString(canon)
		if err != nil {
			return fmt.Errorf("transaction %s: amount %q: %w", id, amount, err)
		}
		w.rows = append(w.rows, journal.Row{})
		r := &w.rows[len(w.rows)-1]
		*r = journal.Row{
			TransactionID: id, CreatedAt: createdAt.UTC(), Kind: kind, Account: address, AccountType: typ,
			Currency: currency, Amount: d, IdempotencyKey: journal.IdempotencyKey(principal, request),
		}
		if reverses != nil {
			r.Reverses = *reverses
		}
		if sealed {
			if postingN == 0 {
				e := journal.Entry{TransactionID: id, CreatedAt: r.CreatedAt, Kind: kind, IdempotencyKey: r.IdempotencyKey, Reverses: r.Reverses}
				if w.header, err = journal.AppendHeader(w.header[:0], &e); err != nil {
					return err
				}
				w.hasher.Reset(w.header)
			}
			r.Sealed, r.JournalIndex = true, uint64(idx)
			copy(r.LeafHash[:], leaf)
			r.PostingHash = w.hasher.Sum(postingN, address, typ, currency, canon)
		}
		postingN++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading the journal: %w", err)
	}
	return nil
}
