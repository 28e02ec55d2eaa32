package ledger

import (
	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
)

// ValidatePayout checks every field of a payout request against the ledger scale: a contributor
// id, a request id, a currency, and an amount, when given, that is positive, within the scale and
// in whole minor units of the currency. Errors are EINVALID and name the field.
func ValidatePayout(req PayoutRequest, scale int32) error {
	if err := CheckID("contributor_id", req.ContributorID); err != nil {
		return err
	}
	if err := CheckRequestID("request_id", req.RequestID); err != nil {
		return err
	}
	if _, err := ParseCurrency("currency", req.Currency); err != nil {
		return err
	}
	if req.Amount != nil {
		a := *req.Amount
		if a.Sign() <= 0 {
			return royalty.FieldErrorf(royalty.EINVALID, "amount", "must be positive, got %s", a)
		}
		if err := CheckAmount("amount", a, scale); err != nil {
			return err
		}
		minor := MinorUnitScale(req.Currency)
		if !a.Equal(a.Truncate(minor)) {
			return royalty.FieldErrorf(royalty.EINVALID, "amount", "must be in whole minor units of %s (at most %d decimals), got %s", req.Currency, minor, a)
		}
	}
	return nil
}

// PayoutPlan is what a payout books.
type PayoutPlan struct {
	// Amount is what leaves the contributor's account: positive, in whole minor units.
	Amount decimal.Decimal
	// Remaining is what stays in the account: the balance less Amount, never negative.
	Remaining decimal.Decimal
	// Postings debit the contributor's account and credit payout clearing, in that order.
	Postings []Posting
}

// PlanPayout plans a payout of a validated request (ValidatePayout) from balance, the
// contributor's balance in the request's currency (in the account's normal direction: what it
// is owed), read in the transaction that books the payout. A payout takes at most Available:
// the balance rounded down to the currency's minor unit; the fraction of a minor unit below it
// stays in the account. Without an amount it takes all of Available.
//
// It returns EPRECONDITION naming "amount" when the amount asked for is more than Available
// (insufficient funds), and EPRECONDITION when no amount was asked for and less than one minor
// unit is available.
func PlanPayout(req PayoutRequest, balance decimal.Decimal) (PayoutPlan, error) {
	available := Available(balance, req.Currency)
	amount := available
	if req.Amount != nil {
		amount = *req.Amount
		if amount.GreaterThan(available) {
			return PayoutPlan{}, royalty.FieldErrorf(royalty.EPRECONDITION, "amount", "insufficient funds: %s %s requested, %s %s available (balance %s)",
				amount, req.Currency, available, req.Currency, balance)
		}
	} else if available.Sign() <= 0 {
		return PayoutPlan{}, royalty.Errorf(royalty.EPRECONDITION, "nothing to pay out: the balance is %s %s, less than one minor unit", balance, req.Currency)
	}
	return PayoutPlan{
		Amount:    amount,
		Remaining: balance.Sub(amount),
		Postings: []Posting{
			{Account: ContributorAccount(req.ContributorID), Type: AccountContributor, Currency: req.Currency, Amount: amount},
			{Account: PayoutClearingAccount, Type: AccountPayoutClearing, Currency: req.Currency, Amount: amount.Neg()},
		},
	}, nil
}
