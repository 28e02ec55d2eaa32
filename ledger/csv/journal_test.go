package csv_test

import (
	"bytes"
	stdcsv "encoding/csv"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/ledger/csv"
)

func TestJournalEncoder(t *testing.T) {
	var buf bytes.Buffer
	enc := csv.NewJournalEncoder(&buf)
	at := time.Date(2026, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600))
	rows := []csv.JournalRow{
		{TransactionID: "t1", CreatedAt: at, Kind: "usage", Account: "provider:p", AccountType: "provider", Currency: "USD", Amount: decimal.RequireFromString("0.0006"), IdempotencyKey: `=HYPERLINK("http://x","y")`},
		{TransactionID: "t1", CreatedAt: at, Kind: "usage", Account: "escrow:hn:/a,b", AccountType: "identity_escrow", Currency: "USD", Amount: decimal.RequireFromString("-0.0006"), IdempotencyKey: "say \"hi\"\nthere"},
		{TransactionID: "t2", CreatedAt: at, Kind: "reversal", Account: "@SUM(A1)", AccountType: "-x", Currency: "+1", Amount: decimal.RequireFromString("-12.5"), Reverses: "t1"},
	}
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(buf.String(), "\r\n") || !strings.HasPrefix(buf.String(), "transaction_id,created_at,kind,account,account_type,currency,amount,idempotency_key,reverses,journal_index,") {
		t.Fatalf("not RFC 4180 with a header:\n%q", buf.String())
	}
	got, err := stdcsv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		csv.JournalColumns,
		{"t1", "2026-01-02T02:04:05.0000006Z", "usage", "provider:p", "provider", "USD", "0.0006", `'=HYPERLINK("http://x","y")`, "", "", "", "", "", "", "", "", ""},
		{"t1", "2026-01-02T02:04:05.0000006Z", "usage", "escrow:hn:/a,b", "identity_escrow", "USD", "-0.0006", "say \"hi\"\nthere", "", "", "", "", "", "", "", "", ""},
		{"t2", "2026-01-02T02:04:05.0000006Z", "reversal", "'@SUM(A1)", "'-x", "'+1", "-12.5", "", "t1", "", "", "", "", "", "", "", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("rows = %q", got)
	}
	for i := range want {
		if strings.Join(got[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("row %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestEmptyJournalHasHeader(t *testing.T) {
	var buf bytes.Buffer
	if err := csv.NewJournalEncoder(&buf).Close(); err != nil {
		t.Fatal(err)
	}
	if buf.String() != strings.Join(csv.JournalColumns, ",")+"\r\n" {
		t.Fatalf("empty export = %q", buf.String())
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestCloseReportsWriteError(t *testing.T) {
	enc := csv.NewJournalEncoder(failingWriter{})
	if err := enc.Encode(csv.JournalRow{TransactionID: "t"}); err != nil {
		t.Fatal(err) // buffered: the error shows on Close
	}
	if err := enc.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Close = %v, want the writer's error", err)
	}
}

func TestNeutralize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""}, {"abc", "abc"}, {"=1+1", "'=1+1"}, {"+1", "'+1"}, {"-1", "'-1"}, {"@x", "'@x"},
		{"\tx", "'\tx"}, {"\rx", "'\rx"}, {"a=b", "a=b"}, {"'x", "''x"}, {"'=x", "''=x"},
	}
	for _, tt := range tests {
		if got := csv.Neutralize(tt.in); got != tt.want {
			t.Errorf("Neutralize(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if back := csv.Unneutralize(csv.Neutralize(tt.in)); back != tt.in {
			t.Errorf("Unneutralize(Neutralize(%q)) = %q", tt.in, back)
		}
	}
}

func TestCheckJournal(t *testing.T) {
	row := func(tx, typ, amount string) csv.JournalRow {
		return csv.JournalRow{TransactionID: tx, Kind: "usage", Account: typ + ":x", AccountType: typ, Currency: "USD", Amount: decimal.RequireFromString(amount)}
	}
	encode := func(rows ...csv.JournalRow) string {
		var buf bytes.Buffer
		enc := csv.NewJournalEncoder(&buf)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	good := encode(row("t1", "provider", "1.5"), row("t1", "contributor", "-1.5"), row("t2", "provider", "0.000000000001"), row("t2", "unattributed", "-0.000000000001"))
	tot, err := csv.CheckJournal(strings.NewReader(good))
	if err != nil || tot.Rows != 4 || tot.Transactions != 2 || tot.ByType["provider/USD"].String() != "1.500000000001" {
		t.Fatalf("CheckJournal = %+v, %v", tot, err)
	}
	bad := encode(row("t1", "provider", "1.5"), row("t1", "contributor", "-1.4"), row("t2", "contributor", "-0.1"))
	if _, err := csv.CheckJournal(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "t1") {
		t.Fatalf("unbalanced transaction: %v", err)
	}
	if _, err := csv.CheckJournal(strings.NewReader("a,b\n")); err == nil {
		t.Fatal("wrong header accepted")
	}
}
