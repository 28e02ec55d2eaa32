package ledger_test

import (
	"errors"
	"math/big"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger"
)

// The tests of this file check the planners of the money movements other than usage
// (PlanReversal, PlanPayout, PlanEscrowRelease) without a database: table tests of their cases
// and randomised property tests (fixed seeds, so a failure repeats) of what every plan must
// satisfy.

const (
	usageID = "00000000-0000-4000-8000-0000000000a1"
	bob     = "00000000-0000-4000-8000-000000000003"
)

func ptr(x decimal.Decimal) *decimal.Decimal { return &x }

// wantError fails unless err is a *royalty.Error with the code, field and message.
func wantError(t *testing.T, err error, code, field, message string) {
	t.Helper()
	var e *royalty.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v, want a *royalty.Error with code %s", err, code)
	}
	if e.Code != code || e.Field != field || (message != "" && e.Message != message) {
		t.Fatalf("error code=%s field=%q message=%q, want code=%s field=%q message=%q", e.Code, e.Field, e.Message, code, field, message)
	}
}

// sums returns the sum of postings per currency.
func sums(postings []ledger.Posting) map[string]decimal.Decimal {
	out := map[string]decimal.Decimal{}
	for _, p := range postings {
		out[p.Currency] = out[p.Currency].Add(p.Amount)
	}
	return out
}

// normalBalances returns what postings add to each account's balance in its normal direction.
func normalBalances(postings []ledger.Posting) map[ledger.AccountCurrency]decimal.Decimal {
	out := map[ledger.AccountCurrency]decimal.Decimal{}
	for _, p := range postings {
		k := ledger.AccountCurrency{Account: p.Account, Currency: p.Currency}
		out[k] = out[k].Add(p.Normal())
	}
	return out
}

// --- payouts ---

func TestValidatePayout(t *testing.T) {
	ok := ledger.PayoutRequest{ContributorID: contributor, RequestID: "p1", Currency: "USD"}
	tests := []struct {
		name   string
		mutate func(*ledger.PayoutRequest)
		field  string // "" when valid
	}{
		{"everything available", func(*ledger.PayoutRequest) {}, ""},
		{"whole cents", func(r *ledger.PayoutRequest) { r.Amount = ptr(d("10.50")) }, ""},
		{"whole yen", func(r *ledger.PayoutRequest) { r.Currency, r.Amount = "JPY", ptr(d("1500")) }, ""},
		{"whole fils", func(r *ledger.PayoutRequest) { r.Currency, r.Amount = "IQD", ptr(d("0.001")) }, ""},
		{"sub-cent", func(r *ledger.PayoutRequest) { r.Amount = ptr(d("0.001")) }, "amount"},
		{"sub-yen", func(r *ledger.PayoutRequest) { r.Currency, r.Amount = "JPY", ptr(d("1.5")) }, "amount"},
		{"zero", func(r *ledger.PayoutRequest) { r.Amount = ptr(d("0")) }, "amount"},
		{"negative", func(r *ledger.PayoutRequest) { r.Amount = ptr(d("-1")) }, "amount"},
		{"beyond the scale", func(r *ledger.PayoutRequest) { r.Amount = ptr(d("1.0000000000001")) }, "amount"},
		{"too large", func(r *ledger.PayoutRequest) { r.Amount = ptr(decimal.New(1, ledger.MaxIntegerDigits)) }, "amount"},
		{"unknown currency", func(r *ledger.PayoutRequest) { r.Currency = "XXX" }, "currency"},
		{"no request id", func(r *ledger.PayoutRequest) { r.RequestID = "" }, "request_id"},
		{"bad contributor", func(r *ledger.PayoutRequest) { r.ContributorID = "alice" }, "contributor_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := ok
			tt.mutate(&req)
			err := ledger.ValidatePayout(req, ledger.DefaultScale)
			if tt.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantError(t, err, royalty.EINVALID, tt.field, "")
		})
	}
	// The message of the minor-unit rule, as the API has always given it.
	err := ledger.ValidatePayout(ledger.PayoutRequest{ContributorID: contributor, RequestID: "p", Currency: "USD", Amount: ptr(d("0.001"))}, 12)
	wantError(t, err, royalty.EINVALID, "amount", "amount: must be in whole minor units of USD (at most 2 decimals), got 0.001")
}

