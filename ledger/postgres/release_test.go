package postgres_test

import (
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/postgres"
)

// TestStatementExpandReleases books credits to an unclaimed identity in two currencies (one of
// them reversed before the claim), releases the escrow, then books a later credit and reverses
// a released credit: each escrow_release entry of the contributor's statement lists exactly the
// escrow entries it moved, with their evidence, summing to the release. With a frozen clock
// every transaction has the same instant and the release still comes after what it moved.
func TestStatementExpandReleases(t *testing.T) {
	for _, clock := range []string{"ticking", "frozen"} {
		t.Run(clock, func(t *testing.T) {
			e := newEnv(t, postgres.Config{DefaultRoyaltyRate: "1"})
			prov, alice := e.principal("provider"), e.principal("contributor")
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			e.store.Close()
			store, err := postgres.New(e.pool, nil, postgres.Config{DefaultRoyaltyRate: "1", Now: func() time.Time {
				if clock == "ticking" {
					now = now.Add(time.Second)
				}
				return now
			}})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			e.store = store

			post := func(id, revenue, currency string, shares ...any) ledger.Usage {
				t.Helper()
				req := usage(prov, id, revenue, shares...)
				req.Currency = currency
				r, err := store.PostUsage(e.ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				return r.Usage
			}
			reverse := func(u ledger.Usage) ledger.ReversalResult {
				t.Helper()
				r, err := store.ReverseUsage(e.ctx, ledger.ReversalRequest{ProviderID: prov, TransactionID: u.TransactionID, Reason: "refund"})
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			u1 := post("u1", "1", "USD", key(1), big.NewRat(1, 4))
			u2 := post("u2", "2", "EUR", key(1), big.NewRat(1, 2))
			u3 := post("u3", "4", "USD", key(1), big.NewRat(1, 2), key(2), big.NewRat(1, 4))
			r1 := reverse(u1) // before the claim: taken from the escrow
			post("other", "3", "USD", key(2), big.NewRat(1, 1))
			rel, err := store.ReleaseEscrow(e.ctx, ledger.EscrowReleaseRequest{IdentityKey: key(1), ContributorID: alice})
			if err != nil {
				t.Fatal(err)
			}
			u4 := post("u4", "8", "USD", key(1), big.NewRat(1, 8)) // after the claim: to alice
			r3 := reverse(u3)                                      // after the claim: taken from alice

			page, err := store.Statement(e.ctx, ledger.StatementQuery{Account: ledger.ContributorAccount(alice), ExpandReleases: true})
			if err != nil {
				t.Fatal(err)
			}
			credited := func(u ledger.Usage) decimal.Decimal { return u.Credits[0].Amount }
			want := map[string]struct {
				amount decimal.Decimal
				txs    []string
			}{
				"USD": {credited(u3), []string{r1.Usage.Reversal.TransactionID, u3.TransactionID, u1.TransactionID}},
				"EUR": {credited(u2), []string{u2.TransactionID}},
			}
			if frozen := clock == "frozen"; frozen {
				// Within one instant the order of the entries is the transaction ids'.
				for cur, w := range want {
					slices.Sort(w.txs)
					want[cur] = w
				}
			}
			seen := map[string]bool{}
			for _, en := range page.Entries {
				if en.Kind != ledger.KindEscrowRelease {
					if en.Released != nil {
						t.Errorf("%s entry %s has released entries", en.Kind, en.TransactionID)
					}
					continue
				}
				w, ok := want[en.Currency]
				if !ok || en.TransactionID != rel.TransactionID || en.IdentityKey != key(1) || !en.Amount.Equal(w.amount) {
					t.Fatalf("release entry %+v, want %s of %s", en, w.amount, en.Currency)
				}
				seen[en.Currency] = true
				var got []string
				sum := decimal.Zero
				for _, x := range en.Released {
					got = append(got, x.TransactionID)
					sum = sum.Add(x.Amount)
					if x.Currency != en.Currency || x.IdentityKey != key(1) {
						t.Errorf("released %+v: want %s of %s", x, en.Currency, key(1))
					}
					switch x.Kind {
					case ledger.KindUsage:
						if x.ModelID != "acme-chat" || len(x.Evidence) != 1 || x.Evidence[0].PostID != "post-"+key(1) || x.Evidence[0].IdentityKey != key(1) {
							t.Errorf("released usage %s without its evidence: %+v", x.TransactionID, x)
						}
					case ledger.KindReversal:
						if x.Reverses != u1.TransactionID || x.Reason != "refund" || !x.Amount.Equal(credited(u1).Neg()) {
							t.Errorf("released reversal %+v", x)
						}
					default:
						t.Errorf("released a %s entry", x.Kind)
					}
				}
				if clock == "frozen" {
					slices.Sort(got)
				}
				if !slices.Equal(got, w.txs) {
					t.Errorf("%s release explained by %v, want %v", en.Currency, got, w.txs)
				}
				if !sum.Equal(en.Amount) {
					t.Errorf("%s released entries sum to %s, the release moved %s", en.Currency, sum, en.Amount)
				}
			}
			if !seen["USD"] || !seen["EUR"] {
				t.Fatalf("statement %+v lacks a release entry per currency", page.Entries)
			}
			for _, en := range page.Entries {
				if en.TransactionID == u4.TransactionID || en.TransactionID == r3.Usage.Reversal.TransactionID {
					if en.Released != nil {
						t.Errorf("entry %s has released entries", en.TransactionID)
					}
				}
			}

			// A currency filter expands only that currency's release.
			page, err = store.Statement(e.ctx, ledger.StatementQuery{Account: ledger.ContributorAccount(alice), Currency: "EUR", ExpandReleases: true})
			if err != nil || len(page.Entries) != 1 || len(page.Entries[0].Released) != 1 || page.Entries[0].Released[0].TransactionID != u2.TransactionID {
				t.Fatalf("EUR statement = %+v, %v", page.Entries, err)
			}
			// Without the flag, and on the escrow's own statement, nothing is expanded.
			for _, q := range []ledger.StatementQuery{
				{Account: ledger.ContributorAccount(alice)},
				{Account: ledger.EscrowAccount(key(1)), ExpandReleases: true},
			} {
				page, err := store.Statement(e.ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, en := range page.Entries {
					if en.Released != nil {
						t.Errorf("%s: entry %s expanded", q.Account, en.TransactionID)
					}
				}
			}
			e.check()
		})
	}
}
