package csv_test

import (
	"bytes"
	stdcsv "encoding/csv"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/csv"
)

// TestTrialBalanceTotalsCountTheirCurrency checks that each line and each currency's total row
// carry the postings of that line and that currency, not the count over all currencies.
func TestTrialBalanceTotalsCountTheirCurrency(t *testing.T) {
	d := decimal.RequireFromString
	tb := ledger.TrialBalance{
		Lines: []ledger.TrialBalanceLine{
			{Type: ledger.AccountProvider, Currency: "EUR", Debits: d("3"), Balance: d("3"), Accounts: 1, Postings: 1},
			{Type: ledger.AccountProvider, Currency: "USD", Debits: d("100"), Balance: d("100"), Accounts: 1, Postings: 2},
			{Type: ledger.AccountIdentityEscrow, Currency: "EUR", Credits: d("-3"), Balance: d("-3"), Accounts: 2, Postings: 3},
			{Type: ledger.AccountIdentityEscrow, Currency: "USD", Credits: d("-100"), Balance: d("-100"), Accounts: 1, Postings: 4},
		},
		Totals:   []ledger.Money{{Currency: "EUR", Amount: d("0")}, {Currency: "USD", Amount: d("0")}},
		Postings: 10,
	}
	var buf bytes.Buffer
	if err := csv.WriteTrialBalance(&buf, tb); err != nil {
		t.Fatal(err)
	}
	recs, err := stdcsv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		csv.TrialBalanceColumns,
		{"provider", "EUR", "1", "3", "0", "3", "1"},
		{"provider", "USD", "1", "100", "0", "100", "2"},
		{"identity_escrow", "EUR", "2", "0", "-3", "-3", "3"},
		{"identity_escrow", "USD", "1", "0", "-100", "-100", "4"},
		{"total", "EUR", "", "", "", "0", "4"},
		{"total", "USD", "", "", "", "0", "6"},
	}
	if len(recs) != len(want) {
		t.Fatalf("got %d rows, want %d:\n%s", len(recs), len(want), recs)
	}
	for i := range want {
		if len(recs[i]) != len(want[i]) {
			t.Fatalf("row %d = %q, want %q", i, recs[i], want[i])
		}
		for j := range want[i] {
			if recs[i][j] != want[i][j] {
				t.Errorf("row %d = %q, want %q", i, recs[i], want[i])
				break
			}
		}
	}
}
