// Package ledgertest checks a ledger's books against the rules of double-entry bookkeeping,
// through the ledger's own interfaces, so that any implementation (and any later test of
// reliability: crashes, restarts, chaos) can reuse it.
//
// Read replays the whole journal and checks every transaction on its own; Check also compares
// the ledger's balances and trial balance with what the journal implies.
package ledgertest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/ledger"
)

// Books is what the journal says.
type Books struct {
	// Transactions by id.
	Transactions map[string]ledger.Transaction
	Postings     int
	// Balances per account and currency, in the account's normal direction.
	Balances map[string]map[string]decimal.Decimal
	// Types of the accounts seen.
	Types map[string]ledger.AccountType
	// Fingerprint changes when anything in the journal changes.
	Fingerprint [32]byte
}

// Read reads the whole journal and checks that:
//   - every transaction has at least two postings, none zero, each on a known account, and its
//     postings sum to zero per currency;
//   - idempotency keys (principal, kind, request id) are unique;
//   - every reversal reverses an existing usage, at most one reversal per usage, with postings
//     that negate the usage's (same amounts and currencies; a credit may move from a released
//     escrow to the identity's owner);
//   - no account other than a provider's has a negative normal balance, and no provider's
//     account either (reversals only give back what was debited).
//
// It returns the books together with every violation found, joined.
func Read(ctx context.Context, j ledger.Journal) (*Books, error) {
	b := &Books{
		Transactions: map[string]ledger.Transaction{},
		Balances:     map[string]map[string]decimal.Decimal{},
		Types:        map[string]ledger.AccountType{},
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	keys := map[[3]string]string{}
	err := j.Journal(ctx, time.Time{}, time.Time{}, func(t ledger.Transaction) error {
		if _, dup := b.Transactions[t.ID]; dup {
			bad("transaction %s appears twice in the journal", t.ID)
		}
		b.Transactions[t.ID] = t
		b.Postings += len(t.Postings)
		k := [3]string{t.PrincipalID, string(t.Kind), t.RequestID}
		if other, dup := keys[k]; dup {
			bad("transactions %s and %s share the idempotency key %v", other, t.ID, k)
		}
		keys[k] = t.ID
		switch t.Kind {
		case ledger.KindUsage, ledger.KindReversal, ledger.KindEscrowRelease, ledger.KindPayout, ledger.KindFeedbackSettlement:
		default:
			bad("transaction %s has unknown kind %q", t.ID, t.Kind)
		}
		if err := ledger.CheckBalanced(t.Postings); err != nil {
			bad("transaction %s (%s): %v", t.ID, t.Kind, err)
		}
		for i, p := range t.Postings {
			if p.Account == "" {
				bad("transaction %s posting %d: account row missing", t.ID, i)
				continue
			}
			b.Types[p.Account] = p.Type
			if b.Balances[p.Account] == nil {
				b.Balances[p.Account] = map[string]decimal.Decimal{}
			}
			b.Balances[p.Account][p.Currency] = b.Balances[p.Account][p.Currency].Add(p.Normal())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	reversed := map[string]string{}
	for _, t := range b.Transactions {
		if t.Kind != ledger.KindReversal {
			if t.Reverses != "" {
				bad("%s transaction %s reverses %s", t.Kind, t.ID, t.Reverses)
			}
			continue
		}
		if other, dup := reversed[t.Reverses]; dup {
			bad("usage %s reversed twice: %s and %s", t.Reverses, other, t.ID)
		}
		reversed[t.Reverses] = t.ID
		orig, ok := b.Transactions[t.Reverses]
		if !ok || orig.Kind != ledger.KindUsage {
			bad("reversal %s reverses %s, which is not a usage", t.ID, t.Reverses)
			continue
		}
		if err := checkNegates(orig, t); err != nil {
			bad("reversal %s of %s: %v", t.ID, orig.ID, err)
		}
	}
	for account, byCur := range b.Balances {
		for cur, bal := range byCur {
			if bal.Sign() < 0 {
				bad("account %s has a negative balance of %s %s", account, bal, cur)
			}
		}
	}
	b.Fingerprint = fingerprint(b.Transactions)
	return b, errors.Join(errs...)
}

func checkNegates(orig, rev ledger.Transaction) error {
	if len(orig.Postings) != len(rev.Postings) {
		return fmt.Errorf("%d postings, the usage has %d", len(rev.Postings), len(orig.Postings))
	}
	for i, p := range orig.Postings {
		q := rev.Postings[i]
		if !q.Amount.Equal(p.Amount.Neg()) || q.Currency != p.Currency {
			return fmt.Errorf("posting %d is %s %s, want %s %s", i, q.Amount, q.Currency, p.Amount.Neg(), p.Currency)
		}
		moved := p.Type == ledger.AccountIdentityEscrow && q.Type == ledger.AccountContributor
		if q.Account != p.Account && !moved {
			return fmt.Errorf("posting %d is on %s, the usage's on %s", i, q.Account, p.Account)
		}
	}
	return nil
}

func fingerprint(txs map[string]ledger.Transaction) [32]byte {
	ids := make([]string, 0, len(txs))
	for id := range txs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	h := sha256.New()
	for _, id := range ids {
		t := txs[id]
		fmt.Fprintf(h, "%s|%s|%s|%s|%x|%s|%d\n", t.ID, t.Kind, t.PrincipalID, t.RequestID, t.PayloadHash, t.Reverses, t.CreatedAt.UnixMicro())
		for _, p := range t.Postings {
			fmt.Fprintf(h, "  %s|%s|%s\n", p.Account, p.Currency, p.Amount.String())
		}
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// Ledger is what Check needs.
type Ledger interface {
	ledger.Ledger
	ledger.Journal
}

// Check runs Read and also checks that the ledger's Balances of every account and its
// TrialBalance agree with the journal, and that the trial balance sums to zero per currency.
// Under concurrent writes the journal and the balances are read at different times, so call it
// when the ledger is quiet; Read alone is safe at any time.
func Check(ctx context.Context, l Ledger) (*Books, error) {
	b, err := Read(ctx, l)
	if b == nil {
		return nil, err
	}
	errs := []error{err}
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	accounts := make([]string, 0, len(b.Balances))
	for a := range b.Balances {
		accounts = append(accounts, a)
	}
	sort.Strings(accounts)
	for _, a := range accounts {
		got, err := l.Balances(ctx, a, time.Time{})
		if err != nil {
			return b, err
		}
		want := b.Balances[a]
		if len(got) != len(want) {
			bad("Balances(%s) has %d currencies, the journal %d", a, len(got), len(want))
		}
		for _, g := range got {
			if !g.Balance.Equal(want[g.Currency]) {
				bad("Balances(%s) = %s %s, the journal sums to %s", a, g.Balance, g.Currency, want[g.Currency])
			}
			if !g.Available.Equal(ledger.Available(g.Balance, g.Currency)) {
				bad("Balances(%s).Available = %s, want %s", a, g.Available, ledger.Available(g.Balance, g.Currency))
			}
		}
	}
	tb, err := l.TrialBalance(ctx, time.Time{})
	if err != nil {
		return b, err
	}
	if tb.Postings != int64(b.Postings) {
		bad("trial balance counts %d postings, the journal %d", tb.Postings, b.Postings)
	}
	var linePostings int64
	for _, line := range tb.Lines {
		linePostings += line.Postings
	}
	if linePostings != tb.Postings {
		bad("trial balance lines count %d postings, the trial balance %d", linePostings, tb.Postings)
	}
	for _, t := range tb.Totals {
		if !t.Amount.IsZero() {
			bad("trial balance does not balance: %s %s", t.Amount, t.Currency)
		}
	}
	type key struct {
		typ ledger.AccountType
		cur string
	}
	want := map[key]decimal.Decimal{}
	for a, byCur := range b.Balances {
		for cur, bal := range byCur {
			signed := bal
			if !b.Types[a].DebitNormal() {
				signed = bal.Neg()
			}
			k := key{b.Types[a], cur}
			want[k] = want[k].Add(signed)
		}
	}
	for _, line := range tb.Lines {
		k := key{line.Type, line.Currency}
		if !line.Balance.Equal(want[k]) || !line.Debits.Add(line.Credits).Equal(line.Balance) {
			bad("trial balance line %s %s = %s (debits %s, credits %s), the journal sums to %s",
				line.Type, line.Currency, line.Balance, line.Debits, line.Credits, want[k])
		}
		delete(want, k)
	}
	for k, v := range want {
		if !v.IsZero() {
			bad("trial balance has no line for %s %s, the journal sums to %s", k.typ, k.cur, v)
		}
	}
	return b, errors.Join(errs...)
}

// ContributorBalance is the normal balance of a contributor in a currency.
func (b *Books) ContributorBalance(contributorID, currency string) decimal.Decimal {
	return b.Balances[ledger.ContributorAccount(contributorID)][currency]
}
