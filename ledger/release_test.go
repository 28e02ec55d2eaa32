package ledger_test

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/ledger"
)

// entry is an escrow statement entry for the tests of AssignReleases.
func entry(tx string, kind ledger.Kind, cur, amount string) ledger.StatementEntry {
	return ledger.StatementEntry{TransactionID: tx, Kind: kind, Currency: cur, Amount: decimal.RequireFromString(amount)}
}

func ids(es []ledger.StatementEntry) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.TransactionID)
	}
	return out
}

func TestAssignReleases(t *testing.T) {
	type want map[ledger.ReleaseRef][]string
	for _, tc := range []struct {
		name    string
		escrow  []ledger.StatementEntry
		want    want
		wantErr bool
	}{
		{name: "nothing", want: want{}},
		{name: "credits still waiting", escrow: []ledger.StatementEntry{
			entry("u1", ledger.KindUsage, "EUR", "1.5"),
		}, want: want{}},
		{name: "two currencies and a reversal before the release", escrow: []ledger.StatementEntry{
			entry("u1", ledger.KindUsage, "EUR", "1.5"),
			entry("u2", ledger.KindUsage, "USD", "0.25"),
			entry("u3", ledger.KindUsage, "EUR", "0.125"),
			entry("r1", ledger.KindReversal, "EUR", "-1.5"),
			entry("rel", ledger.KindEscrowRelease, "EUR", "-0.125"),
			entry("rel", ledger.KindEscrowRelease, "USD", "-0.25"),
		}, want: want{
			{TransactionID: "rel", Currency: "EUR"}: {"r1", "u3", "u1"},
			{TransactionID: "rel", Currency: "USD"}: {"u2"},
		}},
		{name: "a credit reversed to zero is still what the release explains", escrow: []ledger.StatementEntry{
			entry("u1", ledger.KindUsage, "EUR", "1"),
			entry("r1", ledger.KindReversal, "EUR", "-1"),
			entry("u2", ledger.KindUsage, "EUR", "2"),
			entry("rel", ledger.KindEscrowRelease, "EUR", "-2"),
		}, want: want{{TransactionID: "rel", Currency: "EUR"}: {"u2", "r1", "u1"}}},
		{name: "two releases split the history; later credits wait", escrow: []ledger.StatementEntry{
			entry("u1", ledger.KindUsage, "EUR", "1"),
			entry("rel1", ledger.KindEscrowRelease, "EUR", "-1"),
			entry("u2", ledger.KindUsage, "EUR", "2"),
			entry("u3", ledger.KindUsage, "USD", "3"),
			entry("rel2", ledger.KindEscrowRelease, "EUR", "-2"),
			entry("u4", ledger.KindUsage, "EUR", "4"),
		}, want: want{
			{TransactionID: "rel1", Currency: "EUR"}: {"u1"},
			{TransactionID: "rel2", Currency: "EUR"}: {"u2"},
		}},
		{name: "a release that does not match its credits", escrow: []ledger.StatementEntry{
			entry("u1", ledger.KindUsage, "EUR", "1"),
			entry("rel", ledger.KindEscrowRelease, "EUR", "-0.5"),
		}, wantErr: true},
		{name: "a release in a currency without credits", escrow: []ledger.StatementEntry{
			entry("u1", ledger.KindUsage, "EUR", "1"),
			entry("rel", ledger.KindEscrowRelease, "USD", "-1"),
		}, wantErr: true},
		{name: "a payout on an escrow", escrow: []ledger.StatementEntry{
			entry("p1", ledger.KindPayout, "EUR", "-1"),
		}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ledger.AssignReleases(tc.escrow)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("AssignReleases = %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("AssignReleases = %v, want %v", got, tc.want)
			}
			for ref, w := range tc.want {
				if g := ids(got[ref]); !slices.Equal(g, w) {
					t.Errorf("%v released %v, want %v", ref, g, w)
				}
			}
		})
	}
}

