package ledger

import (
	"fmt"
	"slices"

	"github.com/shopspring/decimal"
)

// EscrowReleasePlan is what an escrow release books.
type EscrowReleasePlan struct {
	// Postings move the escrow to the contributor, per currency in code order: the escrow
	// debited its balance, then the contributor credited as much. None when the escrow is
	// empty: then nothing is booked.
	Postings []Posting
	// Released lists what moves, per currency in code order (positive amounts).
	Released []Money
}

// PlanEscrowRelease plans moving an identity's whole escrow to the contributor who verified it.
// escrow is the escrow account's balance per currency in its normal direction (what is waiting
// for the identity), read in the transaction that books the release. Each non-zero balance
// moves whole, so the escrow is left at zero in every currency; an empty escrow gives a plan
// without postings.
//
// An escrow is credit-normal and nothing but a reversal or a release takes money from it, both
// only what it holds: a negative balance is a broken invariant, returned as an internal error
// (not a *royalty.Error).
func PlanEscrowRelease(req EscrowReleaseRequest, escrow map[string]decimal.Decimal) (EscrowReleasePlan, error) {
	account := EscrowAccount(req.IdentityKey)
	currencies := make([]string, 0, len(escrow))
	for cur := range escrow {
		currencies = append(currencies, cur)
	}
	slices.Sort(currencies)
	var plan EscrowReleasePlan
	for _, cur := range currencies {
		amount := escrow[cur]
		switch amount.Sign() {
		case -1:
			return EscrowReleasePlan{}, fmt.Errorf("escrow %s has a debit balance of %s %s", account, amount.Neg(), cur)
		case 0:
			continue
		}
		plan.Postings = append(plan.Postings,
			Posting{Account: account, Type: AccountIdentityEscrow, Currency: cur, Amount: amount},
			Posting{Account: ContributorAccount(req.ContributorID), Type: AccountContributor, Currency: cur, Amount: amount.Neg()})
		plan.Released = append(plan.Released, Money{Amount: amount, Currency: cur})
	}
	return plan, nil
}
