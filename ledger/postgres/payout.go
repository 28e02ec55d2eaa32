package postgres

import (
	"bytes"
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger"
)

// Payout moves at most the available balance from the contributor's account to payout
// clearing. The balance is read and the payout written in one SERIALIZABLE transaction, so two
// concurrent payouts cannot both spend the same balance (write skew): one of them is retried and
// then sees the other.
func (s *Store) Payout(ctx context.Context, req ledger.PayoutRequest) (ledger.PayoutResult, error) {
	if err := validatePayout(req, s.scale); err != nil {
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
		sums, err := sumAccount(ctx, tx, account, time.Time{})
		if err != nil {
			return err
		}
		if s.testHookBalanceRead != nil {
			s.testHookBalanceRead()
		}
		balance := sums[req.Currency].Neg() // credit-normal
		available := ledger.Available(balance, req.Currency)
		amount := available
		if req.Amount != nil {
			amount = *req.Amount
			if amount.GreaterThan(available) {
				return royalty.FieldErrorf(royalty.EPRECONDITION, "amount", "insufficient funds: %s %s requested, %s %s available (balance %s)",
					amount, req.Currency, available, req.Currency, balance)
			}
		} else if available.Sign() <= 0 {
			return royalty.Errorf(royalty.EPRECONDITION, "nothing to pay out: the balance is %s %s, less than one minor unit", balance, req.Currency)
		}
		now := s.clock()
		requested := "all"
		if req.Amount != nil {
			requested = req.Amount.String()
		}
		p := ledger.Payout{
			TransactionID: uuid.NewString(), ContributorID: req.ContributorID, RequestID: req.RequestID,
			Currency: req.Currency, Amount: amount, Remaining: balance.Sub(amount), CreatedAt: now,
		}
		ok, err := s.insertTx(ctx, tx, now, newTx{
			id: p.TransactionID, kind: ledger.KindPayout, principal: req.ContributorID, request: req.RequestID, hash: hash,
			meta: meta{Currency: req.Currency, Amount: amount.String(), Requested: requested, Remaining: p.Remaining.String()},
			postings: []ledger.Posting{
				{Account: account, Type: ledger.AccountContributor, Currency: req.Currency, Amount: amount},
				{Account: ledger.PayoutClearingAccount, Type: ledger.AccountPayoutClearing, Currency: req.Currency, Amount: amount.Neg()},
			},
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

func validatePayout(req ledger.PayoutRequest, scale int32) error {
	if err := ledger.CheckID("contributor_id", req.ContributorID); err != nil {
		return err
	}
	if err := ledger.CheckRequestID("request_id", req.RequestID); err != nil {
		return err
	}
	if _, err := ledger.ParseCurrency("currency", req.Currency); err != nil {
		return err
	}
	if req.Amount != nil {
		a := *req.Amount
		if a.Sign() <= 0 {
			return royalty.FieldErrorf(royalty.EINVALID, "amount", "must be positive, got %s", a)
		}
		if err := ledger.CheckAmount("amount", a, scale); err != nil {
			return err
		}
		minor := ledger.MinorUnitScale(req.Currency)
		if !a.Equal(a.Truncate(minor)) {
			return royalty.FieldErrorf(royalty.EINVALID, "amount", "must be in whole minor units of %s (at most %d decimals), got %s", req.Currency, minor, a)
		}
	}
	return nil
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
