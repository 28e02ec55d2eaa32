package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/openroyalty/royalty/ledger"
)

// newTx is one transaction to insert.
type newTx struct {
	id, principal, request, reverses string
	kind                             ledger.Kind
	hash                             []byte
	meta                             meta
	postings                         []ledger.Posting
}

// insertTx inserts one transaction with its postings. It reports false, having inserted
// nothing, when the idempotency key is taken. The postings are checked to balance first: an
// unbalanced transaction is a bug and is never written.
func (s *Store) insertTx(ctx context.Context, tx pgx.Tx, now time.Time, t newTx) (bool, error) {
	if err := ledger.CheckBalanced(t.postings); err != nil {
		return false, fmt.Errorf("refusing to write %s transaction: %w", t.kind, err)
	}
	id, err := uuid.Parse(t.id)
	if err != nil {
		return false, fmt.Errorf("transaction id %q: %w", t.id, err)
	}
	var ins txInsert
	ins.add(pgUUID(id), t.kind, t.principal, t.request, t.hash, t.reverses, t.meta)
	inserted, err := ins.exec(ctx, tx, now)
	if err != nil || !inserted[t.id] {
		return false, err
	}
	posts := postingInsert{cache: &s.known}
	posts.add(pgUUID(id), t.postings)
	return true, posts.exec(ctx, tx, now)
}

// txByKey returns the transaction under an idempotency key, or nil.
func txByKey(ctx context.Context, q querier, principal string, kind ledger.Kind, request string) (*storedTx, error) {
	txs, err := queryTxs(ctx, q, `WHERE principal_id = $1 AND kind = $2 AND request_id = $3`, principal, string(kind), request)
	if err != nil || len(txs) == 0 {
		return nil, err
	}
	return &txs[0], nil
}
