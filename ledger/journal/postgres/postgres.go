// Package postgres keeps the verifiable journal (ledger/journal) in PostgreSQL or CockroachDB,
// next to the ledger's tables: the Sealer assigns journal positions to committed ledger
// transactions and signs a checkpoint per block, and the Store reads checkpoints, inclusion
// proofs and the journal export with its chain fields.
//
// Positions are assigned without a counter row and without locks: a block of leaves and its
// checkpoint are inserted in one SERIALIZABLE transaction whose keys (the leaf positions, the
// checkpoint's size and the size it extends) are unique, so of two sealers that extend the same
// checkpoint one commits and the other fails, reloads and tries again. The chain cannot fork.
// Which transactions are sealed is decided by an anti-join ("no leaf yet"), not by a time
// watermark, so a transaction that commits late with an early created_at is sealed in a later
// block rather than skipped: journal order is sealing order.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/journal"
)

// Store reads the journal. It is safe for concurrent use by multiple goroutines.
type Store struct {
	pool *pgxpool.Pool
}

// New returns a Store on pool (from internal/pgdb). The schema must have been migrated.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// querier is what reads need from a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

const checkpointColumns = `size, root_hash, created_at, key_id, signature`

func scanCheckpoint(row pgx.Row) (journal.Checkpoint, error) {
	var c journal.Checkpoint
	var size int64
	var root []byte
	if err := row.Scan(&size, &root, &c.Time, &c.KeyID, &c.Signature); err != nil {
		return c, err
	}
	c.Size, c.Time = uint64(size), c.Time.UTC()
	copy(c.Root[:], root)
	return c, nil
}

// Latest returns the newest checkpoint; ok is false while nothing is sealed.
func (s *Store) Latest(ctx context.Context) (_ journal.Checkpoint, ok bool, _ error) {
	return latest(ctx, s.pool)
}

func latest(ctx context.Context, q querier) (journal.Checkpoint, bool, error) {
	c, err := scanCheckpoint(q.QueryRow(ctx, `SELECT `+checkpointColumns+` FROM journal_checkpoints ORDER BY size DESC LIMIT 1`))
	if errors.Is(err, pgx.ErrNoRows) {
		return journal.Checkpoint{}, false, nil
	}
	if err != nil {
		return journal.Checkpoint{}, false, fmt.Errorf("reading the newest checkpoint: %w", err)
	}
	return c, true, nil
}

// Checkpoint returns the checkpoint of a journal size.
// It can return:
//   - ENOTFOUND: no checkpoint has that size
func (s *Store) Checkpoint(ctx context.Context, size uint64) (journal.Checkpoint, error) {
	c, err := scanCheckpoint(s.pool.QueryRow(ctx, `SELECT `+checkpointColumns+` FROM journal_checkpoints WHERE size = $1`, int64(size)))
	if errors.Is(err, pgx.ErrNoRows) {
		return c, royalty.FieldErrorf(royalty.ENOTFOUND, "checkpoint_size", "no checkpoint has size %d", size)
	}
	if err != nil {
		return c, fmt.Errorf("reading checkpoint %d: %w", size, err)
	}
	return c, nil
}

// MaxPageSize bounds a page of checkpoints.
const MaxPageSize = 1000

// Checkpoints returns up to limit checkpoints smaller than before (0: from the newest), newest
// first, and the size to pass as before for the next page (0 on the last page).
func (s *Store) Checkpoints(ctx context.Context, before uint64, limit int) ([]journal.Checkpoint, uint64, error) {
	if limit <= 0 || limit > MaxPageSize {
		return nil, 0, royalty.FieldErrorf(royalty.EINVALID, "page_size", "must be between 1 and %d, got %d", MaxPageSize, limit)
	}
	var bound *int64
	if before > 0 {
		b := int64(before)
		bound = &b
	}
	rows, err := s.pool.Query(ctx, `SELECT `+checkpointColumns+` FROM journal_checkpoints
		WHERE $1::INT8 IS NULL OR size < $1 ORDER BY size DESC LIMIT $2`, bound, limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("listing checkpoints: %w", err)
	}
	defer rows.Close()
	var out []journal.Checkpoint
	for rows.Next() {
		c, err := scanCheckpoint(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("listing checkpoints: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("listing checkpoints: %w", err)
	}
	var next uint64
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].Size
	}
	return out, next, nil
}

