package journal_test

import (
	"strings"
	"testing"
	"time"

	"github.com/openroyalty/royalty/ledger/journal"
)

func TestLeafView(t *testing.T) {
	e := sampleEntry()
	e.Reverses = "x\\y\rz"
	data, err := journal.LeafData(&e)
	if err != nil {
		t.Fatal(err)
	}
	var v journal.LeafView
	if err := v.Parse(string(data)); err != nil {
		t.Fatal(err)
	}
	header, _ := journal.AppendHeader(nil, &e)
	if v.Header != string(header) || v.TransactionID != e.TransactionID || !v.CreatedAt.Equal(e.CreatedAt) ||
		v.Kind != e.Kind || v.IdempotencyKey != e.IdempotencyKey || v.Reverses != e.Reverses || len(v.Postings) != len(e.Postings) {
		t.Fatalf("view %+v of %+v", v, e)
	}
	var want, got journal.PostingHasher
	want.Reset(header)
	got.ResetString(v.Header)
	for k, p := range e.Postings {
		pv := v.Postings[k]
		amount := journal.FormatAmount(p.Amount)
		if pv.Account != p.Account || pv.AccountType != p.AccountType || pv.Currency != p.Currency || pv.Amount != amount ||
			pv.Line != string(journal.AppendPosting(nil, p.Account, p.AccountType, p.Currency, amount)) {
			t.Fatalf("posting %d: view %+v of %+v", k, pv, p)
		}
		if got.SumLine(k, pv.Line) != want.Sum(k, p.Account, p.AccountType, p.Currency, amount) {
			t.Fatalf("posting %d: SumLine differs from Sum", k)
		}
	}
	// A leap day parses.
	leap := strings.Replace(string(data), "2026-03-04T", "2024-02-29T", 1)
	if err := v.Parse(leap); err != nil || v.CreatedAt != time.Date(2024, 2, 29, 5, 6, 7, 890123000, time.UTC) {
		t.Fatalf("leap day: %v, %v", err, v.CreatedAt)
	}
	// Reused for a shorter transaction, it holds only that one's postings.
	e.Postings = e.Postings[:2]
	data, _ = journal.LeafData(&e)
	if err := v.Parse(string(data)); err != nil || len(v.Postings) != 2 {
		t.Fatalf("reused view: %v, %d postings", err, len(v.Postings))
	}
}

func TestLeafViewRejects(t *testing.T) {
	e := sampleEntry()
	data, _ := journal.LeafData(&e)
	good := string(data)
	tests := map[string]string{
		"no final newline":    strings.TrimSuffix(good, "\n"),
		"other format":        strings.Replace(good, "royalty-journal-v1", "royalty-journal-v2", 1),
		"non-canonical":       strings.Replace(good, "0.0006", "0.00060", 1),
		"leading zero":        strings.Replace(good, "0.0006", "00.0006", 1),
		"minus zero":          strings.Replace(good, "-0.0005", "-0", 1),
		"bad escape":          strings.Replace(good, `\t1`, `\q1`, 1),
		"raw carriage return": strings.Replace(good, `\t1`, "\r1", 1),
		"missing field":       strings.Replace(good, "\tprovider\t", "\t", 1),
		"extra field":         strings.Replace(good, "\tprovider\t", "\tprovider\tx\t", 1),
		"no postings":         strings.SplitAfterN(good, "\n", 3)[0] + strings.SplitAfterN(good, "\n", 3)[1],
		"empty line":          good + "\n",
		"time not canonical":  strings.Replace(good, "07.890123Z", "07.89Z", 1),
		"time not UTC":        strings.Replace(good, "07.890123Z", "07.890123+01:00", 1),
		"impossible date":     strings.Replace(good, "2026-03-04T", "2026-02-29T", 1),
		"hour 24":             strings.Replace(good, "T05:06:07", "T24:06:07", 1),
		"second 60":           strings.Replace(good, "T05:06:07", "T05:06:60", 1),
		"signed digit":        strings.Replace(good, "T05:06:07", "T05:06:+7", 1),
		"amount not a number": strings.Replace(good, "-0.0005", "x", 1),
	}
	for name, in := range tests {
		var v journal.LeafView
		if err := v.Parse(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := journal.ParseLeafData([]byte(in)); err == nil {
			t.Errorf("%s: ParseLeafData accepts it", name)
		}
	}
}

// FuzzLeafView holds LeafView to ParseLeafData: the same texts are accepted, with the same
// fields, and every line is what the encoder writes for those fields.
func FuzzLeafView(f *testing.F) {
	e := sampleEntry()
	data, _ := journal.LeafData(&e)
	f.Add(string(data))
	f.Add(strings.Replace(string(data), "0.0006", "1e3", 1))
	f.Add(strings.Replace(string(data), "\t\n", "\tr\\\\x\\r\n", 1))
	f.Fuzz(func(t *testing.T, text string) {
		var v journal.LeafView
		verr := v.Parse(text)
		e, perr := journal.ParseLeafData([]byte(text))
		if (verr == nil) != (perr == nil) {
			t.Fatalf("LeafView.Parse: %v, ParseLeafData: %v, on %q", verr, perr, text)
		}
		if verr != nil {
			return
		}
		header, _ := journal.AppendHeader(nil, &e)
		if v.Header != string(header) || v.TransactionID != e.TransactionID || !v.CreatedAt.Equal(e.CreatedAt) ||
			v.Kind != e.Kind || v.IdempotencyKey != e.IdempotencyKey || v.Reverses != e.Reverses || len(v.Postings) != len(e.Postings) {
			t.Fatalf("view %+v, entry %+v", v, e)
		}
		for k, p := range e.Postings {
			pv := v.Postings[k]
			amount := journal.FormatAmount(p.Amount)
			if pv.Account != p.Account || pv.AccountType != p.AccountType || pv.Currency != p.Currency || pv.Amount != amount ||
				pv.Line != string(journal.AppendPosting(nil, p.Account, p.AccountType, p.Currency, amount)) {
				t.Fatalf("posting %d: view %+v, entry %+v", k, pv, p)
			}
		}
	})
}
