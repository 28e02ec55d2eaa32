package csv_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/openroyalty/royalty/ledger/csv"
	"github.com/openroyalty/royalty/ledger/journal"
	"github.com/openroyalty/royalty/ledger/journal/journaltest"
)

// exportCSV writes the export of n entries with checkpoints after sizes cps.
func exportCSV(t testing.TB, n int, cps ...uint64) (string, journal.Keys) {
	t.Helper()
	priv, err := journal.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := journal.NewSigner(priv)
	rows, err := journaltest.Rows(journaltest.Entries(n), s, cps...)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := csv.NewJournalEncoder(&buf)
	for i := range rows {
		// Half the rows through each path: the file must not tell them apart.
		if i%2 == 0 {
			if err := enc.EncodeRow(&rows[i]); err != nil {
				t.Fatal(err)
			}
			continue
		}
		row, err := csv.JournalRowOf(&rows[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := enc.Encode(row); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String(), journal.NewKeys(s.PublicKey())
}

// verifyCSV decodes and verifies an export, as `royalty verify` does.
func verifyCSV(text string, keys journal.Keys) (journal.Summary, error) {
	dec := csv.NewJournalDecoder(strings.NewReader(text))
	v := journal.NewVerifier(keys, journal.VerifyOptions{})
	var r journal.Row
	for {
		err := dec.DecodeRow(&r)
		if errors.Is(err, io.EOF) {
			return v.Close()
		}
		if re, ok := journal.IsRowError(err); ok {
			return journal.Summary{}, v.Fail(re)
		}
		if err != nil {
			return journal.Summary{}, err
		}
		if err := v.Add(&r); err != nil {
			return journal.Summary{}, err
		}
	}
}

// lines splits an export into its header and data rows (no cell here spans lines).
func lines(text string) []string { return strings.SplitAfter(strings.TrimSuffix(text, "\r\n"), "\r\n") }

func TestChainRoundTrip(t *testing.T) {
	text, keys := exportCSV(t, 6, 3, 6)
	sum, err := verifyCSV(text, keys)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows != 18 || sum.Sealed != 6 || sum.Checkpoints != 2 {
		t.Fatalf("summary = %+v", sum)
	}
	ls := lines(text)
	// Row 9 ends transaction 2 and carries the first checkpoint.
	cells := strings.Split(strings.TrimSuffix(ls[9], "\r\n"), ",")
	if len(cells) != len(csv.JournalColumns) || cells[12] != "3" || cells[14] == "" || cells[16] == "" {
		t.Fatalf("row 9 = %q", ls[9])
	}
}

// TestTamperedCSV edits the text of an export the way a person with a text editor or a
// spreadsheet would, and checks that verification fails at the right row.
func TestTamperedCSV(t *testing.T) {
	text, keys := exportCSV(t, 6, 3, 6)
	ls := lines(text)
	// Rows: transaction 0 is rows 1-2, 1 is 3-5, 2 is 6-9 (checkpoint 3 on row 9), 3 is 10-11,
	// 4 is 12-14, 5 is 15-18 (checkpoint 6 on row 18).
	join := func(ls []string) string { return strings.Join(ls, "") + "\r\n" }
	edit := func(row int, f func(cells []string)) string {
		c := append([]string(nil), ls...)
		cells := strings.Split(strings.TrimSuffix(c[row], "\r\n"), ",")
		f(cells)
		c[row] = strings.Join(cells, ",")
		if row < len(c)-1 {
			c[row] += "\r\n"
		}
		return join(c)
	}
	without := func(rows ...int) string {
		var c []string
		for i, l := range ls {
			skip := false
			for _, r := range rows {
				skip = skip || i == r
			}
			if !skip {
				c = append(c, strings.TrimSuffix(l, "\r\n")+"\r\n")
			}
		}
		return strings.TrimSuffix(strings.Join(c, ""), "\r\n") + "\r\n"
	}
	swap := func(i, j int) string {
		c := make([]string, len(ls))
		for k, l := range ls {
			c[k] = strings.TrimSuffix(l, "\r\n")
		}
		c[i], c[j] = c[j], c[i]
		return strings.Join(c, "\r\n") + "\r\n"
	}
	insertAfter := func(i int, line string) string {
		var c []string
		for k, l := range ls {
			c = append(c, strings.TrimSuffix(l, "\r\n"))
			if k == i {
				c = append(c, strings.TrimSuffix(line, "\r\n"))
			}
		}
		return strings.Join(c, "\r\n") + "\r\n"
	}
	tests := []struct {
		name    string
		text    string
		wantRow uint64
		sig     bool
	}{
		{"changed amount", edit(7, func(c []string) { c[6] = "-0.000000000203" }), 7, false},
		{"amount with a trailing zero is the same amount", edit(7, func(c []string) { c[6] += "0" }), 0, false},
		{"dropped row", without(7), 7, false},
		{"dropped first row", without(1), 1, false},
		{"added row", insertAfter(7, ls[7]), 8, false},
		{"added row at the end", insertAfter(18, ls[17]), 19, false},
		{"swapped rows", swap(10, 11), 10, false},
		{"swapped rows of two transactions", swap(9, 10), 9, false},
		{"altered checkpoint signature", edit(9, func(c []string) {
			// A middle character: the first may be a neutralisation prefix (base64 has '+').
			sig := []byte(c[16])
			if i := len(sig) / 2; sig[i] == 'A' {
				sig[i] = 'B'
			} else {
				sig[i] = 'A'
			}
			c[16] = string(sig)
		}), 9, true},
		{"changed idempotency key", edit(12, func(c []string) { c[7] = "5b0c8a52-0000-4000-8000-000000000001:-r9" }), 12, false},
		{"cell that is not a number", edit(4, func(c []string) { c[6] = "abc" }), 4, false},
		{"partial checkpoint cells", edit(18, func(c []string) { c[15] = "" }), 18, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := verifyCSV(tt.text, keys)
			if tt.wantRow == 0 {
				if err != nil {
					t.Fatalf("verification failed: %v", err)
				}
				return
			}
			re, ok := journal.IsRowError(err)
			if !ok || re.Row != tt.wantRow {
				t.Fatalf("error = %v, want one at row %d", err, tt.wantRow)
			}
			if errors.Is(err, journal.ErrSignature) != tt.sig {
				t.Fatalf("signature error = %v, want %v", errors.Is(err, journal.ErrSignature), tt.sig)
			}
		})
	}
}

func TestDecoderHeader(t *testing.T) {
	tests := map[string]string{
		"empty":            "",
		"old export":       "transaction_id,created_at,kind,account,account_type,currency,amount,idempotency_key,reverses\r\n",
		"other columns":    "a,b\r\n",
		"not csv":          "\"a\r\n",
		"reordered header": strings.Replace(strings.Join(csv.JournalColumns, ","), "kind,account", "account,kind", 1) + "\r\n",
	}
	for name, text := range tests {
		var r csv.JournalRow
		err := csv.NewJournalDecoder(strings.NewReader(text)).Decode(&r)
		if re, ok := journal.IsRowError(err); !ok || re.Row != 0 {
			t.Errorf("%s: %v, want an error about the header (row 0)", name, err)
		}
	}
	var r csv.JournalRow
	if err := csv.NewJournalDecoder(strings.NewReader(strings.Join(csv.JournalColumns, ",") + "\r\n")).Decode(&r); !errors.Is(err, io.EOF) {
		t.Fatalf("header only: %v, want io.EOF", err)
	}
}
