package ledger_test

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger"
)

const fbProvider = "7a3c5e0e-1b2d-4c5f-9a8b-0123456789ab"

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestPlanFeedbackPool(t *testing.T) {
	for _, tc := range []struct {
		name    string
		revenue string
		rate    string
		lineage []ledger.EpochWeight
		scale   int32
		total   string
		pools   map[string]string
	}{
		{"no lineage", "10", "0.05", nil, 12, "0", nil},
		{"zero rate", "10", "0", []ledger.EpochWeight{{Epoch: "2026-11", Weight: dec("1")}}, 12, "0", nil},
		{"one epoch", "10", "0.05", []ledger.EpochWeight{{Epoch: "2026-11", Weight: dec("1")}}, 12, "0.5", map[string]string{"2026-11": "0.5"}},
		{"two epochs by weight", "10", "0.05", []ledger.EpochWeight{{Epoch: "2026-11", Weight: dec("3")}, {Epoch: "2026-10", Weight: dec("1")}}, 12,
			"0.5", map[string]string{"2026-11": "0.375", "2026-10": "0.125"}},
		{"thirds at the quantum", "1", "0.03", []ledger.EpochWeight{{Epoch: "2026-09", Weight: dec("1")}, {Epoch: "2026-10", Weight: dec("1")}, {Epoch: "2026-11", Weight: dec("1")}}, 2,
			"0.03", map[string]string{"2026-09": "0.01", "2026-10": "0.01", "2026-11": "0.01"}},
		{"rounded total", "0.07", "0.1", []ledger.EpochWeight{{Epoch: "2026-11", Weight: dec("1")}}, 2, "0.01", map[string]string{"2026-11": "0.01"}},
		{"total below the quantum", "0.01", "0.1", []ledger.EpochWeight{{Epoch: "2026-11", Weight: dec("1")}}, 2, "0", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ledger.PlanFeedbackPool(fbProvider, "EUR", dec(tc.revenue), dec(tc.rate), tc.lineage, "2026-12-06", tc.scale)
			if err != nil {
				t.Fatal(err)
			}
			if !p.Total.Equal(dec(tc.total)) {
				t.Errorf("total %s, want %s", p.Total, tc.total)
			}
			if len(p.Pools) != len(tc.pools) {
				t.Fatalf("pools %v, want %v", p.Pools, tc.pools)
			}
			for _, c := range p.Pools {
				if !c.Amount.Equal(dec(tc.pools[c.Epoch])) {
					t.Errorf("pool %s got %s, want %s", c.Epoch, c.Amount, tc.pools[c.Epoch])
				}
				if c.Account != ledger.FeedbackPoolAccount(fbProvider, c.Epoch, "2026-12-06") {
					t.Errorf("pool account %s", c.Account)
				}
			}
			if len(p.Postings) > 0 {
				if err := ledger.CheckBalanced(p.Postings); err != nil {
					t.Error(err)
				}
				if p.Postings[0].Account != ledger.ProviderAccount(fbProvider) || !p.Postings[0].Amount.Equal(p.Total) {
					t.Errorf("first posting %+v, want the provider debited %s", p.Postings[0], p.Total)
				}
			}
		})
	}
}