func TestPlanPayout(t *testing.T) {
	tests := []struct {
		name               string
		currency           string
		balance            string
		amount             string // "" for everything available
		wantAmount, remain string
		code, field, msg   string // the error, when refused
	}{
		{name: "everything available, sub-cent remainder stays", currency: "USD", balance: "12.345678901234", wantAmount: "12.34", remain: "0.005678901234"},
		{name: "part of the balance", currency: "USD", balance: "12.345678901234", amount: "10", wantAmount: "10", remain: "2.345678901234"},
		{name: "exactly what is available", currency: "USD", balance: "12.345678901234", amount: "12.34", wantAmount: "12.34", remain: "0.005678901234"},
		{name: "exactly the balance", currency: "USD", balance: "7.5", amount: "7.5", wantAmount: "7.5", remain: "0"},
		{name: "all of a whole balance", currency: "USD", balance: "7.5", wantAmount: "7.5", remain: "0"},
		{name: "yen have no minor unit", currency: "JPY", balance: "100.7", wantAmount: "100", remain: "0.7"},
		{name: "dinar have three digits", currency: "IQD", balance: "0.7509", wantAmount: "0.75", remain: "0.0009"},
		{name: "rupiah minor unit is ISO's 2, not CLDR's 0", currency: "IDR", balance: "12.345", amount: "10.5", wantAmount: "10.5", remain: "1.845"},
		{name: "four digits", currency: "CLF", balance: "1.000099999999", wantAmount: "1.0000", remain: "0.000099999999"},
		{name: "more than available", currency: "USD", balance: "12.345678901234", amount: "12.35",
			code: royalty.EPRECONDITION, field: "amount", msg: "amount: insufficient funds: 12.35 USD requested, 12.34 USD available (balance 12.345678901234)"},
		{name: "a cent from a sub-cent balance", currency: "USD", balance: "0.009999999999", amount: "0.01",
			code: royalty.EPRECONDITION, field: "amount", msg: "amount: insufficient funds: 0.01 USD requested, 0 USD available (balance 0.009999999999)"},
		{name: "zero balance", currency: "USD", balance: "0",
			code: royalty.EPRECONDITION, msg: "nothing to pay out: the balance is 0 USD, less than one minor unit"},
		{name: "zero balance, an amount", currency: "EUR", balance: "0", amount: "1",
			code: royalty.EPRECONDITION, field: "amount", msg: "amount: insufficient funds: 1 EUR requested, 0 EUR available (balance 0)"},
		{name: "less than a minor unit", currency: "USD", balance: "0.000000000001",
			code: royalty.EPRECONDITION, msg: "nothing to pay out: the balance is 0.000000000001 USD, less than one minor unit"},
		{name: "less than a yen", currency: "JPY", balance: "0.99",
			code: royalty.EPRECONDITION, msg: "nothing to pay out: the balance is 0.99 JPY, less than one minor unit"},
		{name: "a negative balance pays nothing", currency: "USD", balance: "-1",
			code: royalty.EPRECONDITION, msg: "nothing to pay out: the balance is -1 USD, less than one minor unit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := ledger.PayoutRequest{ContributorID: contributor, RequestID: "p1", Currency: tt.currency}
			if tt.amount != "" {
				req.Amount = ptr(d(tt.amount))
			}
			if err := ledger.ValidatePayout(req, ledger.DefaultScale); err != nil {
				t.Fatal(err)
			}
			plan, err := ledger.PlanPayout(req, d(tt.balance))
			if tt.code != "" {
				wantError(t, err, tt.code, tt.field, tt.msg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !plan.Amount.Equal(d(tt.wantAmount)) || !plan.Remaining.Equal(d(tt.remain)) {
				t.Fatalf("amount %s remaining %s, want %s and %s", plan.Amount, plan.Remaining, tt.wantAmount, tt.remain)
			}
			want := []ledger.Posting{
				{Account: ledger.ContributorAccount(contributor), Type: ledger.AccountContributor, Currency: tt.currency, Amount: plan.Amount},
				{Account: ledger.PayoutClearingAccount, Type: ledger.AccountPayoutClearing, Currency: tt.currency, Amount: plan.Amount.Neg()},
			}
			if !samePostings(plan.Postings, want) {
				t.Fatalf("postings %v, want %v", plan.Postings, want)
			}
		})
	}
}

// samePostings compares postings by account, type, currency and amount value.
func samePostings(a, b []ledger.Posting) bool {
	return slices.EqualFunc(a, b, func(p, q ledger.Posting) bool {
		return p.Account == q.Account && p.Type == q.Type && p.Currency == q.Currency && p.Amount.Equal(q.Amount)
	})
}

// payoutCurrencies have minor units of 0, 2, 3 and 4 digits.
var payoutCurrencies = []string{"USD", "EUR", "JPY", "IQD", "BHD", "CLF", "IDR", "XOF"}

// randomAmount returns a non-negative amount of at most scale fractional digits, from zero and
// single quanta to many units.
func randomAmount(r *rand.Rand, scale int32) decimal.Decimal {
	switch r.IntN(6) {
	case 0:
		return decimal.Zero
	case 1:
		return decimal.New(r.Int64N(10)+1, -scale) // a few quanta
	case 2:
		return decimal.New(r.Int64N(100000), -int32(r.IntN(5))) // whole minor units, often
	default:
		return decimal.New(r.Int64N(1_000_000_000_000_000), -scale)
	}
}

// TestPlanPayoutProperties: over random balances, currencies and requests that pass
// ValidatePayout, a payout is refused exactly when it would overdraw the available balance, and
// a booked payout balances, is positive and in whole minor units, never overdraws (what stays is
// never negative, and amount + what stays is the balance), and without an amount leaves less
// than one minor unit.
func TestPlanPayoutProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(20261101, 1))
	booked, refused := 0, 0
	for i := 0; i < 20000; i++ {
		cur := payoutCurrencies[r.IntN(len(payoutCurrencies))]
		minor := ledger.MinorUnitScale(cur)
		balance := randomAmount(r, ledger.DefaultScale)
		if r.IntN(20) == 0 {
			balance = balance.Neg() // a broken invariant must still not pay out
		}
		req := ledger.PayoutRequest{ContributorID: contributor, RequestID: "p" + strconv.Itoa(i), Currency: cur}
		switch r.IntN(3) {
		case 0: // everything available
		case 1: // about the balance, truncated to whole minor units, sometimes one more
			a := balance.Abs().Truncate(minor).Add(decimal.New(int64(r.IntN(3)-1), -minor))
			req.Amount = &a
		default:
			a := randomAmount(r, int32(r.IntN(int(ledger.DefaultScale)+1)))
			req.Amount = &a
		}
		if ledger.ValidatePayout(req, ledger.DefaultScale) != nil {
			continue
		}
		available := ledger.Available(balance, cur)
		plan, err := ledger.PlanPayout(req, balance)
		wantRefused := available.Sign() == 0 || req.Amount != nil && req.Amount.GreaterThan(available)
		if err != nil {
			if !wantRefused || royalty.ErrorCode(err) != royalty.EPRECONDITION {
				t.Fatalf("balance %s %s, amount %v: %v", balance, cur, req.Amount, err)
			}
			refused++
			continue
		}
		booked++
		if wantRefused {
			t.Fatalf("balance %s %s, amount %v: paid %s, want a refusal", balance, cur, req.Amount, plan.Amount)
		}
		if err := ledger.CheckBalanced(plan.Postings); err != nil {
			t.Fatal(err)
		}
		if plan.Amount.Sign() <= 0 || !plan.Amount.Equal(plan.Amount.Truncate(minor)) {
			t.Fatalf("balance %s %s: paid %s, not a positive whole number of minor units", balance, cur, plan.Amount)
		}
		if plan.Remaining.Sign() < 0 || !plan.Amount.Add(plan.Remaining).Equal(balance) {
			t.Fatalf("balance %s %s: paid %s, remaining %s", balance, cur, plan.Amount, plan.Remaining)
		}
		if req.Amount == nil && !plan.Remaining.LessThan(decimal.New(1, -minor)) {
			t.Fatalf("balance %s %s: paying everything left %s, a minor unit or more", balance, cur, plan.Remaining)
		}
		after := balance.Add(normalBalances(plan.Postings)[ledger.AccountCurrency{Account: ledger.ContributorAccount(contributor), Currency: cur}])
		if !after.Equal(plan.Remaining) {
			t.Fatalf("balance %s %s: the postings leave %s, the plan says %s", balance, cur, after, plan.Remaining)
		}
	}
	if booked < 1000 || refused < 1000 {
		t.Fatalf("only %d payouts booked and %d refused: the generator misses cases", booked, refused)
	}
}

