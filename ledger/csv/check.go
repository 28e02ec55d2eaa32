package csv

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"

	"github.com/shopspring/decimal"
)

// JournalTotals is what CheckJournal found in an export.
type JournalTotals struct {
	Rows         int
	Transactions int
	// ByType sums the amounts per account type and currency, keyed "type/currency": the balance
	// column of the trial balance.
	ByType map[string]decimal.Decimal
}

// TypeKeys returns the keys of ByType, sorted.
func (t JournalTotals) TypeKeys() []string {
	keys := make([]string, 0, len(t.ByType))
	for k := range t.ByType {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// CheckJournal reads a journal export and checks that it is well formed and balanced: the
// header is JournalColumns, every amount is a plain decimal, and the postings of every
// transaction, and of the whole file, sum to zero per currency. It returns the totals per
// account type and currency, to compare with a trial balance.
func CheckJournal(r io.Reader) (JournalTotals, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(JournalColumns)
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return JournalTotals{}, fmt.Errorf("reading the header: %w", err)
	}
	for i, c := range JournalColumns {
		if head[i] != c {
			return JournalTotals{}, fmt.Errorf("header column %d is %q, want %q", i+1, head[i], c)
		}
	}
	t := JournalTotals{ByType: map[string]decimal.Decimal{}}
	perTx := map[string]map[string]decimal.Decimal{} // transaction → currency → sum
	perCurrency := map[string]decimal.Decimal{}
	var txOrder []string // transactions in the order they first appear
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return t, err
		}
		t.Rows++
		tx, typ, cur := rec[0], rec[4], rec[5]
		amount, err := decimal.NewFromString(rec[6])
		if err != nil {
			return t, fmt.Errorf("row %d: amount %q: %w", t.Rows, rec[6], err)
		}
		if perTx[tx] == nil {
			perTx[tx] = map[string]decimal.Decimal{}
			txOrder = append(txOrder, tx)
		}
		perTx[tx][cur] = perTx[tx][cur].Add(amount)
		perCurrency[cur] = perCurrency[cur].Add(amount)
		t.ByType[typ+"/"+cur] = t.ByType[typ+"/"+cur].Add(amount)
	}
	t.Transactions = len(perTx)
	// The first unbalanced transaction in file order is named, so that the same export always
	// gives the same error.
	for _, tx := range txOrder {
		sums := perTx[tx]
		for _, cur := range slices.Sorted(maps.Keys(sums)) {
			if s := sums[cur]; !s.IsZero() {
				return t, fmt.Errorf("transaction %s sums to %s %s, not zero", tx, s, cur)
			}
		}
	}
	for _, cur := range slices.Sorted(maps.Keys(perCurrency)) {
		if s := perCurrency[cur]; !s.IsZero() {
			return t, fmt.Errorf("the journal sums to %s %s, not zero", s, cur)
		}
	}
	return t, nil
}
