package soak

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/ledger"
	royaltycsv "github.com/openroyalty/royalty/ledger/csv"
	"github.com/openroyalty/royalty/ledger/ledgertest"
)

// Result is what Check found.
type Result struct {
	// Writes counts the writes of the log per kind.
	Writes map[ledger.Kind]int
	// Acked counts the writes acknowledged while the load ran; Settled those whose outcome
	// only the settling retry learned; Refused those refused; Unknown those still unknown.
	Acked, Settled, Refused, Unknown map[ledger.Kind]int
	// Lost counts acknowledged writes missing from the books (or booked otherwise than
	// acknowledged); Duplicated counts bookings beyond the first of a write, bookings of a
	// refused write, and bookings under keys no client sent.
	Lost, Duplicated int
	// Problems describes every violation, lost and duplicated ones included.
	Problems []string
}

func newResult() Result {
	return Result{Writes: map[ledger.Kind]int{}, Acked: map[ledger.Kind]int{}, Settled: map[ledger.Kind]int{},
		Refused: map[ledger.Kind]int{}, Unknown: map[ledger.Kind]int{}}
}

// Check holds the log against the books read from the ledger (ledgertest.Read or Check):
//   - an acknowledged write is booked exactly once, as the transaction acknowledged, with the
//     amount and currency sent (a usage's revenue debited to its provider, a payout's amount
//     taken from its contributor) and, for a reversal, reversing the transaction named;
//   - a refused write is not booked;
//   - a write whose outcome is still unknown is booked at most once;
//   - every usage, payout or reversal transaction of a principal for which covered returns true
//     is a write of the log (nothing was booked that no client sent).
//
// It also reports the problems the log found while it was fed (Log.Problems).
func Check(l *Log, books *ledgertest.Books, covered func(principal string) bool) Result {
	r := newResult()
	byKey := map[Key][]ledger.Transaction{}
	for _, t := range books.Transactions {
		k := Key{Kind: t.Kind, Principal: t.PrincipalID, RequestID: t.RequestID}
		byKey[k] = append(byKey[k], t)
	}
	bad := func(format string, args ...any) { r.Problems = append(r.Problems, fmt.Sprintf(format, args...)) }
	seen := map[Key]bool{}
	for _, w := range l.Writes() {
		seen[w.Key] = true
		r.Writes[w.Kind]++
		r.Duplicated += w.Duplicates
		txs := byKey[w.Key]
		if len(txs) > 1 {
			r.Duplicated += len(txs) - 1
			bad("%v: booked %d times", w.Key, len(txs))
		}
		switch w.Outcome {
		case Acked:
			if w.Settled {
				r.Settled[w.Kind]++
			} else {
				r.Acked[w.Kind]++
			}
			var booked *ledger.Transaction
			for i := range txs {
				if txs[i].ID == w.Tx {
					booked = &txs[i]
				}
			}
			switch {
			case len(txs) == 0:
				r.Lost++
				bad("%v: acknowledged as %s, not in the books", w.Key, w.Tx)
			case booked == nil:
				r.Lost++
				bad("%v: acknowledged as %s, booked as %s", w.Key, w.Tx, txs[0].ID)
			default:
				if err := matches(w, *booked); err != nil {
					r.Lost++
					bad("%v: booked otherwise than sent: %v", w.Key, err)
				}
			}
		case Refused:
			r.Refused[w.Kind]++
			if len(txs) > 0 {
				r.Duplicated += len(txs)
				bad("%v: refused with %v, yet booked as %s", w.Key, w.Code, txs[0].ID)
			}
		default:
			r.Unknown[w.Kind]++
		}
	}
	var phantoms []string
	for k, txs := range byKey {
		switch k.Kind {
		case ledger.KindUsage, ledger.KindPayout, ledger.KindReversal:
		default:
			continue
		}
		if !seen[k] && covered(k.Principal) {
			r.Duplicated += len(txs)
			phantoms = append(phantoms, fmt.Sprintf("%v: booked as %s, but no client sent it", k, txs[0].ID))
		}
	}
	sort.Strings(phantoms)
	r.Problems = append(r.Problems, phantoms...)
	r.Problems = append(r.Problems, l.Problems()...)
	return r
}

// matches checks that a booked transaction is the write that was sent.
func matches(w Write, t ledger.Transaction) error {
	switch w.Kind {
	case ledger.KindUsage:
		// A usage of a model version with lineage also debits the provider the feedback share,
		// credited to feedback pools in the same transaction: the provider's debits less those
		// credits are the revenue.
		var debited, pools decimal.Decimal
		n := 0
		for _, p := range t.Postings {
			switch p.Type {
			case ledger.AccountProvider:
				if p.Currency != w.Currency {
					return fmt.Errorf("the provider was debited %s %s, the report said %s %s", p.Amount, p.Currency, w.Amount, w.Currency)
				}
				debited, n = debited.Add(p.Amount), n+1
			case ledger.AccountFeedbackPool:
				pools = pools.Add(p.Amount)
			}
		}
		if n == 0 {
			return errors.New("no provider debit")
		}
		if !debited.Add(pools).Equal(w.Amount) {
			return fmt.Errorf("the provider was debited %s %s (%s of it for feedback pools), the report said %s %s", debited, w.Currency, pools.Neg(), w.Amount, w.Currency)
		}
		return nil
	case ledger.KindPayout:
		for _, p := range t.Postings {
			if p.Type == ledger.AccountContributor {
				if p.Currency != w.Currency || (!w.Amount.IsZero() && !p.Amount.Equal(w.Amount)) {
					return fmt.Errorf("paid out %s %s, requested %s %s", p.Amount, p.Currency, w.Amount, w.Currency)
				}
				return nil
			}
		}
		return errors.New("no contributor debit")
	case ledger.KindReversal:
		if t.Reverses != w.RequestID {
			return fmt.Errorf("reverses %s, the request named %s", t.Reverses, w.RequestID)
		}
	}
	return nil
}