// FuzzPlanPayout checks the payout properties on fuzzed balances and amounts. Run it longer
// with `go test -fuzz FuzzPlanPayout ./ledger/`.
func FuzzPlanPayout(f *testing.F) {
	f.Add("12.345678901234", "", "USD")
	f.Add("12.345678901234", "12.34", "USD")
	f.Add("12.345678901234", "12.35", "USD")
	f.Add("0.000000000001", "", "JPY")
	f.Add("100.7", "100", "JPY")
	f.Add("0.7509", "0.751", "IQD")
	f.Add("0", "", "CLF")
	f.Add("-1", "1", "EUR")
	f.Fuzz(func(t *testing.T, balanceText, amountText, cur string) {
		balance, err := ledger.ParseAmount("balance", balanceText, ledger.DefaultScale)
		if err != nil {
			return
		}
		req := ledger.PayoutRequest{ContributorID: contributor, RequestID: "p", Currency: cur}
		if amountText != "" {
			a, err := ledger.ParseAmount("amount", amountText, ledger.DefaultScale)
			if err != nil {
				return
			}
			req.Amount = &a
		}
		if ledger.ValidatePayout(req, ledger.DefaultScale) != nil {
			return
		}
		plan, err := ledger.PlanPayout(req, balance)
		if err != nil {
			if royalty.ErrorCode(err) != royalty.EPRECONDITION {
				t.Fatal(err)
			}
			return
		}
		minor := ledger.MinorUnitScale(cur)
		if err := ledger.CheckBalanced(plan.Postings); err != nil {
			t.Fatal(err)
		}
		if plan.Amount.Sign() <= 0 || !plan.Amount.Equal(plan.Amount.Truncate(minor)) ||
			plan.Remaining.Sign() < 0 || !plan.Amount.Add(plan.Remaining).Equal(balance) {
			t.Fatalf("balance %s %s, amount %v: paid %s, remaining %s", balance, cur, req.Amount, plan.Amount, plan.Remaining)
		}
	})
}

