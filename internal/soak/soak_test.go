package soak

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"google.golang.org/grpc/codes"

	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/csv"
	"github.com/openroyalty/royalty/ledger/ledgertest"
)

const (
	prov = "00000000-0000-4000-8000-000000000001"
	cont = "00000000-0000-4000-8000-000000000002"
)

func usageTx(id, request, revenue string) ledger.Transaction {
	r := decimal.RequireFromString(revenue)
	return ledger.Transaction{ID: id, Kind: ledger.KindUsage, PrincipalID: prov, RequestID: request, Postings: []ledger.Posting{
		{Account: ledger.ProviderAccount(prov), Type: ledger.AccountProvider, Currency: "USD", Amount: r},
		{Account: ledger.UnattributedAccount, Type: ledger.AccountUnattributed, Currency: "USD", Amount: r.Neg()},
	}}
}

// feedbackTx is a usage of a model version with lineage: the provider is also debited the
// feedback share, which pool credits (or, when pool is false, the unattributed account).
func feedbackTx(id, request, revenue, share string, pool bool) ledger.Transaction {
	r, f := decimal.RequireFromString(revenue), decimal.RequireFromString(share)
	to := ledger.Posting{Account: ledger.FeedbackPoolAccount(prov, "2026-12", "2026-12-07"), Type: ledger.AccountFeedbackPool, Currency: "USD", Amount: f.Neg()}
	if !pool {
		to = ledger.Posting{Account: ledger.UnattributedAccount, Type: ledger.AccountUnattributed, Currency: "USD", Amount: f.Neg()}
	}
	return ledger.Transaction{ID: id, Kind: ledger.KindUsage, PrincipalID: prov, RequestID: request, Postings: []ledger.Posting{
		{Account: ledger.ProviderAccount(prov), Type: ledger.AccountProvider, Currency: "USD", Amount: r},
		{Account: ledger.UnattributedAccount, Type: ledger.AccountUnattributed, Currency: "USD", Amount: r.Neg()},
		{Account: ledger.ProviderAccount(prov), Type: ledger.AccountProvider, Currency: "USD", Amount: f},
		to,
	}}
}

func books(txs ...ledger.Transaction) *ledgertest.Books {
	b := &ledgertest.Books{Transactions: map[string]ledger.Transaction{}}
	for _, t := range txs {
		b.Transactions[t.ID] = t
	}
	return b
}

func usageKey(request string) Key {
	return Key{Kind: ledger.KindUsage, Principal: prov, RequestID: request}
}

func sent(l *Log, request, revenue string) Key {
	k := usageKey(request)
	l.Sent(Write{Key: k, Amount: decimal.RequireFromString(revenue), Currency: "USD"})
	return k
}

func everyone(string) bool { return true }

