package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/openroyalty/royalty/ledger"
)

// responseInsert accumulates the response texts of the usages a transaction books, for one
// multi-row insert into ledger_usage_responses in the same transaction.
type responseInsert struct {
	ids   []pgtype.UUID
	texts []string
}

func (b *responseInsert) add(txID pgtype.UUID, response string) {
	if response != "" {
		b.ids = append(b.ids, txID)
		b.texts = append(b.texts, response)
	}
}

const responseInsertSQL = `
	INSERT INTO ledger_usage_responses (transaction_id, response)
	SELECT transaction_id, response FROM unnest($1::UUID[], $2::TEXT[]) AS r (transaction_id, response)`

func (b *responseInsert) exec(ctx context.Context, tx pgx.Tx) error {
	if len(b.ids) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, responseInsertSQL, b.ids, b.texts)
	if err != nil {
		return fmt.Errorf("inserting usage responses: %w", err)
	}
	return nil
}

// UsageResponses returns the model responses of the usage reports among transactionIDs, by
// transaction id. Reports booked without a response (or before responses were stored) are
// absent. Errors: EINVALID for a malformed id.
func (s *Store) UsageResponses(ctx context.Context, transactionIDs []string) (map[string]string, error) {
	for _, id := range transactionIDs {
		if err := ledger.CheckID("transaction_id", id); err != nil {
			return nil, err
		}
	}
	out := make(map[string]string, len(transactionIDs))
	if len(transactionIDs) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT transaction_id::TEXT, response FROM ledger_usage_responses WHERE transaction_id = ANY($1::UUID[])`, transactionIDs)
	if err != nil {
		return nil, fmt.Errorf("reading usage responses: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, text string
		if err := rows.Scan(&id, &text); err != nil {
			return nil, fmt.Errorf("reading usage responses: %w", err)
		}
		out[id] = text
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading usage responses: %w", err)
	}
	return out, nil
}
