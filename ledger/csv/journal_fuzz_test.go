package csv_test

import (
	"bytes"
	stdcsv "encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/ledger/csv"
)

// formulaTriggers are the first characters that make a spreadsheet evaluate a cell (OWASP's CSV
// injection list).
const formulaTriggers = "=+-@\t\r"

// FuzzJournalEncoder writes a row whose text cells are fuzzed and reads the file back as a
// spreadsheet would: it must hold exactly the header and one row with a cell per column, no text cell
// may start with a formula trigger, each text cell must be the value given (with a quote
// prefix when it started with a trigger or a quote) and read back as given, and the amount
// must stay a plain number.
// Run longer with `go test -fuzz FuzzJournalEncoder ./csv/`.
func FuzzJournalEncoder(f *testing.F) {
	f.Add("t1", "usage", "escrow:hn:/a", "identity_escrow", "USD", "-0.000000000001", `=HYPERLINK("http://x","y")`, "")
	f.Add("t2", "reversal", "@SUM(A1)", "-x", "+1", "12.5", "say \"hi\"\nthere", "t1")
	f.Add("'; DROP TABLE ledger_postings; --", "\tkind", "\r\naccount", ",", "\"", "0", "=1+1\r\n=2", "-2")
	f.Add("", "", "", "", "", "99999999999999.999999999999", "\xff\xfe", "\x00")
	f.Fuzz(func(t *testing.T, id, kind, account, typ, currency, amount, key, reverses string) {
		amt, err := decimal.NewFromString(amount)
		if err != nil {
			return
		}
		row := csv.JournalRow{TransactionID: id, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Kind: kind,
			Account: account, AccountType: typ, Currency: currency, Amount: amt, IdempotencyKey: key, Reverses: reverses}
		var buf bytes.Buffer
		enc := csv.NewJournalEncoder(&buf)
		if err := enc.Encode(row); err != nil {
			t.Fatal(err)
		}
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		records, err := stdcsv.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatalf("the export does not parse as CSV: %v\n%q", err, buf.String())
		}
		if len(records) != 2 || len(records[1]) != len(csv.JournalColumns) {
			t.Fatalf("want the header and one row of %d cells, got %q", len(csv.JournalColumns), records)
		}
		got := records[1]
		texts := map[int]string{0: id, 2: kind, 3: account, 4: typ, 5: currency, 7: key, 8: reverses}
		for i, given := range texts {
			cell := got[i]
			if cell != "" && strings.ContainsRune(formulaTriggers, rune(cell[0])) {
				t.Fatalf("column %s starts with a formula trigger: %q", csv.JournalColumns[i], cell)
			}
			if strings.ContainsRune(given, '\r') {
				continue // encoding/csv reads \r\n inside a quoted cell back as \n
			}
			want := given
			if given != "" && strings.ContainsRune(formulaTriggers+"'", rune(given[0])) {
				want = "'" + given // a leading quote is doubled, so that the cell reads back
			}
			if cell != want || csv.Unneutralize(cell) != given {
				t.Fatalf("column %s = %q (reads back as %q), want %q", csv.JournalColumns[i], cell, csv.Unneutralize(cell), want)
			}
		}
		back, err := decimal.NewFromString(got[6])
		if err != nil || !back.Equal(amt) || strings.HasPrefix(got[6], "'") {
			t.Fatalf("amount %s written as %q", amt, got[6])
		}
	})
}