// TestCheck feeds the checker books that lose, double, alter and invent bookings and checks
// that each is counted, and that correct books pass.
func TestCheck(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name            string
		feed            func(*Log)
		books           *ledgertest.Books
		lost, dup       int
		problemContains string
	}{
		{"acknowledged and booked", func(l *Log) { l.Ack(sent(l, "a", "1"), "t1", false, now) }, books(usageTx("t1", "a", "1")), 0, 0, ""},
		{"acknowledged, not booked", func(l *Log) { l.Ack(sent(l, "a", "1"), "t1", false, now) }, books(), 1, 0, "not in the books"},
		{"acknowledged as another transaction", func(l *Log) { l.Ack(sent(l, "a", "1"), "t1", false, now) }, books(usageTx("t2", "a", "1")), 1, 0, "booked as t2"},
		{"booked with another revenue", func(l *Log) { l.Ack(sent(l, "a", "1"), "t1", false, now) }, books(usageTx("t1", "a", "2")), 1, 0, "debited 2 USD"},
		{"booked with a feedback share", func(l *Log) { l.Ack(sent(l, "a", "1"), "t1", false, now) }, books(feedbackTx("t1", "a", "1", "0.05", true)), 0, 0, ""},
		{"a feedback share no pool got", func(l *Log) { l.Ack(sent(l, "a", "1"), "t1", false, now) }, books(feedbackTx("t1", "a", "1", "0.05", false)), 1, 0, "debited 1.05 USD"},
		{"booked twice", func(l *Log) { l.Ack(sent(l, "a", "1"), "t1", false, now) }, books(usageTx("t1", "a", "1"), usageTx("t2", "a", "1")), 0, 1, "booked 2 times"},
		{"acknowledged twice as different transactions", func(l *Log) {
			k := sent(l, "a", "1")
			l.Ack(k, "t1", false, now)
			l.Sent(Write{Key: k, Amount: decimal.RequireFromString("1"), Currency: "USD"})
			l.Ack(k, "t2", true, now)
		}, books(usageTx("t2", "a", "1")), 0, 1, "booked twice"},
		{"refused but booked", func(l *Log) { l.Fail(sent(l, "a", "1"), codes.InvalidArgument) }, books(usageTx("t1", "a", "1")), 0, 1, "refused"},
		{"refused, not booked", func(l *Log) { l.Fail(sent(l, "a", "1"), codes.FailedPrecondition) }, books(), 0, 0, ""},
		{"unknown, booked once", func(l *Log) { l.Fail(sent(l, "a", "1"), codes.DeadlineExceeded) }, books(usageTx("t1", "a", "1")), 0, 0, ""},
		{"unknown, not booked", func(l *Log) { l.Fail(sent(l, "a", "1"), codes.Unavailable) }, books(), 0, 0, ""},
		{"booked without being sent", func(l *Log) {}, books(usageTx("t1", "ghost", "1")), 0, 1, "no client sent it"},
		{"settled: found, replayed", func(l *Log) {
			k := sent(l, "a", "1")
			l.Fail(k, codes.Internal)
			l.Settle(k, true, "t1", "t1", true, now)
		}, books(usageTx("t1", "a", "1")), 0, 0, ""},
		{"settled: found, booked again", func(l *Log) {
			k := sent(l, "a", "1")
			l.Fail(k, codes.Internal)
			l.Settle(k, true, "t1", "t2", false, now)
		}, books(usageTx("t2", "a", "1")), 0, 1, "booked it again"},
		{"settled: not found, replayed", func(l *Log) {
			k := sent(l, "a", "1")
			l.Fail(k, codes.Internal)
			l.Settle(k, false, "", "t1", true, now)
		}, books(usageTx("t1", "a", "1")), 0, 0, "not found before the retry"},
		{"told twice it was booked fresh", func(l *Log) {
			k := sent(l, "a", "1")
			l.Ack(k, "t1", false, now)
			l.Sent(Write{Key: k, Amount: decimal.RequireFromString("1"), Currency: "USD"})
			l.Ack(k, "t1", false, now)
		}, books(usageTx("t1", "a", "1")), 0, 1, "booked fresh"},
		{"replayed on the first attempt", func(l *Log) { l.Ack(sent(l, "a", "1"), "t1", true, now) }, books(usageTx("t1", "a", "1")), 0, 0, "only call was answered as a replay"},
		{"a retry of an acknowledged write refused", func(l *Log) {
			k := sent(l, "a", "1")
			l.Ack(k, "t1", false, now)
			l.Fail(k, codes.AlreadyExists)
		}, books(usageTx("t1", "a", "1")), 0, 0, "then a retry was refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLog()
			tt.feed(l)
			r := Check(l, tt.books, everyone)
			if r.Lost != tt.lost || r.Duplicated != tt.dup {
				t.Fatalf("lost %d, duplicated %d, want %d, %d; problems: %q", r.Lost, r.Duplicated, tt.lost, tt.dup, r.Problems)
			}
			joined := strings.Join(r.Problems, "\n")
			if tt.problemContains == "" && joined != "" {
				t.Fatalf("problems: %s", joined)
			}
			if !strings.Contains(joined, tt.problemContains) {
				t.Fatalf("problems %q do not mention %q", joined, tt.problemContains)
			}
		})
	}
}

