package csv_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/ledger/csv"
	"github.com/openroyalty/royalty/ledger/journal"
)

// FuzzJournalDecoder feeds the decoder of `royalty verify` arbitrary files, starting from a
// real export: it never panics, every error is a *journal.RowError naming the row just read
// (0 for the header), rows are numbered from 1 without gaps, and a row it accepts has a plain
// decimal amount.
func FuzzJournalDecoder(f *testing.F) {
	exported, _ := exportCSV(f, 6, 3, 6) // a real export: chain fields, checkpoints
	f.Add([]byte(exported))
	f.Add([]byte(strings.Replace(exported, ",provider:", ",=provider:", 1)))
	header, _, _ := strings.Cut(exported, "\n")
	f.Add([]byte(header + "\n"))
	f.Add([]byte(header + "\n\"unterminated\n"))
	f.Add([]byte(header + "\na,b\n"))
	f.Add([]byte(""))
	f.Add([]byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := csv.NewJournalDecoder(bytes.NewReader(data))
		for rows := uint64(0); ; {
			var r csv.JournalRow
			err := d.Decode(&r)
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				var re *journal.RowError
				if !errors.As(err, &re) {
					t.Fatalf("error %v (%T) names no row", err, err)
				}
				if re.Row != d.Row() && !(re.Row == 0 && rows == 0) {
					t.Fatalf("error names row %d after %d rows were read (decoder at %d): %v", re.Row, rows, d.Row(), err)
				}
				return
			}
			rows++
			if d.Row() != rows {
				t.Fatalf("row %d numbered %d", rows, d.Row())
			}
			if _, err := decimal.NewFromString(r.Amount.String()); err != nil {
				t.Fatalf("accepted amount %v does not print as a decimal", r.Amount)
			}
		}
	})
}
