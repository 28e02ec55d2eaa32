package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger"
)

// ReleaseEscrow records the identity's owner and moves its escrow to the owner in one
// transaction, as ledger.PlanEscrowRelease plans it. Usage reports read the owners inside their
// own transactions, so under SERIALIZABLE a report either credits the escrow before the release
// (and the release moves that credit too) or credits the contributor after it: nothing is
// stranded in a released escrow.
func (s *Store) ReleaseEscrow(ctx context.Context, req ledger.EscrowReleaseRequest) (ledger.EscrowRelease, error) {
	if err := ledger.CheckIdentityKey("identity_key", req.IdentityKey); err != nil {
		return ledger.EscrowRelease{}, err
	}
	if err := ledger.CheckID("contributor_id", req.ContributorID); err != nil {
		return ledger.EscrowRelease{}, err
	}
	escrow := ledger.EscrowAccount(req.IdentityKey)
	account := ledger.ContributorAccount(req.ContributorID)
	if err := s.ensureAccounts(ctx, s.pool, "contributor_id", account, escrow); err != nil {
		return ledger.EscrowRelease{}, err
	}
	var res ledger.EscrowRelease
	err := s.serializable(ctx, "releasing escrow", func(ctx context.Context, tx pgx.Tx) error {
		res = ledger.EscrowRelease{IdentityKey: req.IdentityKey, ContributorID: req.ContributorID}
		var owner string
		var verifiedAt time.Time
		err := tx.QueryRow(ctx, `SELECT contributor_id, verified_at FROM ledger_identity_owners WHERE identity_key = $1`, req.IdentityKey).Scan(&owner, &verifiedAt)
		switch {
		case err == nil && owner != req.ContributorID:
			return royalty.FieldErrorf(royalty.ECONFLICT, "identity_key", "identity %s belongs to another contributor", req.IdentityKey)
		case err == nil:
			res.VerifiedAt, res.Replayed = verifiedAt.UTC(), true
			prev, err := txByKey(ctx, tx, req.ContributorID, ledger.KindEscrowRelease, req.IdentityKey)
			if err != nil || prev == nil {
				return err
			}
			res.TransactionID, res.Released = prev.ID, released(prev.Postings, escrow)
			return nil
		case !isNoRows(err):
			return fmt.Errorf("reading the owner of %s: %w", req.IdentityKey, err)
		}

		now, err := s.fencedClock(ctx, tx)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `
			INSERT INTO ledger_identity_owners (identity_key, contributor_id, verified_at) VALUES ($1, $2, $3)
			ON CONFLICT (identity_key) DO NOTHING`, req.IdentityKey, req.ContributorID, now)
		if err != nil {
			return fmt.Errorf("recording the owner of %s: %w", req.IdentityKey, err)
		}
		if tag.RowsAffected() == 0 {
			return errConcurrentKey
		}
		res.VerifiedAt = now
		sums, err := sumAccount(ctx, tx, escrow, time.Time{})
		if err != nil {
			return err
		}
		balances := make(map[string]decimal.Decimal, len(sums))
		for cur, sum := range sums {
			balances[cur] = sum.Neg() // an escrow is credit-normal
		}
		plan, err := ledger.PlanEscrowRelease(req, balances)
		if err != nil || len(plan.Postings) == 0 {
			return err
		}
		id := uuid.NewString()
		ok, err := s.insertTx(ctx, tx, now, newTx{
			id: id, kind: ledger.KindEscrowRelease, principal: req.ContributorID, request: req.IdentityKey,
			hash: ledger.HashEscrowRelease(req.IdentityKey, req.ContributorID),
			meta: meta{IdentityKey: req.IdentityKey, ContributorID: req.ContributorID}, postings: plan.Postings,
		})
		if err != nil {
			return err
		}
		if !ok {
			return errConcurrentKey
		}
		res.TransactionID, res.Released = id, plan.Released
		return nil
	})
	if err != nil {
		return ledger.EscrowRelease{}, err
	}
	return res, nil
}

// released lists what left the escrow, per currency.
func released(postings []ledger.Posting, escrow string) []ledger.Money {
	var out []ledger.Money
	for _, p := range postings {
		if p.Account == escrow {
			out = append(out, ledger.Money{Amount: p.Amount, Currency: p.Currency})
		}
	}
	return out
}
