package journal_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/ledger/journal"
)

// entries returns n balanced transactions with 2 to 4 postings each.
func entries(n int) []journal.Entry {
	var out []journal.Entry
	for i := 0; i < n; i++ {
		e := journal.Entry{
			TransactionID:  fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
			CreatedAt:      at.Add(time.Duration(i) * time.Second),
			Kind:           "usage",
			IdempotencyKey: fmt.Sprintf("5b0c8a52-0000-4000-8000-000000000001:r%d", i),
		}
		k := 2 + i%3
		total := decimal.Zero
		for j := 1; j < k; j++ {
			a := decimal.New(int64(100*i+j), -6)
			total = total.Add(a)
			e.Postings = append(e.Postings, journal.Posting{Account: fmt.Sprintf("contributor:%d", j), AccountType: "contributor", Currency: "USD", Amount: a.Neg()})
		}
		e.Postings = append([]journal.Posting{{Account: "provider:p", AccountType: "provider", Currency: "USD", Amount: total}}, e.Postings...)
		out = append(out, e)
	}
	return out
}

// exportRows builds the rows an export of es has, with a checkpoint signed by s after each
// size in cps.
func exportRows(t testing.TB, es []journal.Entry, s *journal.Signer, cps ...uint64) []journal.Row {
	t.Helper()
	var rows []journal.Row
	var f journal.Frontier
	var h journal.PostingHasher
	for i := range es {
		e := &es[i]
		_, leaf, err := journal.EntryLeaf(e)
		if err != nil {
			t.Fatal(err)
		}
		header, _ := journal.AppendHeader(nil, e)
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
				cp, err := s.Sign(size, f.Root(), at.Add(time.Duration(size)*time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				rows[len(rows)-1].Checkpoint = &cp
			}
		}
	}
	return rows
}

func verifyRows(keys journal.Keys, opts journal.VerifyOptions, rows []journal.Row) (journal.Summary, error) {
	v := journal.NewVerifier(keys, opts)
	for i := range rows {
		if err := v.Add(&rows[i]); err != nil {
			return journal.Summary{}, err
		}
	}
	return v.Close()
}

func unsealedRows(es []journal.Entry) []journal.Row {
	var rows []journal.Row
	for _, e := range es {
		for _, p := range e.Postings {
			rows = append(rows, journal.Row{TransactionID: e.TransactionID, CreatedAt: e.CreatedAt, Kind: e.Kind,
				Account: p.Account, AccountType: p.AccountType, Currency: p.Currency, Amount: journal.FormatAmount(p.Amount), IdempotencyKey: e.IdempotencyKey})
		}
	}
	return rows
}

