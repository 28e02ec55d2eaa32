package ledgertest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/ledgertest"
)

// journal is a fixed list of transactions.
type journal []ledger.Transaction

func (j journal) Journal(_ context.Context, _, _ time.Time, fn func(ledger.Transaction) error) error {
	for _, t := range j {
		if err := fn(t); err != nil {
			return err
		}
	}
	return nil
}

func p(account string, typ ledger.AccountType, amount string) ledger.Posting {
	return ledger.Posting{Account: account, Type: typ, Currency: "USD", Amount: decimal.RequireFromString(amount)}
}

const prov, alice = "provider:p", "contributor:a"

func usage(id, request string, amount string) ledger.Transaction {
	neg := decimal.RequireFromString(amount).Neg().String()
	return ledger.Transaction{ID: id, Kind: ledger.KindUsage, PrincipalID: "p", RequestID: request, Postings: []ledger.Posting{
		p(prov, ledger.AccountProvider, amount), p(alice, ledger.AccountContributor, neg)}}
}

func TestRead(t *testing.T) {
	good := usage("u1", "r1", "1")
	reversal := ledger.Transaction{ID: "v1", Kind: ledger.KindReversal, PrincipalID: "p", RequestID: "u1", Reverses: "u1", Postings: []ledger.Posting{
		p(prov, ledger.AccountProvider, "-1"), p(alice, ledger.AccountContributor, "1")}}
	tests := []struct {
		name    string
		journal journal
		want    string // part of the error; empty for none
	}{
		{"balanced", journal{good, usage("u2", "r2", "2")}, ""},
		{"reversed", journal{good, reversal}, ""},
		{"unbalanced", journal{{ID: "x", Kind: ledger.KindUsage, Postings: []ledger.Posting{p(prov, ledger.AccountProvider, "1"), p(alice, ledger.AccountContributor, "-0.9")}}}, "not zero"},
		{"one posting", journal{{ID: "x", Kind: ledger.KindUsage, Postings: []ledger.Posting{p(prov, ledger.AccountProvider, "0")}}}, "at least two"},
		{"duplicate key", journal{good, usage("u2", "r1", "1")}, "share the idempotency key"},
		{"negative contributor", journal{{ID: "x", Kind: ledger.KindPayout, PrincipalID: "a", RequestID: "p", Postings: []ledger.Posting{
			p(alice, ledger.AccountContributor, "1"), p("payout_clearing", ledger.AccountPayoutClearing, "-1")}}}, "negative balance"},
		{"reversed twice", journal{good, reversal, func() ledger.Transaction { r := reversal; r.ID, r.RequestID = "v2", "again"; return r }()}, "reversed twice"},
		{"reversal not negating", journal{good, func() ledger.Transaction {
			r := reversal
			r.Postings = []ledger.Posting{p(prov, ledger.AccountProvider, "-0.5"), p(alice, ledger.AccountContributor, "0.5")}
			return r
		}()}, "want -1"},
		{"reversal of nothing", journal{reversal}, "not a usage"},
		{"missing account", journal{{ID: "x", Kind: ledger.KindUsage, Postings: []ledger.Posting{p("", ledger.AccountProvider, "1"), p(alice, ledger.AccountContributor, "-1")}}}, "account row missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ledgertest.Read(context.Background(), tt.journal)
			if tt.want == "" && err != nil {
				t.Fatalf("Read = %v, want no error", err)
			}
			if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Read = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	a, err := ledgertest.Read(context.Background(), journal{usage("u1", "r1", "1")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ledgertest.Read(context.Background(), journal{usage("u1", "r1", "1.5")})
	if a.Fingerprint == b.Fingerprint {
		t.Fatal("a different amount kept the fingerprint")
	}
}