// Export is one journal export read to its end: the postings of each transaction, and when
// the client asked for it.
type Export struct {
	Started      time.Time
	Transactions map[string][]ledger.Posting
	Rows         int
}

// ReadExport reads a journal export (package csv's format), checking with csv.CheckJournal that
// it is well formed and balances per transaction and currency.
func ReadExport(data []byte, started time.Time) (Export, error) {
	if _, err := royaltycsv.CheckJournal(bytes.NewReader(data)); err != nil {
		return Export{}, err
	}
	dec := royaltycsv.NewJournalDecoder(bytes.NewReader(data))
	e := Export{Started: started, Transactions: map[string][]ledger.Posting{}}
	for {
		var r royaltycsv.JournalRow
		err := dec.Decode(&r)
		if errors.Is(err, io.EOF) {
			return e, nil
		} else if err != nil {
			return Export{}, err
		}
		e.Rows++
		e.Transactions[r.TransactionID] = append(e.Transactions[r.TransactionID], ledger.Posting{
			Account: r.Account, Type: ledger.AccountType(r.AccountType), Currency: r.Currency, Amount: r.Amount})
	}
}

// Exports checks the journal exports taken while the load runs, as they arrive and against
// the final books: every write acknowledged before an export was asked for is in it (an export
// is complete), a transaction looks the same in every export that shows it, and in the books
// (nothing an auditor saw changes or disappears later). It keeps one line per transaction, not
// the exports. It is safe for concurrent use.
type Exports struct {
	mu       sync.Mutex
	n        int
	rows     int
	seen     map[string]string // transaction → its postings, as postingSet prints them
	first    map[string]int    // transaction → the export that first showed it
	problems []string
}

// NewExports returns an empty checker.
func NewExports() *Exports { return &Exports{seen: map[string]string{}, first: map[string]int{}} }

// Add checks one export against the log (completeness) and the exports before it.
func (x *Exports) Add(e Export, l *Log) {
	writes := l.Writes()
	x.mu.Lock()
	defer x.mu.Unlock()
	x.n++
	x.rows += e.Rows
	for id, ps := range e.Transactions {
		set := postingSet(ps)
		if prev, ok := x.seen[id]; ok && prev != set {
			x.problemf("export %d shows transaction %s as\n%s\nexport %d as\n%s", x.n, id, set, x.first[id], prev)
		} else if !ok {
			x.seen[id], x.first[id] = set, x.n
		}
	}
	missing := 0
	for _, w := range writes {
		if w.Outcome != Acked || w.Settled || !w.AckedAt.Before(e.Started) {
			continue
		}
		if _, ok := e.Transactions[w.Tx]; !ok {
			if missing < 5 {
				x.problemf("export %d (asked for at %s) misses %v, acknowledged as %s at %s", x.n,
					e.Started.Format(time.RFC3339Nano), w.Key, w.Tx, w.AckedAt.Format(time.RFC3339Nano))
			}
			missing++
		}
	}
	if missing > 5 {
		x.problemf("export %d misses %d acknowledged writes in all", x.n, missing)
	}
}

// Count returns the number of exports added and the rows they held.
func (x *Exports) Count() (exports, rows int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.n, x.rows
}

// Check compares every transaction the exports showed with the books, and returns all the
// problems found.
func (x *Exports) Check(books *ledgertest.Books) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	ids := make([]string, 0, len(x.seen))
	for id := range x.seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		t, ok := books.Transactions[id]
		if !ok {
			x.problemf("export %d shows transaction %s, which the books do not hold", x.first[id], id)
			continue
		}
		if want := postingSet(t.Postings); want != x.seen[id] {
			x.problemf("export %d shows transaction %s as\n%s\nthe books as\n%s", x.first[id], id, x.seen[id], want)
		}
	}
	return append([]string(nil), x.problems...)
}

func (x *Exports) problemf(format string, args ...any) {
	x.problems = append(x.problems, fmt.Sprintf(format, args...))
}

func postingSet(ps []ledger.Posting) string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = fmt.Sprintf("  %s %s %s %s", p.Account, p.Type, p.Currency, p.Amount.String())
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// CompareIDs compares the post ids of the posts table with those of the search index and
// returns the ids each lacks, sorted.
func CompareIDs(table, index []string) (notIndexed, notStored []string) {
	inTable := make(map[string]bool, len(table))
	for _, id := range table {
		inTable[id] = true
	}
	inIndex := make(map[string]bool, len(index))
	for _, id := range index {
		inIndex[id] = true
		if !inTable[id] {
			notStored = append(notStored, id)
		}
	}
	for _, id := range table {
		if !inIndex[id] {
			notIndexed = append(notIndexed, id)
		}
	}
	sort.Strings(notIndexed)
	sort.Strings(notStored)
	return notIndexed, notStored
}