// --- escrow releases ---

func TestPlanEscrowRelease(t *testing.T) {
	const key = "stackexchange:bicycles/1"
	escrow := ledger.EscrowAccount(key)
	account := ledger.ContributorAccount(contributor)
	req := ledger.EscrowReleaseRequest{IdentityKey: key, ContributorID: contributor}
	tests := []struct {
		name    string
		balance map[string]string
		want    []ledger.Money // what moves; nil for an empty plan
	}{
		{name: "nothing in escrow", balance: nil},
		{name: "zero in every currency", balance: map[string]string{"USD": "0", "EUR": "0.000000000000"}},
		{name: "one currency", balance: map[string]string{"USD": "0.000045"}, want: []ledger.Money{{Amount: d("0.000045"), Currency: "USD"}}},
		{name: "a single quantum moves too", balance: map[string]string{"JPY": "0.000000000001"}, want: []ledger.Money{{Amount: d("0.000000000001"), Currency: "JPY"}}},
		{name: "currencies in code order, zero left out", balance: map[string]string{"USD": "1.5", "EUR": "0.1", "JPY": "0", "BHD": "2.0005"},
			want: []ledger.Money{{Amount: d("2.0005"), Currency: "BHD"}, {Amount: d("0.1"), Currency: "EUR"}, {Amount: d("1.5"), Currency: "USD"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			balances := map[string]decimal.Decimal{}
			for cur, s := range tt.balance {
				balances[cur] = d(s)
			}
			plan, err := ledger.PlanEscrowRelease(req, balances)
			if err != nil {
				t.Fatal(err)
			}
			if len(tt.want) == 0 {
				if len(plan.Postings) != 0 || len(plan.Released) != 0 {
					t.Fatalf("plan %+v, want nothing", plan)
				}
				return
			}
			var want []ledger.Posting
			for _, m := range tt.want {
				want = append(want,
					ledger.Posting{Account: escrow, Type: ledger.AccountIdentityEscrow, Currency: m.Currency, Amount: m.Amount},
					ledger.Posting{Account: account, Type: ledger.AccountContributor, Currency: m.Currency, Amount: m.Amount.Neg()})
			}
			if !samePostings(plan.Postings, want) {
				t.Fatalf("postings %v, want %v", plan.Postings, want)
			}
			if !slices.EqualFunc(plan.Released, tt.want, func(a, b ledger.Money) bool { return a.Currency == b.Currency && a.Amount.Equal(b.Amount) }) {
				t.Fatalf("released %v, want %v", plan.Released, tt.want)
			}
			if err := ledger.CheckBalanced(plan.Postings); err != nil {
				t.Fatal(err)
			}
		})
	}

	// A negative escrow is a broken invariant: an internal error, whose text callers never see.
	_, err := ledger.PlanEscrowRelease(req, map[string]decimal.Decimal{"USD": d("1"), "EUR": d("-0.5"), "JPY": d("-2")})
	var re *royalty.Error
	if err == nil || errors.As(err, &re) || err.Error() != "escrow escrow:stackexchange:bicycles/1 has a debit balance of 0.5 EUR" {
		t.Fatalf("negative escrow: %v, want an internal error naming EUR", err)
	}
}

// TestPlanEscrowReleaseProperties: over random escrows in several currencies, a release
// balances per currency, moves exactly the escrowed amount of every currency to the
// contributor (and nothing else anywhere), leaves the escrow at zero, and books nothing when
// the escrow is empty.
func TestPlanEscrowReleaseProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(20261101, 2))
	req := ledger.EscrowReleaseRequest{IdentityKey: "hn:/pg", ContributorID: contributor}
	escrow, account := ledger.EscrowAccount(req.IdentityKey), ledger.ContributorAccount(contributor)
	for i := 0; i < 5000; i++ {
		balances := map[string]decimal.Decimal{}
		for _, cur := range payoutCurrencies {
			if r.IntN(3) == 0 {
				balances[cur] = randomAmount(r, ledger.DefaultScale)
			}
		}
		plan, err := ledger.PlanEscrowRelease(req, balances)
		if err != nil {
			t.Fatal(err)
		}
		nonZero := 0
		for _, b := range balances {
			if b.Sign() != 0 {
				nonZero++
			}
		}
		if nonZero == 0 {
			if len(plan.Postings) != 0 {
				t.Fatalf("empty escrow %v: postings %v", balances, plan.Postings)
			}
			continue
		}
		if err := ledger.CheckBalanced(plan.Postings); err != nil {
			t.Fatal(err)
		}
		moved := normalBalances(plan.Postings)
		if len(moved) != 2*nonZero || len(plan.Released) != nonZero {
			t.Fatalf("escrow %v: plan touches %d balances and releases %d, want %d and %d", balances, len(moved), len(plan.Released), 2*nonZero, nonZero)
		}
		for cur, b := range balances {
			if after := b.Add(moved[ledger.AccountCurrency{Account: escrow, Currency: cur}]); after.Sign() != 0 {
				t.Fatalf("escrow %v: %s left at %s", balances, cur, after)
			}
			if got := moved[ledger.AccountCurrency{Account: account, Currency: cur}]; !got.Equal(b) {
				t.Fatalf("escrow %v: contributor gets %s %s, want %s", balances, got, cur, b)
			}
		}
		if !slices.IsSortedFunc(plan.Released, func(a, b ledger.Money) int { return strings.Compare(a.Currency, b.Currency) }) {
			t.Fatalf("released %v not in currency order", plan.Released)
		}
		for _, m := range plan.Released {
			if !m.Amount.Equal(balances[m.Currency]) || m.Amount.Sign() <= 0 {
				t.Fatalf("escrow %v: released %s %s", balances, m.Amount, m.Currency)
			}
		}
	}
}

