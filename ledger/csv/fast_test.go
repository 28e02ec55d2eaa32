package csv_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/ledger/csv"
	"github.com/openroyalty/royalty/ledger/journal"
)

// FuzzEncodeRow checks that the export's fast path writes exactly what the encoding/csv path
// writes for the same row, whatever the text cells hold.
func FuzzEncodeRow(f *testing.F) {
	f.Add("usage", "escrow:hn:/a,b", `=HYPERLINK("x")`, "", "-0.0006", true, true)
	f.Add(" lead", "say \"hi\"\nthere", "'q", "\\.", "12", false, false)
	f.Add("\r\n", "\t", "@x", "+1", "0.5", true, false)
	f.Fuzz(func(t *testing.T, kind, account, key, reverses, amount string, sealed, cp bool) {
		d, err := decimal.NewFromString(amount)
		if err != nil {
			return
		}
		r := journal.Row{
			TransactionID: "7a3c5e0e-1b2d-4c5f-9a8b-0123456789ab", CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 600000, time.UTC),
			Kind: kind, Account: account, AccountType: "provider", Currency: "USD", Amount: journal.FormatAmount(d),
			IdempotencyKey: key, Reverses: reverses, Sealed: sealed,
		}
		if sealed {
			r.JournalIndex, r.PostingHash[0], r.LeafHash[1] = 7, 1, 2
			if cp {
				r.Checkpoint = &journal.Checkpoint{Size: 8, Time: r.CreatedAt, KeyID: key, Signature: []byte{0xfb, 0xff}}
			}
		}
		var fast, slow bytes.Buffer
		fe, se := csv.NewJournalEncoder(&fast), csv.NewJournalEncoder(&slow)
		row, err := csv.JournalRowOf(&r)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ { // the second row reuses the cached transaction cells
			if err := fe.EncodeRow(&r); err != nil {
				t.Fatal(err)
			}
			if err := se.Encode(row); err != nil {
				t.Fatal(err)
			}
		}
		if err := fe.Close(); err != nil {
			t.Fatal(err)
		}
		if err := se.Close(); err != nil {
			t.Fatal(err)
		}
		if fast.String() != slow.String() {
			t.Fatalf("EncodeRow wrote\n%q\nEncode wrote\n%q", fast.String(), slow.String())
		}
	})
}