// readNodes returns the hashes of perfect subtrees: leaves (level 0) from journal_leaves, the
// others from journal_nodes.
func readNodes(ctx context.Context, q querier, ids []journal.NodeID) (map[journal.NodeID]journal.Hash, error) {
	var leafIdx, levels, idxs []int64
	for _, id := range ids {
		if id.Level == 0 {
			leafIdx = append(leafIdx, int64(id.Index))
		} else {
			levels, idxs = append(levels, int64(id.Level)), append(idxs, int64(id.Index))
		}
	}
	out := make(map[journal.NodeID]journal.Hash, len(ids))
	read := func(sql string, args ...any) error {
		rows, err := q.Query(ctx, sql, args...)
		if err != nil {
			return fmt.Errorf("reading journal nodes: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var level, idx int64
			var h []byte
			if err := rows.Scan(&level, &idx, &h); err != nil {
				return fmt.Errorf("reading journal nodes: %w", err)
			}
			var hash journal.Hash
			copy(hash[:], h)
			out[journal.NodeID{Level: uint8(level), Index: uint64(idx)}] = hash
		}
		return rows.Err()
	}
	if len(leafIdx) > 0 {
		if err := read(`SELECT 0, idx, leaf_hash FROM journal_leaves WHERE idx = ANY($1::INT8[])`, leafIdx); err != nil {
			return nil, err
		}
	}
	if len(levels) > 0 {
		if err := read(`SELECT n.level, n.idx, n.hash FROM journal_nodes AS n
			JOIN unnest($1::INT8[], $2::INT8[]) AS q (level, idx) ON n.level = q.level AND n.idx = q.idx`, levels, idxs); err != nil {
			return nil, err
		}
	}
	for _, id := range ids {
		if _, ok := out[id]; !ok {
			return nil, fmt.Errorf("journal node %v is missing: the journal tables are incomplete", id)
		}
	}
	return out, nil
}

// frontier rebuilds the compact range of the tree of size leaves from stored nodes.
func frontier(ctx context.Context, q querier, size uint64) (*journal.Frontier, error) {
	ids := journal.FrontierIDs(size)
	nodes, err := readNodes(ctx, q, ids)
	if err != nil {
		return nil, err
	}
	hs := make([]journal.Hash, len(ids))
	for i, id := range ids {
		hs[i] = nodes[id]
	}
	return journal.NewFrontier(size, hs)
}

// entries reads transactions with their postings in posting order, in the order of ids, and
// their accounts through accounts (which may be nil). Transactions without postings are left out
// (the ledger never writes one).
func entries(ctx context.Context, q querier, ids []string, accounts *accountCache) ([]journal.Entry, error) {
	rows, err := q.Query(ctx, `
		SELECT t.id, t.kind, t.principal_id, t.request_id, t.created_at, t.reverses,
		       p.account_id, p.currency, p.amount::TEXT
		FROM ledger_transactions AS t
		JOIN ledger_postings AS p ON p.transaction_id = t.id
		WHERE t.id = ANY($1::UUID[])
		ORDER BY t.id, p.n`, ids)
	if err != nil {
		return nil, fmt.Errorf("reading transactions to seal: %w", err)
	}
	defer rows.Close()
	byID := make(map[string]*journal.Entry, len(ids))
	type ref struct {
		e       *journal.Entry
		n       int // index in e.Postings
		account string
	}
	var refs []ref // every posting's account
	var accountIDs []string
	var (
		id, kind, principal, request, accountID, currency, amount string
		reverses                                                  *string
		createdAt                                                 time.Time
	)
	for rows.Next() {
		if err := rows.Scan(&id, &kind, &principal, &request, &createdAt, &reverses, &accountID, &currency, &amount); err != nil {
			return nil, fmt.Errorf("reading transactions to seal: %w", err)
		}
		e := byID[id]
		if e == nil {
			e = &journal.Entry{TransactionID: id, CreatedAt: createdAt.UTC(), Kind: kind, IdempotencyKey: journal.IdempotencyKey(principal, request)}
			if reverses != nil {
				e.Reverses = *reverses
			}
			byID[id] = e
		}
		d, err := parseAmount(amount)
		if err != nil {
			return nil, fmt.Errorf("transaction %s: %w", id, err)
		}
		e.Postings = append(e.Postings, journal.Posting{Currency: currency, Amount: d})
		refs = append(refs, ref{e, len(e.Postings) - 1, accountID})
		accountIDs = append(accountIDs, accountID)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading transactions to seal: %w", err)
	}
	rows.Close()
	accts, err := accounts.byIDs(ctx, q, accountIDs)
	if err != nil {
		return nil, fmt.Errorf("reading transactions to seal: %w", err)
	}
	for _, r := range refs {
		a, ok := accts[r.account]
		if !ok {
			return nil, fmt.Errorf("reading transactions to seal: transaction %s posts to account %s, which does not exist", r.e.TransactionID, r.account)
		}
		r.e.Postings[r.n].Account, r.e.Postings[r.n].AccountType = a.address, a.typ
	}
	out := make([]journal.Entry, 0, len(ids))
	for _, id := range ids {
		if e := byID[id]; e != nil {
			out = append(out, *e)
		}
	}
	return out, nil
}

// isUniqueViolation reports whether err is a unique violation (23505).
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// checkTxID checks a transaction id argument.
func checkTxID(id string) error { return ledger.CheckID("transaction_id", id) }

var timeZero time.Time