// --- reversals ---

// bookedUsage returns a usage transaction as PlanUsage books it, with its credits as the store
// keeps them.
func bookedUsage(t testing.TB, req ledger.UsageRequest, terms ledger.Terms, owners map[string]string) (ledger.Transaction, []ledger.CreditRef) {
	t.Helper()
	if err := ledger.ValidateUsage("", req, ledger.DefaultScale); err != nil {
		t.Fatal(err)
	}
	u, err := ledger.PlanUsage(req, terms, owners, ledger.DefaultScale)
	if err != nil {
		t.Fatal(err)
	}
	var credits []ledger.CreditRef
	for _, c := range u.Credits {
		credits = append(credits, ledger.CreditRef{PostingIndex: c.PostingIndex, IdentityKey: c.IdentityKey, ContributorID: c.ContributorID})
	}
	return ledger.Transaction{ID: usageID, Kind: ledger.KindUsage, PrincipalID: req.ProviderID, RequestID: req.RequestID, Postings: u.Postings}, credits
}

func TestPlanReversal(t *testing.T) {
	const (
		key1 = "stackexchange:bicycles/1" // share 1/2
		key2 = "stackexchange:bicycles/2" // share 1/4
	)
	terms := ledger.Terms{RoyaltyRate: d("0.1")}
	type line struct{ account, amount string }
	tests := []struct {
		name        string
		usageOwners map[string]string // owners when the usage was booked
		owners      map[string]string // owners when it is reversed
		want        []line
		credits     []ledger.CreditRef
		debits      []ledger.Debit
	}{
		{
			name: "unclaimed identities: back from their escrows",
			want: []line{
				{"provider:" + provider, "-0.0006"},
				{"provider_retained:" + provider, "0.00054"},
				{"escrow:" + key1, "0.00003"},
				{"escrow:" + key2, "0.000015"},
				{"unattributed", "0.000015"},
			},
			credits: []ledger.CreditRef{{PostingIndex: 2, IdentityKey: key1}, {PostingIndex: 3, IdentityKey: key2}},
			debits: []ledger.Debit{
				{Account: "escrow:" + key1, Type: ledger.AccountIdentityEscrow, Currency: "USD", Amount: d("0.00003")},
				{Account: "escrow:" + key2, Type: ledger.AccountIdentityEscrow, Currency: "USD", Amount: d("0.000015")},
			},
		},
		{
			name:        "escrow released since: back from the owner",
			usageOwners: nil,
			owners:      map[string]string{key2: bob},
			want: []line{
				{"provider:" + provider, "-0.0006"},
				{"provider_retained:" + provider, "0.00054"},
				{"escrow:" + key1, "0.00003"},
				{"contributor:" + bob, "0.000015"},
				{"unattributed", "0.000015"},
			},
			credits: []ledger.CreditRef{{PostingIndex: 2, IdentityKey: key1}, {PostingIndex: 3, IdentityKey: key2, ContributorID: bob}},
			debits: []ledger.Debit{
				{Account: "contributor:" + bob, Type: ledger.AccountContributor, Currency: "USD", Amount: d("0.000015")},
				{Account: "escrow:" + key1, Type: ledger.AccountIdentityEscrow, Currency: "USD", Amount: d("0.00003")},
			},
		},
		{
			name:        "claimed then and released since, one owner: one debit summed",
			usageOwners: map[string]string{key1: contributor},
			owners:      map[string]string{key1: contributor, key2: contributor},
			want: []line{
				{"provider:" + provider, "-0.0006"},
				{"provider_retained:" + provider, "0.00054"},
				{"contributor:" + contributor, "0.00003"},
				{"contributor:" + contributor, "0.000015"},
				{"unattributed", "0.000015"},
			},
			credits: []ledger.CreditRef{{PostingIndex: 2, IdentityKey: key1, ContributorID: contributor}, {PostingIndex: 3, IdentityKey: key2, ContributorID: contributor}},
			debits:  []ledger.Debit{{Account: "contributor:" + contributor, Type: ledger.AccountContributor, Currency: "USD", Amount: d("0.000045")}},
		},
		{
			name:        "a contributor credit stays with its contributor",
			usageOwners: map[string]string{key1: contributor, key2: bob},
			owners:      map[string]string{key1: contributor, key2: bob},
			want: []line{
				{"provider:" + provider, "-0.0006"},
				{"provider_retained:" + provider, "0.00054"},
				{"contributor:" + contributor, "0.00003"},
				{"contributor:" + bob, "0.000015"},
				{"unattributed", "0.000015"},
			},
			credits: []ledger.CreditRef{{PostingIndex: 2, IdentityKey: key1, ContributorID: contributor}, {PostingIndex: 3, IdentityKey: key2, ContributorID: bob}},
			debits: []ledger.Debit{
				{Account: "contributor:" + contributor, Type: ledger.AccountContributor, Currency: "USD", Amount: d("0.00003")},
				{Account: "contributor:" + bob, Type: ledger.AccountContributor, Currency: "USD", Amount: d("0.000015")},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig, credits := bookedUsage(t, validUsage(), terms, tt.usageOwners)
			plan, err := ledger.PlanReversal(ledger.ReversalInput{Original: orig, Credits: credits, Reason: "refund", Owners: tt.owners})
			if err != nil {
				t.Fatal(err)
			}
			if plan.Replayed || string(plan.PayloadHash) != string(ledger.HashReversal(usageID, "refund")) {
				t.Fatalf("replayed %v, payload hash %x", plan.Replayed, plan.PayloadHash)
			}
			var got []line
			for _, p := range plan.Postings {
				got = append(got, line{p.Account, p.Amount.String()})
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("postings %v, want %v", got, tt.want)
			}
			if err := ledger.CheckBalanced(plan.Postings); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(plan.Credits, tt.credits) {
				t.Fatalf("credits %+v, want %+v", plan.Credits, tt.credits)
			}
			if !slices.EqualFunc(plan.Debits, tt.debits, func(a, b ledger.Debit) bool {
				return a.Account == b.Account && a.Type == b.Type && a.Currency == b.Currency && a.Amount.Equal(b.Amount)
			}) {
				t.Fatalf("debits %v, want %v", plan.Debits, tt.debits)
			}
			// Balances that hold exactly the debits cover the plan; one quantum less does not.
			exact := map[ledger.AccountCurrency]decimal.Decimal{}
			for _, d := range plan.Debits {
				exact[ledger.AccountCurrency{Account: d.Account, Currency: d.Currency}] = d.Amount
			}
			if err := plan.CheckCovered(exact); err != nil {
				t.Fatal(err)
			}
			last := plan.Debits[len(plan.Debits)-1]
			k := ledger.AccountCurrency{Account: last.Account, Currency: last.Currency}
			exact[k] = exact[k].Sub(decimal.New(1, -12))
			wantError(t, plan.CheckCovered(exact), royalty.EPRECONDITION, "",
				"the reversal cannot be booked: part of what the report credited was already paid out or moved; settle it outside the ledger")
		})
	}
}