func TestPlanFeedbackSettlement(t *testing.T) {
	pool := ledger.FeedbackPool{ProviderID: fbProvider, Epoch: "2026-11", Day: "2026-12-06"}
	owner := "11111111-2222-4333-8444-555555555555"
	in := ledger.SettlementInput{
		Pool:    pool,
		Balance: map[string]decimal.Decimal{"EUR": dec("1.00"), "USD": dec("0.10")},
		Raters: []ledger.RaterCount{
			{RaterID: "c", Events: 5000},               // capped at 100
			{RaterID: "a", Events: 100},                // 100
			{RaterID: "b", Events: 100},                // 100, claimed
			{RaterID: "s", Events: 90, Rejected: true}, // spam: 0
		},
		Cap:    100,
		Owners: map[string]string{ledger.RaterIdentityKey(fbProvider, "b"): owner},
	}
	p, err := ledger.PlanFeedbackSettlement(in, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := ledger.CheckBalanced(p.Postings); err != nil {
		t.Fatal(err)
	}
	if p.CountedTotal != 300 {
		t.Errorf("counted %d, want 300", p.CountedTotal)
	}
	want := map[string]map[string]string{
		"a": {"EUR": "0.34", "USD": "0.04"}, // thirds: the leftover quantum goes to the smallest key
		"b": {"EUR": "0.33", "USD": "0.03"},
		"c": {"EUR": "0.33", "USD": "0.03"},
		"s": {},
	}
	for _, r := range p.Raters {
		if len(r.Amounts) != len(want[r.RaterID]) {
			t.Errorf("rater %s got %v, want %v", r.RaterID, r.Amounts, want[r.RaterID])
		}
		for _, m := range r.Amounts {
			if !m.Amount.Equal(dec(want[r.RaterID][m.Currency])) {
				t.Errorf("rater %s got %s %s, want %s", r.RaterID, m.Amount, m.Currency, want[r.RaterID][m.Currency])
			}
		}
	}
	for _, q := range p.Postings {
		if q.Type == ledger.AccountContributor && q.Account != ledger.ContributorAccount(owner) {
			t.Errorf("contributor posting to %s", q.Account)
		}
		if q.Type == ledger.AccountIdentityEscrow && q.Account == ledger.EscrowAccount(ledger.RaterIdentityKey(fbProvider, "b")) {
			t.Errorf("claimed rater credited in escrow")
		}
	}
	// Settling the empty pool again books nothing.
	again, err := ledger.PlanFeedbackSettlement(ledger.SettlementInput{Pool: pool, Balance: map[string]decimal.Decimal{"EUR": decimal.Zero}, Raters: in.Raters, Cap: 100}, 2)
	if err != nil || len(again.Postings) != 0 {
		t.Errorf("second settlement: %v postings, err %v", again.Postings, err)
	}
	// Nobody counted: the pool goes to unattributed.
	none, err := ledger.PlanFeedbackSettlement(ledger.SettlementInput{Pool: pool, Balance: map[string]decimal.Decimal{"EUR": dec("1")}, Raters: []ledger.RaterCount{{RaterID: "s", Events: 3, Rejected: true}}, Cap: 10}, 2)
	if err != nil || len(none.Postings) != 2 || none.Postings[1].Account != ledger.UnattributedAccount {
		t.Errorf("settlement without counted raters: %+v, %v", none.Postings, err)
	}
	if _, err := ledger.PlanFeedbackSettlement(ledger.SettlementInput{Pool: pool, Balance: map[string]decimal.Decimal{"EUR": dec("-1")}, Cap: 10}, 2); err == nil {
		t.Error("a negative pool was settled")
	}
}

// TestFeedbackProperty books random usages into pools, reverses some before settlement, and
// settles every pool (twice): no money is created or lost per currency, no account but the
// providers' is negative, every rater's credit is its counted share of the pools within a
// quantum per pool, and the second settlement books nothing.
func TestFeedbackProperty(t *testing.T) {
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 7))
		scale := int32(2 + r.IntN(11))
		currencies := []string{"EUR", "USD", "JPY"}[:1+r.IntN(3)]
		rate := decimal.New(int64(r.IntN(1001)), -3)
		var lineage []ledger.EpochWeight
		for i := range 1 + r.IntN(3) {
			lineage = append(lineage, ledger.EpochWeight{Epoch: "2026-0" + strconv.Itoa(1+i), Weight: decimal.New(int64(1+r.IntN(50)), -int32(r.IntN(3)))})
		}
		balances := map[string]map[string]decimal.Decimal{} // account → currency → signed sum
		post := func(ps []ledger.Posting) {
			for _, p := range ps {
				if balances[p.Account] == nil {
					balances[p.Account] = map[string]decimal.Decimal{}
				}
				balances[p.Account][p.Currency] = balances[p.Account][p.Currency].Add(p.Amount)
			}
		}
		expectPool := map[string]decimal.Decimal{} // currency → what went into pools
		for i := range 1 + r.IntN(30) {
			cur := currencies[r.IntN(len(currencies))]
			rev := decimal.New(1+r.Int64N(1_000_000), -int32(r.IntN(int(scale)+1)))
			day := "2026-06-0" + strconv.Itoa(1+r.IntN(3))
			plan, err := ledger.PlanFeedbackPool(fbProvider, cur, rev, rate, lineage, day, scale)
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			exact := rev.Mul(rate)
			if d := plan.Total.Sub(exact).Abs(); d.GreaterThanOrEqual(decimal.New(1, -scale)) {
				t.Fatalf("seed %d report %d: total %s, exact %s", seed, i, plan.Total, exact)
			}
			if len(plan.Postings) > 0 {
				if err := ledger.CheckBalanced(plan.Postings); err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
			}
			post(plan.Postings)
			if r.IntN(5) == 0 { // reversed before settlement: the exact opposite
				neg := make([]ledger.Posting, len(plan.Postings))
				for j, p := range plan.Postings {
					p.Amount = p.Amount.Neg()
					neg[j] = p
				}
				post(neg)
				continue
			}
			expectPool[cur] = expectPool[cur].Add(plan.Total)
		}
		raters := []ledger.RaterCount{}
		for i := range r.IntN(6) {
			raters = append(raters, ledger.RaterCount{RaterID: "r" + strconv.Itoa(i), Events: int64(r.IntN(20)), Rejected: r.IntN(6) == 0})
		}
		capN := int64(1 + r.IntN(15))
		settled := map[string]decimal.Decimal{}
		credited := map[string]decimal.Decimal{}
		for _, e := range lineage {
			for _, day := range []string{"2026-06-01", "2026-06-02", "2026-06-03"} {
				acct := ledger.FeedbackPoolAccount(fbProvider, e.Epoch, day)
				for range 2 { // settling twice: the second finds the pool empty
					bal := map[string]decimal.Decimal{}
					for cur, v := range balances[acct] {
						bal[cur] = v.Neg()
					}
					plan, err := ledger.PlanFeedbackSettlement(ledger.SettlementInput{
						Pool: ledger.FeedbackPool{ProviderID: fbProvider, Epoch: e.Epoch, Day: day}, Balance: bal, Raters: raters, Cap: capN,
					}, scale)
					if err != nil {
						t.Fatalf("seed %d: %v", seed, err)
					}
					if len(plan.Postings) > 0 {
						if err := ledger.CheckBalanced(plan.Postings); err != nil {
							t.Fatalf("seed %d: %v", seed, err)
						}
					}
					post(plan.Postings)
					for _, m := range plan.Settled {
						settled[m.Currency] = settled[m.Currency].Add(m.Amount)
						// Each rater's credit is its counted share within one quantum.
						for _, rs := range plan.Raters {
							var got decimal.Decimal
							for _, a := range rs.Amounts {
								if a.Currency == m.Currency {
									got = a.Amount
								}
							}
							if plan.CountedTotal == 0 {
								continue
							}
							exact := m.Amount.Mul(decimal.NewFromInt(rs.Counted)).DivRound(decimal.NewFromInt(plan.CountedTotal), scale+6)
							if got.Sub(exact).Abs().GreaterThanOrEqual(decimal.New(1, -scale)) {
								t.Fatalf("seed %d: rater %s got %s of %s, exact %s", seed, rs.RaterID, got, m.Amount, exact)
							}
							credited[m.Currency] = credited[m.Currency].Add(got)
						}
					}
				}
			}
		}
		for cur, want := range expectPool {
			if !settled[cur].Equal(want) {
				t.Fatalf("seed %d: settled %s %s, pools received %s net of reversals", seed, settled[cur], cur, want)
			}
		}
		sums := map[string]decimal.Decimal{}
		for acct, byCur := range balances {
			a, err := ledger.ParseAccount("account", acct)
			if err != nil {
				t.Fatal(err)
			}
			for cur, v := range byCur {
				sums[cur] = sums[cur].Add(v)
				if a.Type == ledger.AccountFeedbackPool && v.Sign() != 0 {
					t.Fatalf("seed %d: pool %s left with %s %s", seed, acct, v, cur)
				}
				if a.Type != ledger.AccountProvider && v.Sign() > 0 {
					t.Fatalf("seed %d: %s has a debit balance %s %s", seed, acct, v, cur)
				}
			}
		}
		for cur, s := range sums {
			if s.Sign() != 0 {
				t.Fatalf("seed %d: %s sums to %s: money created or lost", seed, cur, s)
			}
		}
	}
}

