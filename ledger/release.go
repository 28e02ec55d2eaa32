package ledger

import (
	"fmt"
	"slices"

	"github.com/shopspring/decimal"
)

// ReleaseRef names what one escrow release moved in one currency: on a contributor's statement,
// the escrow_release entry of that transaction and currency.
type ReleaseRef struct {
	TransactionID string
	Currency      string
}

// AssignReleases tells which escrow entries each escrow release moved. escrow holds the entries
// of one identity's escrow account (any currencies) in the order they were booked, oldest
// first, with amounts in the escrow's normal direction: usage and feedback settlement credits
// positive, reversals of usage negative, releases negative. A release moves, per currency, the escrow's whole balance,
// and nothing but a reversal or a release takes money from an escrow (a reversal booked after a
// release is taken from the owner instead, see PlanReversal), so the entries a release moved are
// the usage credits and reversals in its currency booked since the previous release in that
// currency, and they sum exactly to what the release moved.
//
// The result maps each release, per currency, to the entries it moved, newest first (the order
// of a statement); a release that moved nothing maps to none, and entries booked after the last
// release (still waiting) are in no list. An entry of another kind, or a release that does not
// equal the sum of what it moved, is a broken invariant, returned as an error (not a
// *royalty.Error).
func AssignReleases(escrow []StatementEntry) (map[ReleaseRef][]StatementEntry, error) {
	out := map[ReleaseRef][]StatementEntry{}
	pending := map[string][]StatementEntry{}
	sums := map[string]decimal.Decimal{}
	for _, e := range escrow {
		switch e.Kind {
		case KindUsage, KindReversal, KindFeedbackSettlement: // a rater's credit from a pool, too
			pending[e.Currency] = append(pending[e.Currency], e)
			sums[e.Currency] = sums[e.Currency].Add(e.Amount)
		case KindEscrowRelease:
			moved := e.Amount.Neg()
			if sum := sums[e.Currency]; !sum.Equal(moved) {
				return nil, fmt.Errorf("escrow release %s moved %s %s but the escrow entries before it sum to %s", e.TransactionID, moved, e.Currency, sum)
			}
			group := pending[e.Currency]
			slices.Reverse(group)
			out[ReleaseRef{TransactionID: e.TransactionID, Currency: e.Currency}] = group
			delete(pending, e.Currency)
			delete(sums, e.Currency)
		default:
			return nil, fmt.Errorf("transaction %s: a %s entry on an escrow account", e.TransactionID, e.Kind)
		}
	}
	return out, nil
}
