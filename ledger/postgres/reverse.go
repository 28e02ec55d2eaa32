package postgres

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger"
)

// ReverseUsage books the opposite of a usage report with a reason.
//
// The reversal negates every posting of the report, with one change: a credit that went to an
// identity's escrow is taken back from the identity's owner when the escrow has since been
// released, because the money moved with the release (the escrow would otherwise go negative
// forever and the contributor keep a refunded royalty). A reversal that would leave a
// contributor or an escrow with a negative balance — the money was already paid out — is
// refused with EPRECONDITION naming the shortfall; the provider must settle it outside the
// ledger. So no contributor balance is ever negative.
//
// Those rules are ledger.PlanReversal's and ledger.ReversalPlan.CheckCovered's: this reads
// their inputs (the report, the reversal already booked under its key, the owners of its
// identities, the balances of the accounts the plan debits) in one SERIALIZABLE transaction and
// writes the plan in it.
func (s *Store) ReverseUsage(ctx context.Context, req ledger.ReversalRequest) (ledger.ReversalResult, error) {
	if err := ledger.CheckID("provider_id", req.ProviderID); err != nil {
		return ledger.ReversalResult{}, err
	}
	switch {
	case req.TransactionID != "" && req.RequestID != "":
		return ledger.ReversalResult{}, royalty.FieldErrorf(royalty.EINVALID, "transaction_id", "give transaction_id or request_id, not both")
	case req.TransactionID != "":
		if err := ledger.CheckID("transaction_id", req.TransactionID); err != nil {
			return ledger.ReversalResult{}, err
		}
	case req.RequestID != "":
		if err := ledger.CheckRequestID("request_id", req.RequestID); err != nil {
			return ledger.ReversalResult{}, err
		}
	default:
		return ledger.ReversalResult{}, royalty.FieldErrorf(royalty.EINVALID, "transaction_id", "required (or request_id)")
	}
	if err := ledger.CheckReason("reason", req.Reason); err != nil {
		return ledger.ReversalResult{}, err
	}
	var res ledger.ReversalResult
	err := s.serializable(ctx, "reversing usage", func(ctx context.Context, tx pgx.Tx) error {
		res = ledger.ReversalResult{}
		var txs []storedTx
		var err error
		if req.TransactionID != "" {
			txs, err = queryTxs(ctx, tx, `WHERE id = $1 AND principal_id = $2`, req.TransactionID, req.ProviderID)
		} else {
			txs, err = queryTxs(ctx, tx, `WHERE principal_id = $1 AND kind = 'usage' AND request_id = $2`, req.ProviderID, req.RequestID)
		}
		if err != nil {
			return err
		}
		if len(txs) == 0 {
			// The same answer for an id that does not exist and for another provider's report.
			if req.TransactionID != "" {
				return royalty.FieldErrorf(royalty.ENOTFOUND, "transaction_id", "no usage report %q of this provider", req.TransactionID)
			}
			return royalty.FieldErrorf(royalty.ENOTFOUND, "request_id", "no usage report %q of this provider", req.RequestID)
		}
		orig := txs[0]
		in := ledger.ReversalInput{Original: orig.Transaction, Reason: req.Reason}
		keys := make([]string, len(orig.meta.Credits))
		for i, c := range orig.meta.Credits {
			in.Credits = append(in.Credits, ledger.CreditRef{PostingIndex: c.N, IdentityKey: c.IdentityKey})
			keys[i] = c.IdentityKey
		}
		prev, err := txByKey(ctx, tx, req.ProviderID, ledger.KindReversal, orig.ID)
		if err != nil {
			return err
		}
		if prev != nil {
			in.Previous = &ledger.PriorReversal{TransactionID: prev.ID, Reason: prev.meta.Reason, PayloadHash: prev.PayloadHash}
		} else if in.Owners, err = identityOwners(ctx, tx, keys); err != nil {
			return err
		}
		plan, err := ledger.PlanReversal(in)
		if err != nil {
			return err
		}
		if plan.Replayed {
			return reversalResult(orig, *prev, true, &res)
		}
		balances, err := debitedBalances(ctx, tx, plan.Debits)
		if err != nil {
			return err
		}
		if err := plan.CheckCovered(balances); err != nil {
			return err
		}
		credits := make([]creditMeta, len(plan.Credits))
		for i, c := range plan.Credits {
			credits[i] = creditMeta{N: c.PostingIndex, IdentityKey: c.IdentityKey, Contributor: c.ContributorID}
		}
		now, err := s.fencedClock(ctx, tx)
		if err != nil {
			return err
		}
		rev := newTx{
			id: uuid.NewString(), kind: ledger.KindReversal, principal: req.ProviderID, request: orig.ID,
			reverses: orig.ID, hash: plan.PayloadHash, meta: meta{Reason: req.Reason, Credits: credits, Currency: orig.meta.Currency},
			postings: plan.Postings,
		}
		ok, err := s.insertTx(ctx, tx, now, rev)
		if err != nil {
			return err
		}
		if !ok {
			return errConcurrentKey
		}
		stored := storedTx{Transaction: ledger.Transaction{ID: rev.id, Kind: rev.kind, CreatedAt: now, PrincipalID: rev.principal,
			RequestID: rev.request, PayloadHash: rev.hash, Reverses: orig.ID, Postings: rev.postings}, meta: rev.meta}
		return reversalResult(orig, stored, false, &res)
	})
	if err != nil {
		return ledger.ReversalResult{}, err
	}
	return res, nil
}

func reversalResult(orig, rev storedTx, replayed bool, res *ledger.ReversalResult) error {
	u, err := usageFrom(orig.Transaction, orig.meta)
	if err != nil {
		return err
	}
	u.Reversal = &ledger.Reversal{TransactionID: rev.ID, Reason: rev.meta.Reason, CreatedAt: rev.CreatedAt}
	*res = ledger.ReversalResult{Usage: u, Postings: rev.Postings, Replayed: replayed}
	return nil
}

// debitedBalances reads the balances, in their normal direction, of the accounts a plan debits.
func debitedBalances(ctx context.Context, q querier, debits []ledger.Debit) (map[ledger.AccountCurrency]decimal.Decimal, error) {
	balances := map[ledger.AccountCurrency]decimal.Decimal{}
	read := map[string]bool{}
	for _, d := range debits {
		if read[d.Account] {
			continue
		}
		read[d.Account] = true
		sums, err := sumAccount(ctx, q, d.Account, time.Time{})
		if err != nil {
			return nil, err
		}
		for cur, sum := range sums {
			if !d.Type.DebitNormal() {
				sum = sum.Neg()
			}
			balances[ledger.AccountCurrency{Account: d.Account, Currency: cur}] = sum
		}
	}
	return balances, nil
}