func TestCheckPayoutsAndReversals(t *testing.T) {
	now := time.Now()
	l := NewLog()
	pk := Key{Kind: ledger.KindPayout, Principal: cont, RequestID: "p1"}
	l.Sent(Write{Key: pk, Amount: decimal.RequireFromString("0.02"), Currency: "USD"})
	l.Ack(pk, "t2", false, now)
	rk := Key{Kind: ledger.KindReversal, Principal: prov, RequestID: "t1"}
	l.Sent(Write{Key: rk})
	l.Ack(rk, "t3", false, now)
	payout := ledger.Transaction{ID: "t2", Kind: ledger.KindPayout, PrincipalID: cont, RequestID: "p1", Postings: []ledger.Posting{
		{Account: ledger.ContributorAccount(cont), Type: ledger.AccountContributor, Currency: "USD", Amount: decimal.RequireFromString("0.03")},
		{Account: ledger.PayoutClearingAccount, Type: ledger.AccountPayoutClearing, Currency: "USD", Amount: decimal.RequireFromString("-0.03")},
	}}
	reversal := ledger.Transaction{ID: "t3", Kind: ledger.KindReversal, PrincipalID: prov, RequestID: "t1", Reverses: "t9"}
	r := Check(l, books(payout, reversal), everyone)
	if r.Lost != 2 || len(r.Problems) != 2 || !strings.Contains(r.Problems[0]+r.Problems[1], "paid out 0.03") ||
		!strings.Contains(r.Problems[0]+r.Problems[1], "reverses t9") {
		t.Fatalf("lost %d, problems %q", r.Lost, r.Problems)
	}
}

func TestCheckExports(t *testing.T) {
	start := time.Now()
	l := NewLog()
	early, late := sent(l, "early", "1"), sent(l, "late", "1")
	l.Ack(early, "t1", false, start.Add(-time.Second))
	l.Ack(late, "t2", false, start.Add(time.Second))
	b := books(usageTx("t1", "early", "1"), usageTx("t2", "late", "1"))
	var buf bytes.Buffer
	enc := csv.NewJournalEncoder(&buf)
	for _, p := range usageTx("t1", "early", "1").Postings {
		if err := enc.Encode(csv.JournalRow{TransactionID: "t1", CreatedAt: start, Kind: "usage", Account: p.Account,
			AccountType: string(p.Type), Currency: p.Currency, Amount: p.Amount, IdempotencyKey: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	export := buf.String()
	e, err := ReadExport([]byte(export), start)
	if err != nil {
		t.Fatal(err)
	}
	check := func(b *ledgertest.Books, exports ...Export) []string {
		x := NewExports()
		for _, e := range exports {
			x.Add(e, l)
		}
		return x.Check(b)
	}
	if p := check(b, e); len(p) != 0 {
		t.Fatalf("a complete, consistent export: %q", p)
	}
	if p := check(books(usageTx("t1", "early", "2"), usageTx("t2", "late", "1")), e); len(p) != 1 || !strings.Contains(p[0], "the books as") {
		t.Fatalf("an export that disagrees with the books: %q", p)
	}
	if p := check(b, e, Export{Started: start, Transactions: map[string][]ledger.Posting{"t1": usageTx("t1", "early", "3").Postings}}); len(p) != 1 || !strings.Contains(p[0], "export 2 shows transaction t1") {
		t.Fatalf("two exports that disagree: %q", p)
	}
	e.Started = start.Add(2 * time.Second)
	if p := check(b, e); len(p) != 1 || !strings.Contains(p[0], "misses") {
		t.Fatalf("an export missing an acknowledged write: %q", p)
	}
	if _, err := ReadExport([]byte(strings.Replace(export, ",-1,", ",-2,", 1)), start); err == nil {
		t.Fatal("an unbalanced export was read")
	}
}

func TestCompareIDs(t *testing.T) {
	notIndexed, notStored := CompareIDs([]string{"a", "b", "c"}, []string{"c", "d", "a"})
	if strings.Join(notIndexed, ",") != "b" || strings.Join(notStored, ",") != "d" {
		t.Fatalf("notIndexed %q, notStored %q", notIndexed, notStored)
	}
}

func TestClassify(t *testing.T) {
	for c, want := range map[codes.Code]Outcome{
		codes.OK: Acked, codes.InvalidArgument: Refused, codes.AlreadyExists: Refused, codes.FailedPrecondition: Refused,
		codes.DeadlineExceeded: Unknown, codes.Unavailable: Unknown, codes.Internal: Unknown, codes.Canceled: Unknown,
		codes.ResourceExhausted: Unknown, codes.Unknown: Unknown,
	} {
		if got := Classify(c); got != want {
			t.Errorf("Classify(%v) = %v, want %v", c, got, want)
		}
	}
}