func TestPlanReversalRefusals(t *testing.T) {
	orig, credits := bookedUsage(t, validUsage(), ledger.Terms{RoyaltyRate: d("0.1")}, nil)
	in := ledger.ReversalInput{Original: orig, Credits: credits, Reason: "refund"}
	first, err := ledger.PlanReversal(in)
	if err != nil {
		t.Fatal(err)
	}
	const revID = "00000000-0000-4000-8000-0000000000b1"

	t.Run("already reversed, same reason: replayed", func(t *testing.T) {
		in := in
		in.Previous = &ledger.PriorReversal{TransactionID: revID, Reason: "refund", PayloadHash: first.PayloadHash}
		plan, err := ledger.PlanReversal(in)
		if err != nil || !plan.Replayed || len(plan.Postings) != 0 || len(plan.Debits) != 0 {
			t.Fatalf("plan %+v, %v: want a replay booking nothing", plan, err)
		}
	})
	t.Run("already reversed, another reason", func(t *testing.T) {
		in := in
		in.Reason = "another reason"
		in.Previous = &ledger.PriorReversal{TransactionID: revID, Reason: "refund", PayloadHash: first.PayloadHash}
		_, err := ledger.PlanReversal(in)
		wantError(t, err, royalty.EPRECONDITION, "", "usage "+usageID+" was already reversed (transaction "+revID+") with a different reason: \"refund\"")
	})
	for _, kind := range []ledger.Kind{ledger.KindReversal, ledger.KindPayout, ledger.KindEscrowRelease} {
		t.Run("a "+string(kind)+" cannot be reversed", func(t *testing.T) {
			tx := ledger.Transaction{ID: revID, Kind: kind, Reverses: usageID, Postings: first.Postings}
			_, err := ledger.PlanReversal(ledger.ReversalInput{Original: tx, Credits: first.Credits, Reason: "undo"})
			wantError(t, err, royalty.EPRECONDITION, "", "transaction "+revID+" is a "+string(kind)+"; only usage reports can be reversed")
		})
	}
	t.Run("nothing in the accounts", func(t *testing.T) {
		_, err := ledger.PlanReversal(in)
		if err != nil {
			t.Fatal(err)
		}
		wantError(t, first.CheckCovered(nil), royalty.EPRECONDITION, "",
			"the reversal cannot be booked: part of what the report credited was already paid out or moved; settle it outside the ledger")
	})
	t.Run("a usage without identity credits debits nobody", func(t *testing.T) {
		req := validUsage()
		req.Shares, req.Evidence = nil, nil
		orig, credits := bookedUsage(t, req, ledger.Terms{RoyaltyRate: d("0.5"), PlatformFee: d("0.1")}, nil)
		plan, err := ledger.PlanReversal(ledger.ReversalInput{Original: orig, Credits: credits, Reason: "refund"})
		if err != nil || len(plan.Debits) != 0 || len(plan.Credits) != 0 || plan.CheckCovered(nil) != nil {
			t.Fatalf("plan %+v, %v", plan, err)
		}
		if err := ledger.CheckBalanced(plan.Postings); err != nil {
			t.Fatal(err)
		}
	})
}