func TestValidateFeedback(t *testing.T) {
	ok := ledger.FeedbackRequest{ProviderID: fbProvider, RequestID: "f1", RaterID: "u-42", Kind: ledger.FeedbackThumbsUp, ModelVersion: "chat-v7"}
	if err := ledger.ValidateFeedback("", ok); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		field string
		edit  func(*ledger.FeedbackRequest)
	}{
		{"events[0].rater_id", func(r *ledger.FeedbackRequest) { r.RaterID = "a@example.com" }},
		{"events[0].rater_id", func(r *ledger.FeedbackRequest) { r.RaterID = "a/b" }},
		{"events[0].rater_id", func(r *ledger.FeedbackRequest) { r.RaterID = "" }},
		{"events[0].kind", func(r *ledger.FeedbackRequest) { r.Kind = "like" }},
		{"events[0].model_version", func(r *ledger.FeedbackRequest) { r.ModelVersion = "" }},
		{"events[0].request_id", func(r *ledger.FeedbackRequest) { r.RequestID = "" }},
		{"events[0].provider_id", func(r *ledger.FeedbackRequest) { r.ProviderID = "x" }},
	} {
		req := ok
		tc.edit(&req)
		err := ledger.ValidateFeedback("events[0].", req)
		var e *royalty.Error
		if !errors.As(err, &e) || e.Code != royalty.EINVALID || e.Field != tc.field {
			t.Errorf("%s: got %v", tc.field, err)
		}
	}
	if key := ledger.RaterIdentityKey(fbProvider, "u-42"); ledger.CheckIdentityKey("k", key) != nil {
		t.Errorf("rater identity %s is not an identity key", key)
	} else if p, r, ok := ledger.ParseRaterIdentity(key); !ok || p != fbProvider || r != "u-42" {
		t.Errorf("ParseRaterIdentity(%s) = %s %s %v", key, p, r, ok)
	}
	if !bytesEq(ledger.HashFeedback(ok), ledger.HashFeedback(ok)) {
		t.Error("hash not deterministic")
	}
	other := ok
	other.Kind = ledger.FeedbackThumbsDown
	if bytesEq(ledger.HashFeedback(ok), ledger.HashFeedback(other)) {
		t.Error("hash ignores the kind")
	}
}

func bytesEq(a, b []byte) bool { return string(a) == string(b) }

func TestFeedbackPoolAddress(t *testing.T) {
	acct := ledger.FeedbackPoolAccount(fbProvider, "2026-11", "2026-12-06")
	a, err := ledger.ParseAccount("account", acct)
	if err != nil || a.Type != ledger.AccountFeedbackPool || a.PrincipalID != fbProvider {
		t.Fatalf("ParseAccount(%s) = %+v, %v", acct, a, err)
	}
	p, _ := ledger.ParseFeedbackPool("pool", acct)
	if got, want := p.Ends(time.Hour), time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Ends = %s, want %s", got, want)
	}
	for _, bad := range []string{"feedback_pool:x/2026-11/2026-12-06", ledger.FeedbackPoolAccount(fbProvider, "2026-13", "2026-12-06"), ledger.FeedbackPoolAccount(fbProvider, "2026-11", "2026-12-32")} {
		if _, err := ledger.ParseAccount("account", bad); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}