// The layout of exportRows(entries(5), s, 2, 4, 5): transaction 0 is rows 1-2, 1 is 3-5, 2 is
// 6-9, 3 is 10-11, 4 is 12-14; checkpoints on rows 5, 11 and 14.
func TestVerifierNamesTheRow(t *testing.T) {
	priv, _ := journal.GenerateKey(nil)
	s := journal.NewSigner(priv)
	keys := journal.NewKeys(s.PublicKey())
	good := exportRows(t, entries(5), s, 2, 4, 5)
	if len(good) != 14 || good[4].Checkpoint == nil || good[10].Checkpoint == nil || good[13].Checkpoint == nil {
		t.Fatalf("unexpected layout: %d rows", len(good))
	}
	sum, err := verifyRows(keys, journal.VerifyOptions{}, good)
	if err != nil {
		t.Fatalf("the untouched export: %v", err)
	}
	if sum.Rows != 14 || sum.Sealed != 5 || sum.Checkpoints != 3 || sum.Newest.Size != 5 {
		t.Fatalf("summary = %+v", sum)
	}

	clone := func() []journal.Row { return append([]journal.Row(nil), good...) }
	drop := func(rows []journal.Row, i int) []journal.Row { return append(rows[:i-1], rows[i:]...) }
	insert := func(rows []journal.Row, i int, r journal.Row) []journal.Row {
		return append(rows[:i-1], append([]journal.Row{r}, rows[i-1:]...)...)
	}
	swap := func(rows []journal.Row, i, j int) []journal.Row {
		rows[i-1], rows[j-1] = rows[j-1], rows[i-1]
		return rows
	}
	otherPriv, _ := journal.GenerateKey(nil)
	other := journal.NewSigner(otherPriv)

	tests := []struct {
		name    string
		rows    func() []journal.Row
		keys    journal.Keys
		opts    journal.VerifyOptions
		wantRow uint64
		wantSig bool
	}{
		{name: "changed amount", rows: func() []journal.Row {
			r := clone()
			r[6].Amount = decimal.RequireFromString(r[6].Amount).Add(decimal.New(1, -12)).String()
			return r
		}, wantRow: 7},
		{name: "changed account", rows: func() []journal.Row { r := clone(); r[1].Account = "contributor:9"; return r }, wantRow: 2},
		{name: "changed kind of a first row", rows: func() []journal.Row { r := clone(); r[9].Kind = "payout"; return r }, wantRow: 10},
		{name: "changed time", rows: func() []journal.Row { r := clone(); r[11].CreatedAt = r[11].CreatedAt.Add(time.Microsecond); return r }, wantRow: 12},
		{name: "dropped middle posting", rows: func() []journal.Row { return drop(clone(), 7) }, wantRow: 7},
		{name: "dropped last posting of a transaction", rows: func() []journal.Row { return drop(clone(), 9) }, wantRow: 9},
		{name: "dropped first row", rows: func() []journal.Row { return drop(clone(), 1) }, wantRow: 1},
		{name: "dropped last row", rows: func() []journal.Row { return drop(clone(), 14) }, wantRow: 14},
		{name: "dropped transaction", rows: func() []journal.Row { return drop(drop(clone(), 10), 10) }, wantRow: 10},
		{name: "added duplicate row", rows: func() []journal.Row { r := clone(); return insert(r, 8, good[6]) }, wantRow: 8},
		{name: "added row between transactions", rows: func() []journal.Row {
			r := clone()
			x := good[5]
			x.Amount = "1"
			return insert(r, 10, x)
		}, wantRow: 10},
		{name: "added row at the end", rows: func() []journal.Row { r := clone(); return append(r, good[13]) }, wantRow: 15},
		{name: "added unsealed row at the end", rows: func() []journal.Row { return append(clone(), unsealedRows(entries(1))...) }, wantRow: 15},
		{name: "swapped postings", rows: func() []journal.Row { return swap(clone(), 6, 7) }, wantRow: 6},
		{name: "swapped across transactions", rows: func() []journal.Row { return swap(clone(), 9, 10) }, wantRow: 9},
		{name: "swapped transactions", rows: func() []journal.Row {
			r := clone()
			return append(append(append(r[:3:3], good[3:5]...), append(good[9:11:11], good[5:9]...)...), good[11:]...)
		}, wantRow: 6},
		{name: "altered signature", rows: func() []journal.Row {
			r := clone()
			cp := *r[10].Checkpoint
			cp.Signature = append([]byte(nil), cp.Signature...)
			cp.Signature[5] ^= 0x40
			r[10].Checkpoint = &cp
			return r
		}, wantRow: 11, wantSig: true},
		{name: "checkpoint signed by another key", rows: func() []journal.Row { return exportRows(t, entries(5), other, 2, 4, 5) }, wantRow: 5, wantSig: true},
		{name: "untrusted key", rows: clone, keys: journal.NewKeys(other.PublicKey()), wantRow: 5, wantSig: true},
		{name: "altered checkpoint root", rows: func() []journal.Row {
			r := clone()
			cp := *r[4].Checkpoint
			cp.Root[0] ^= 1
			r[4].Checkpoint = &cp
			return r
		}, wantRow: 5},
		{name: "checkpoint removed from the end", rows: func() []journal.Row { r := clone(); r[13].Checkpoint = nil; return r }, wantRow: 15},
		{name: "checkpoint moved up a row", rows: func() []journal.Row {
			r := clone()
			r[9].Checkpoint, r[10].Checkpoint = r[10].Checkpoint, nil
			return r
		}, wantRow: 10},
		{name: "recomputed hashes after a change", rows: func() []journal.Row {
			es := entries(5)
			es[1].Postings[0].Amount = es[1].Postings[0].Amount.Add(decimal.New(1, -6))
			es[1].Postings[1].Amount = es[1].Postings[1].Amount.Sub(decimal.New(1, -6))
			forged := exportRows(t, es, other, 2, 4, 5)
			r := clone()
			for i := 2; i < 5; i++ { // rows 3 to 5 with recomputed hashes, the signed checkpoint kept
				cp := r[i].Checkpoint
				r[i] = forged[i]
				r[i].Checkpoint = cp
			}
			return r
		}, wantRow: 5},
		{name: "export not from the start", rows: func() []journal.Row { return clone()[3:] }, wantRow: 1},
		{name: "cut at a checkpoint with a minimum size", rows: func() []journal.Row { return clone()[:11] }, opts: journal.VerifyOptions{MinSize: 5}, wantRow: 12},
		{name: "unbalanced unsealed transaction", rows: func() []journal.Row {
			u := unsealedRows(entries(2))
			u[1].Amount = "5"
			return append(clone(), u...)
		}, opts: journal.VerifyOptions{AllowUnsealed: true}, wantRow: 17},
		{name: "sealed row after unsealed rows", rows: func() []journal.Row {
			return append(append(clone()[:11], unsealedRows(entries(1))...), good[11:]...)
		}, opts: journal.VerifyOptions{AllowUnsealed: true}, wantRow: 14},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := tt.keys
			if k == nil {
				k = keys
			}
			_, err := verifyRows(k, tt.opts, tt.rows())
			re, ok := journal.IsRowError(err)
			if !ok {
				t.Fatalf("verification = %v, want a row error", err)
			}
			if re.Row != tt.wantRow {
				t.Fatalf("error at row %d, want row %d: %v", re.Row, tt.wantRow, err)
			}
			if got := errors.Is(err, journal.ErrSignature); got != tt.wantSig {
				t.Fatalf("signature error = %v, want %v: %v", got, tt.wantSig, err)
			}
		})
	}
}

