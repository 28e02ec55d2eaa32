package postgres

import (
	"bytes"
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/ledger"
)

// Payout moves at most the available balance from the contributor's account to payout
// clearing, as ledger.PlanPayout plans it. The balance is read and the payout written in one
// SERIALIZABLE transaction, so two concurrent payouts cannot both spend the same balance (write
// skew): one of them is retried and then sees the other.
func (s *Store) Payout(ctx context.Context, req ledger.PayoutRequest) (ledger.PayoutResult, error) {
	if err := ledger.ValidatePayout(req, s.scale); err != nil {
		return ledger.PayoutResult{}, err
	}
	account := ledger.ContributorAccount(req.ContributorID)
	if err := s.ensureAccounts(ctx, s.pool, "contributor_id", account, ledger.PayoutClearingAccount); err != nil {
		return ledger.PayoutResult{}, err
	}
	hash := ledger.HashPayout(req)
	var res ledger.PayoutResult
	err := s.serializable(ctx, "paying out", func(ctx context.Context, tx pgx.Tx) error {
		res = ledger.PayoutResult{}
		if prev, err := txByKey(ctx, tx, req.ContributorID, ledger.KindPayout, req.RequestID); err != nil {
			return err
		} else if prev != nil {
			if !bytes.Equal(prev.PayloadHash, hash) {
				return conflictErr("request_id", req.RequestID, prev.ID)
			}
			p, err := payoutFrom(*prev)
			res = ledger.PayoutResult{Payout: p, Replayed: true}
			return err
		}
		// Stamped before the balance read: a sealer that fences past the stamp meanwhile
		// conflicts with this transaction (balances.go).
		now, err := s.fencedClock(ctx, tx)
		if err != nil {
			return err
		}
		sums, err := sumAccount(ctx, tx, account, time.Time{})
		if err != nil {
			return err
		}
		if s.testHookBalanceRead != nil {
			s.testHookBalanceRead()
		}
		balance := sums[req.Currency].Neg() // credit-normal
		plan, err := ledger.PlanPayout(req, balance)
		if err != nil {
			return err
		}
		requested := "all"
		if req.Amount != nil {
			requested = req.Amount.String()
		}
		p := ledger.Payout{
			TransactionID: uuid.NewString(), ContributorID: req.ContributorID, RequestID: req.RequestID,
			Currency: req.Currency, Amount: plan.Amount, Remaining: plan.Remaining, CreatedAt: now,
		}
		ok, err := s.insertTx(ctx, tx, now, newTx{
			id: p.TransactionID, kind: ledger.KindPayout, principal: req.ContributorID, request: req.RequestID, hash: hash,
			meta:     meta{Currency: req.Currency, Amount: plan.Amount.String(), Requested: requested, Remaining: plan.Remaining.String()},
			postings: plan.Postings,
		})
		if err != nil {
			return err
		}
		if !ok {
			return errConcurrentKey
		}
		res = ledger.PayoutResult{Payout: p}
		return nil
	})
	if err != nil {
		return ledger.PayoutResult{}, err
	}
	return res, nil
}

func payoutFrom(t storedTx) (ledger.Payout, error) {
	p := ledger.Payout{
		TransactionID: t.ID, ContributorID: t.PrincipalID, RequestID: t.RequestID,
		Currency: t.meta.Currency, CreatedAt: t.CreatedAt,
	}
	var err error
	if p.Amount, err = decimal.NewFromString(t.meta.Amount); err != nil {
		return p, err
	}
	p.Remaining, err = decimal.NewFromString(t.meta.Remaining)
	return p, err
}
