package ledger

import (
	"bytes"
	"slices"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
)

// CreditRef ties one posting of a transaction, by its index, to the identity whose words
// earned it: the identity credits of a usage and the postings of a reversal that take them back.
type CreditRef struct {
	PostingIndex int
	IdentityKey  string
	// ContributorID is the contributor whose account the posting is on, when it is on a
	// contributor's account (empty for an escrow).
	ContributorID string
}

// PriorReversal is the reversal already booked under a usage's reversal key.
type PriorReversal struct {
	TransactionID string
	Reason        string
	// PayloadHash is the reversal's stored payload hash (HashReversal of the usage and the
	// reason it was booked with).
	PayloadHash []byte
}

// ReversalInput is what PlanReversal needs, read in the transaction that will book the reversal.
type ReversalInput struct {
	// Original is the transaction to reverse as stored: its id, kind and postings in order.
	Original Transaction
	// Credits are the identity credits of Original (ContributorID is not read).
	Credits []CreditRef
	// Reason is the validated reason of the reversal (CheckReason).
	Reason string
	// Previous is the reversal already booked under the key (the provider, KindReversal and
	// Original.ID), or nil.
	Previous *PriorReversal
	// Owners maps the claimed identities among Credits' keys to their contributor now. It is
	// not read when Previous is set.
	Owners map[string]string
}

// Debit is money a plan takes from a credit-normal account that must not go below zero.
type Debit struct {
	Account  string
	Type     AccountType
	Currency string
	// Amount is positive: what the account's balance falls by.
	Amount decimal.Decimal
}

// AccountCurrency names one balance: an account in one currency.
type AccountCurrency struct {
	Account  string
	Currency string
}

// ReversalPlan is what a reversal books.
type ReversalPlan struct {
	// Replayed is true when Previous is this very reversal (same usage, same reason): nothing is
	// to be booked and the answer is the previous reversal. The other fields are then empty
	// except PayloadHash.
	Replayed bool
	// PayloadHash is HashReversal(Original.ID, Reason).
	PayloadHash []byte
	// Postings are the reversal's postings, one per posting of Original and in its order: the
	// original amount negated, on the original account except for a released escrow credit,
	// which is taken back from the identity's owner.
	Postings []Posting
	// Credits ties the postings that take back identity credits to their identities, in
	// posting order.
	Credits []CreditRef
	// Debits are the contributor and escrow accounts the reversal takes money from, summed per
	// account and currency, in address order. CheckCovered refuses the plan unless each
	// account's balance covers its debit.
	Debits []Debit
}

// PlanReversal plans the reversal of a usage report: the exact opposite of every posting, with
// one change — a credit that went to an identity's escrow is taken back from the identity's
// owner (Owners) when the escrow has since been released, because the money moved with the
// release (the escrow would otherwise go negative forever and the contributor keep a refunded
// royalty). Every plan balances per currency, since the original did.
//
// It returns EPRECONDITION when Original is not a usage (a reversal, payout or escrow release
// cannot be reversed) or when the usage was already reversed with a different reason; a
// Previous reversal with the same reason gives a Replayed plan. The plan must then pass
// CheckCovered against the balances of its Debits, read in the same transaction.
func PlanReversal(in ReversalInput) (ReversalPlan, error) {
	orig := in.Original
	if orig.Kind != KindUsage {
		return ReversalPlan{}, royalty.Errorf(royalty.EPRECONDITION, "transaction %s is a %s; only usage reports can be reversed", orig.ID, orig.Kind)
	}
	plan := ReversalPlan{PayloadHash: HashReversal(orig.ID, in.Reason)}
	if prev := in.Previous; prev != nil {
		if !bytes.Equal(prev.PayloadHash, plan.PayloadHash) {
			return ReversalPlan{}, royalty.Errorf(royalty.EPRECONDITION, "usage %s was already reversed (transaction %s) with a different reason: %q", orig.ID, prev.TransactionID, prev.Reason)
		}
		plan.Replayed = true
		return plan, nil
	}

	identityOf := make(map[int]string, len(in.Credits))
	for _, c := range in.Credits {
		identityOf[c.PostingIndex] = c.IdentityKey
	}
	plan.Postings = make([]Posting, len(orig.Postings))
	for n, p := range orig.Postings {
		q := Posting{Account: p.Account, Type: p.Type, Currency: p.Currency, Amount: p.Amount.Neg()}
		if key, ok := identityOf[n]; ok {
			c := CreditRef{PostingIndex: n, IdentityKey: key}
			if p.Type == AccountIdentityEscrow {
				if owner, ok := in.Owners[key]; ok {
					q.Account, q.Type = ContributorAccount(owner), AccountContributor
				}
			}
			if q.Type == AccountContributor {
				a, _ := ParseAccount("account", q.Account)
				c.ContributorID = a.PrincipalID
			}
			plan.Credits = append(plan.Credits, c)
		}
		plan.Postings[n] = q
	}
	plan.Debits = debits(plan.Postings)
	return plan, nil
}

// debits sums the positive postings to contributor, escrow and feedback pool accounts (a pool
// already settled cannot give back what it paid to raters) per account and
// currency, in address order (then currency order).
func debits(postings []Posting) []Debit {
	var out []Debit
	index := map[AccountCurrency]int{}
	for _, p := range postings {
		if (p.Type != AccountContributor && p.Type != AccountIdentityEscrow && p.Type != AccountFeedbackPool) || p.Amount.Sign() <= 0 {
			continue
		}
		k := AccountCurrency{p.Account, p.Currency}
		if i, ok := index[k]; ok {
			out[i].Amount = out[i].Amount.Add(p.Amount)
			continue
		}
		index[k] = len(out)
		out = append(out, Debit{Account: p.Account, Type: p.Type, Currency: p.Currency, Amount: p.Amount})
	}
	slices.SortStableFunc(out, func(a, b Debit) int {
		if c := strings.Compare(a.Account, b.Account); c != 0 {
			return c
		}
		return strings.Compare(a.Currency, b.Currency)
	})
	return out
}

// shortfallMessage is what a provider learns when its reversal is refused for want of funds:
// that, and what to do. Which contributor or escrow fell short, and by how much, is another
// principal's balance and payouts, so it is not said.
const shortfallMessage = "the reversal cannot be booked: part of what the report credited was already paid out or moved; settle it outside the ledger"

// CheckCovered refuses the plan with EPRECONDITION (shortfallMessage) when a debited account's
// balance does not cover its debit: the money was already paid out (or, for an escrow, moved),
// and the provider must settle the shortfall outside the ledger. So no contributor or escrow
// balance ever goes negative. balances holds the balance of every account of Debits in its
// normal direction, per currency; a missing balance is zero.
func (p ReversalPlan) CheckCovered(balances map[AccountCurrency]decimal.Decimal) error {
	for _, d := range p.Debits {
		balance := balances[AccountCurrency{d.Account, d.Currency}]
		if after := balance.Sub(d.Amount); after.Sign() < 0 {
			return royalty.Errorf(royalty.EPRECONDITION, shortfallMessage)
		}
	}
	return nil
}