// TestAssignReleasesProperty books random escrow histories the way the ledger does — usage
// credits, reversals (from the escrow before a release, from the owner after it, as
// PlanReversal plans them) and releases planned by PlanEscrowRelease — and checks that every
// release is explained by exactly the entries it moved: they sum to the release per currency,
// no entry is assigned twice, and only entries still waiting are left out.
func TestAssignReleasesProperty(t *testing.T) {
	currencies := []string{"EUR", "USD", "JPY"}
	for seed := uint64(1); seed <= 300; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		var escrow []ledger.StatementEntry
		balances := map[string]decimal.Decimal{}
		type credit struct {
			id, cur  string
			amount   decimal.Decimal
			released bool
			reversed bool
		}
		var credits []*credit
		releases := map[ledger.ReleaseRef]decimal.Decimal{}
		at := time.Unix(0, 0)
		for op := 0; op < 1+rng.IntN(60); op++ {
			at = at.Add(time.Second)
			switch r := rng.IntN(10); {
			case r < 6: // a usage credit to the escrow
				c := &credit{id: "u" + strconv.Itoa(op), cur: currencies[rng.IntN(len(currencies))],
					amount: decimal.New(1+rng.Int64N(1_000_000), -int32(rng.IntN(9)))}
				credits = append(credits, c)
				e := entry(c.id, ledger.KindUsage, c.cur, c.amount.String())
				e.CreatedAt = at
				escrow = append(escrow, e)
				balances[c.cur] = balances[c.cur].Add(c.amount)
			case r < 8 && len(credits) > 0: // a reversal of an earlier credit
				c := credits[rng.IntN(len(credits))]
				if c.reversed {
					continue
				}
				c.reversed = true
				if c.released {
					continue // taken from the owner's account, not the escrow
				}
				e := entry("r"+strconv.Itoa(op), ledger.KindReversal, c.cur, c.amount.Neg().String())
				e.CreatedAt = at
				escrow = append(escrow, e)
				balances[c.cur] = balances[c.cur].Sub(c.amount)
			default: // a release of the whole escrow
				plan, err := ledger.PlanEscrowRelease(ledger.EscrowReleaseRequest{IdentityKey: "github:1", ContributorID: bob}, balances)
				if err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				id := "rel" + strconv.Itoa(op)
				for _, m := range plan.Released {
					e := entry(id, ledger.KindEscrowRelease, m.Currency, m.Amount.Neg().String())
					e.CreatedAt = at
					escrow = append(escrow, e)
					releases[ledger.ReleaseRef{TransactionID: id, Currency: m.Currency}] = m.Amount
					balances[m.Currency] = decimal.Zero
				}
				for _, c := range credits {
					c.released = true
				}
			}
		}
		got, err := ledger.AssignReleases(escrow)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if len(got) != len(releases) {
			t.Fatalf("seed %d: %d releases explained, want %d", seed, len(got), len(releases))
		}
		seen := map[string]bool{}
		for ref, amount := range releases {
			sum := decimal.Zero
			for i, e := range got[ref] {
				if e.Currency != ref.Currency || (e.Kind != ledger.KindUsage && e.Kind != ledger.KindReversal) {
					t.Fatalf("seed %d: %v released %+v", seed, ref, e)
				}
				if i > 0 && got[ref][i-1].CreatedAt.Before(e.CreatedAt) {
					t.Fatalf("seed %d: %v released entries not newest first", seed, ref)
				}
				if seen[e.TransactionID] {
					t.Fatalf("seed %d: %s released twice", seed, e.TransactionID)
				}
				seen[e.TransactionID] = true
				sum = sum.Add(e.Amount)
			}
			if !sum.Equal(amount) {
				t.Fatalf("seed %d: %v released entries sum to %s, the release moved %s", seed, ref, sum, amount)
			}
		}
		for _, e := range escrow {
			if e.Kind == ledger.KindEscrowRelease || seen[e.TransactionID] {
				continue
			}
			// Not released: it must still be waiting, booked after the last release in its currency.
			for ref := range releases {
				if ref.Currency == e.Currency && releasedAfter(escrow, ref.TransactionID, e.TransactionID) {
					t.Fatalf("seed %d: %s was booked before release %s but is not among what it released", seed, e.TransactionID, ref.TransactionID)
				}
			}
		}
	}
}

// releasedAfter reports whether the release rel comes after the entry id in escrow.
func releasedAfter(escrow []ledger.StatementEntry, rel, id string) bool {
	pos := map[string]int{}
	for i, e := range escrow {
		if _, ok := pos[e.TransactionID]; !ok {
			pos[e.TransactionID] = i
		}
	}
	return pos[rel] > pos[id]
}
