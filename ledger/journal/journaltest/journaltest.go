// Package journaltest builds journal exports in memory for tests of the packages that write,
// read and verify them.
package journaltest

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/ledger/journal"
)

// Start is the created_at of the first entry of Entries.
var Start = time.Date(2026, 3, 4, 5, 6, 7, 890123000, time.UTC)

// Entries returns n balanced transactions of 2 to 4 postings each (transaction i has 2 + i%3),
// with idempotency keys that need neutralizing in a spreadsheet and identity keys with slashes.
func Entries(n int) []journal.Entry {
	var out []journal.Entry
	for i := 0; i < n; i++ {
		e := journal.Entry{
			TransactionID:  fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
			CreatedAt:      Start.Add(time.Duration(i) * time.Second),
			Kind:           "usage",
			IdempotencyKey: fmt.Sprintf("5b0c8a52-0000-4000-8000-000000000001:-r%d", i),
		}
		k := 2 + i%3
		total := decimal.Zero
		for j := 1; j < k; j++ {
			a := decimal.New(int64(100*i+j), -12)
			total = total.Add(a)
			e.Postings = append(e.Postings, journal.Posting{Account: fmt.Sprintf("escrow:hn:/user%d", j), AccountType: "identity_escrow", Currency: "USD", Amount: a.Neg()})
		}
		e.Postings = append([]journal.Posting{{Account: "provider:5b0c8a52-0000-4000-8000-000000000001", AccountType: "provider", Currency: "USD", Amount: total}}, e.Postings...)
		out = append(out, e)
	}
	return out
}

// Rows returns the rows of an export of es, sealed at positions 0.., with a checkpoint signed by
// s on the last row of each size in cps.
func Rows(es []journal.Entry, s *journal.Signer, cps ...uint64) ([]journal.Row, error) {
	var rows []journal.Row
	var f journal.Frontier
	var h journal.PostingHasher
	for i := range es {
		e := &es[i]
		_, leaf, err := journal.EntryLeaf(e)
		if err != nil {
			return nil, err
		}
		header, err := journal.AppendHeader(nil, e)
		if err != nil {
			return nil, err
		}
		h.Reset(header)
		f.Append(leaf, nil)
		for k, p := range e.Postings {
			rows = append(rows, journal.Row{
				TransactionID: e.TransactionID, CreatedAt: e.CreatedAt, Kind: e.Kind, Account: p.Account,
				AccountType: p.AccountType, Currency: p.Currency, Amount: journal.FormatAmount(p.Amount), IdempotencyKey: e.IdempotencyKey,
				Reverses: e.Reverses, Sealed: true, JournalIndex: uint64(i), LeafHash: leaf,
				PostingHash: h.Sum(k, p.Account, p.AccountType, p.Currency, journal.FormatAmount(p.Amount)),
			})
		}
		for _, size := range cps {
			if size == f.Size() {
				cp, err := s.Sign(size, f.Root(), Start.Add(time.Duration(size)*time.Minute))
				if err != nil {
					return nil, err
				}
				rows[len(rows)-1].Checkpoint = &cp
			}
		}
	}
	return rows, nil
}