// randomUsage returns a valid usage request of up to six identities with random shares.
func randomUsage(r *rand.Rand, i int) ledger.UsageRequest {
	req := ledger.UsageRequest{
		ProviderID: provider, RequestID: "u" + strconv.Itoa(i), ModelID: "m",
		Revenue:  decimal.New(r.Int64N(1_000_000_000)+1, -int32(r.IntN(13))),
		Currency: payoutCurrencies[r.IntN(len(payoutCurrencies))],
	}
	n := r.IntN(7)
	left := big.NewRat(1, 1)
	for j := 0; j < n; j++ {
		share := new(big.Rat).Mul(left, big.NewRat(int64(r.IntN(9)+1), 10))
		left.Sub(left, share)
		req.Shares = append(req.Shares, ledger.Share{IdentityKey: "hn:/author" + strconv.Itoa(j), Share: share})
	}
	return req
}

// TestPlanReversalProperties: over random usages, owners and releases, a reversal balances per
// currency; it negates every posting on the same account except released escrow credits, which
// it takes from their owner instead, so that the usage and its reversal together leave every
// account as before except that the owners give back what their escrows received; its debits
// are exactly its positive contributor and escrow postings; the balances it leaves behind when
// the accounts hold exactly the usage's credits pass CheckCovered; a replay with the same
// reason books nothing, another reason is refused; and the reversal itself cannot be reversed.
func TestPlanReversalProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(20261101, 3))
	contributors := []string{contributor, bob}
	for i := 0; i < 3000; i++ {
		req := randomUsage(r, i)
		usageOwners, owners := map[string]string{}, map[string]string{}
		for _, s := range req.Shares {
			switch r.IntN(3) {
			case 0: // claimed before the usage
				c := contributors[r.IntN(2)]
				usageOwners[s.IdentityKey], owners[s.IdentityKey] = c, c
			case 1: // released after it
				owners[s.IdentityKey] = contributors[r.IntN(2)]
			}
		}
		terms := ledger.Terms{RoyaltyRate: decimal.New(r.Int64N(101), -2), PlatformFee: decimal.New(r.Int64N(21), -2)}
		orig, credits := bookedUsage(t, req, terms, usageOwners)
		in := ledger.ReversalInput{Original: orig, Credits: credits, Reason: "refund " + strconv.Itoa(i), Owners: owners}
		plan, err := ledger.PlanReversal(in)
		if err != nil {
			t.Fatal(err)
		}
		if err := ledger.CheckBalanced(plan.Postings); err != nil {
			t.Fatalf("usage %d: %v", i, err)
		}
		for c, s := range sums(plan.Postings) {
			if s.Sign() != 0 {
				t.Fatalf("usage %d: %s postings sum to %s", i, c, s)
			}
		}

		// The usage and its reversal together: every account back where it was, except that
		// a released escrow's owner gives back what the escrow received (and the release
		// moved to it).
		want := map[ledger.AccountCurrency]decimal.Decimal{}
		for _, c := range credits {
			p := orig.Postings[c.PostingIndex]
			if owner, ok := owners[c.IdentityKey]; ok && p.Type == ledger.AccountIdentityEscrow {
				want[ledger.AccountCurrency{Account: p.Account, Currency: p.Currency}] = p.Normal()
				k := ledger.AccountCurrency{Account: ledger.ContributorAccount(owner), Currency: p.Currency}
				want[k] = want[k].Sub(p.Normal())
			}
		}
		net := normalBalances(append(slices.Clone(orig.Postings), plan.Postings...))
		for k, v := range net {
			if !v.Equal(want[k]) {
				t.Fatalf("usage %d: usage and reversal leave %s %s at %s, want %s", i, k.Account, k.Currency, v, want[k])
			}
		}
		for k, v := range want {
			if !v.Equal(net[k]) {
				t.Fatalf("usage %d: %s %s at %s, want %s", i, k.Account, k.Currency, net[k], v)
			}
		}

		// Debits: exactly the positive contributor and escrow postings, summed, in order.
		var debited decimal.Decimal
		for _, p := range plan.Postings {
			if (p.Type == ledger.AccountContributor || p.Type == ledger.AccountIdentityEscrow) && p.Amount.Sign() > 0 {
				debited = debited.Add(p.Amount)
			}
		}
		var total decimal.Decimal
		for j, d := range plan.Debits {
			total = total.Add(d.Amount)
			if j > 0 && plan.Debits[j-1].Account >= d.Account {
				t.Fatalf("usage %d: debits %v not in address order", i, plan.Debits)
			}
		}
		if !total.Equal(debited) {
			t.Fatalf("usage %d: debits sum to %s, positive postings to %s", i, total, debited)
		}

		// After the usage and any releases, each debited account holds at least what the
		// usage put there for it: the reversal is covered.
		balances := map[ledger.AccountCurrency]decimal.Decimal{}
		for _, c := range credits {
			p := orig.Postings[c.PostingIndex]
			k := ledger.AccountCurrency{Account: p.Account, Currency: p.Currency}
			if owner, ok := owners[c.IdentityKey]; ok && p.Type == ledger.AccountIdentityEscrow {
				k.Account = ledger.ContributorAccount(owner)
			}
			balances[k] = balances[k].Add(p.Normal())
		}
		if err := plan.CheckCovered(balances); err != nil {
			t.Fatalf("usage %d: %v", i, err)
		}
		if len(plan.Debits) > 0 {
			dbt := plan.Debits[r.IntN(len(plan.Debits))]
			k := ledger.AccountCurrency{Account: dbt.Account, Currency: dbt.Currency}
			balances[k] = balances[k].Sub(decimal.New(1, -ledger.DefaultScale))
			if err := plan.CheckCovered(balances); royalty.ErrorCode(err) != royalty.EPRECONDITION {
				t.Fatalf("usage %d: one quantum short of %s: %v, want EPRECONDITION", i, dbt.Account, err)
			}
		}

		// Replay, another reason, and the reversal of the reversal.
		prev := &ledger.PriorReversal{TransactionID: "r", Reason: in.Reason, PayloadHash: plan.PayloadHash}
		replay := in
		replay.Previous = prev
		if p, err := ledger.PlanReversal(replay); err != nil || !p.Replayed || len(p.Postings) != 0 {
			t.Fatalf("usage %d: replay %+v, %v", i, p, err)
		}
		replay.Reason += "!"
		if _, err := ledger.PlanReversal(replay); royalty.ErrorCode(err) != royalty.EPRECONDITION {
			t.Fatalf("usage %d: another reason: %v, want EPRECONDITION", i, err)
		}
		rev := ledger.Transaction{ID: "r", Kind: ledger.KindReversal, Reverses: orig.ID, Postings: plan.Postings}
		if _, err := ledger.PlanReversal(ledger.ReversalInput{Original: rev, Credits: plan.Credits, Reason: "undo", Owners: owners}); royalty.ErrorCode(err) != royalty.EPRECONDITION {
			t.Fatalf("usage %d: reversing the reversal: %v, want EPRECONDITION", i, err)
		}
	}
}
