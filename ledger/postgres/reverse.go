package postgres

import (
	"bytes"
	"context"
	"sort"
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
		if orig.Kind != ledger.KindUsage {
			return royalty.Errorf(royalty.EPRECONDITION, "transaction %s is a %s; only usage reports can be reversed", orig.ID, orig.Kind)
		}
		hash := ledger.HashReversal(orig.ID, req.Reason)
		if prev, err := txByKey(ctx, tx, req.ProviderID, ledger.KindReversal, orig.ID); err != nil {
			return err
		} else if prev != nil {
			if !bytes.Equal(prev.PayloadHash, hash) {
				return royalty.Errorf(royalty.EPRECONDITION, "usage %s was already reversed (transaction %s) with a different reason: %q", orig.ID, prev.ID, prev.meta.Reason)
			}
			return reversalResult(orig, *prev, true, &res)
		}

		postings, credits, err := reversalPostings(ctx, tx, orig)
		if err != nil {
			return err
		}
		if err := checkCovered(ctx, tx, postings); err != nil {
			return err
		}
		now := s.clock()
		rev := newTx{
			id: uuid.NewString(), kind: ledger.KindReversal, principal: req.ProviderID, request: orig.ID,
			reverses: orig.ID, hash: hash, meta: meta{Reason: req.Reason, Credits: credits, Currency: orig.meta.Currency},
			postings: postings,
		}
		ok, err := s.insertTx(ctx, tx, now, rev)
		if err != nil {
			return err
		}
		if !ok {
			return errConcurrentKey
		}
		stored := storedTx{Transaction: ledger.Transaction{ID: rev.id, Kind: rev.kind, CreatedAt: now, PrincipalID: rev.principal,
			RequestID: rev.request, PayloadHash: hash, Reverses: orig.ID, Postings: postings}, meta: rev.meta}
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

// reversalPostings negates the usage's postings, redirecting released escrow credits to the
// identity's owner, and maps the new postings to the identities behind them.
func reversalPostings(ctx context.Context, tx pgx.Tx, orig storedTx) ([]ledger.Posting, []creditMeta, error) {
	identityOf := map[int]string{}
	var keys []string
	for _, c := range orig.meta.Credits {
		identityOf[c.N] = c.IdentityKey
		keys = append(keys, c.IdentityKey)
	}
	owners, err := identityOwners(ctx, tx, keys)
	if err != nil {
		return nil, nil, err
	}
	postings := make([]ledger.Posting, len(orig.Postings))
	var credits []creditMeta
	for n, p := range orig.Postings {
		q := ledger.Posting{Account: p.Account, Type: p.Type, Currency: p.Currency, Amount: p.Amount.Neg()}
		if key, ok := identityOf[n]; ok {
			cm := creditMeta{N: n, IdentityKey: key}
			if p.Type == ledger.AccountIdentityEscrow {
				if owner, ok := owners[key]; ok {
					q.Account, q.Type = ledger.ContributorAccount(owner), ledger.AccountContributor
				}
			}
			if q.Type == ledger.AccountContributor {
				a, _ := ledger.ParseAccount("account", q.Account)
				cm.Contributor = a.PrincipalID
			}
			credits = append(credits, cm)
		}
		postings[n] = q
	}
	return postings, credits, nil
}

// checkCovered refuses postings that would leave a contributor or an escrow below zero.
func checkCovered(ctx context.Context, q querier, postings []ledger.Posting) error {
	type key struct{ account, currency string }
	debit := map[key]decimal.Decimal{}
	var order []key
	for _, p := range postings {
		if (p.Type == ledger.AccountContributor || p.Type == ledger.AccountIdentityEscrow) && p.Amount.Sign() > 0 {
			k := key{p.Account, p.Currency}
			if _, ok := debit[k]; !ok {
				order = append(order, k)
			}
			debit[k] = debit[k].Add(p.Amount)
		}
	}
	sort.Slice(order, func(i, j int) bool { return order[i].account < order[j].account })
	for _, k := range order {
		sums, err := sumAccount(ctx, q, k.account, time.Time{})
		if err != nil {
			return err
		}
		balance := sums[k.currency].Neg()
		if after := balance.Sub(debit[k]); after.Sign() < 0 {
			return royalty.Errorf(royalty.EPRECONDITION,
				"reversal would leave %s at %s %s: %s %s of it was already paid out or moved; settle the shortfall outside the ledger",
				k.account, after, k.currency, after.Neg(), k.currency)
		}
	}
	return nil
}