func TestVerifierAllowsUnsealedTail(t *testing.T) {
	priv, _ := journal.GenerateKey(nil)
	s := journal.NewSigner(priv)
	rows := append(exportRows(t, entries(3), s, 3), unsealedRows(entries(2))...)
	sum, err := verifyRows(journal.NewKeys(s.PublicKey()), journal.VerifyOptions{AllowUnsealed: true}, rows)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sealed != 3 || sum.Unsealed != 2 || sum.UnsealedRows != 5 || sum.Transactions != 5 {
		t.Fatalf("summary = %+v", sum)
	}
	// Only unsealed rows, and nothing at all, are fine too.
	if _, err := verifyRows(nil, journal.VerifyOptions{AllowUnsealed: true}, unsealedRows(entries(2))); err != nil {
		t.Fatal(err)
	}
	if sum, err := verifyRows(nil, journal.VerifyOptions{}, nil); err != nil || sum.Rows != 0 {
		t.Fatalf("empty export: %+v, %v", sum, err)
	}
}

func TestVerifierKeepsFirstError(t *testing.T) {
	priv, _ := journal.GenerateKey(nil)
	s := journal.NewSigner(priv)
	rows := exportRows(t, entries(3), s, 3)
	rows[0].Amount = "3"
	v := journal.NewVerifier(journal.NewKeys(s.PublicKey()), journal.VerifyOptions{})
	var first error
	for i := range rows {
		if err := v.Add(&rows[i]); err != nil && first == nil {
			first = err
		}
	}
	_, err := v.Close()
	if first == nil || err != first || !strings.HasPrefix(err.Error(), "row 1:") {
		t.Fatalf("first = %v, Close = %v", first, err)
	}
}
