// Package hledger writes the ledger's journal in the plain-text journal format of hledger and
// ledger-cli, so that auditors can check and report on the books with tools they already use
// (`hledger check`, `hledger balance`).
//
// Every transaction becomes one journal entry dated by its created_at (UTC), marked cleared (*)
// when it is sealed in the verifiable journal and pending (!) when not yet, with its id as the
// code, its kind as the description, and its journal index, exact time, idempotency key and
// reversed transaction as comment tags. Account names are the ledger's addresses, whose colons
// hledger reads as its account hierarchy (provider:…, contributor:…, escrow:platform:site/author,
// unattributed, platform, payout_clearing). Amounts are written exactly as the ledger holds them,
// and every commodity is declared with the ledger's scale (12 decimal places by default), so that
// hledger shows balances to the last digit and rounds nothing away. Account and commodity
// declarations are written after the entries (hledger reads directives of these kinds from
// anywhere in the file), so the entries can be streamed; the writer remembers each account and
// commodity once.
package hledger

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/openroyalty/royalty/ledger/journal"
)

// DefaultScale is the number of decimal places commodities are declared with: the ledger's.
const DefaultScale = 12

// Writer writes journal rows as an hledger journal. Rows of one transaction must be consecutive,
// as in an export. It is not safe for concurrent use.
type Writer struct {
	w          *bufio.Writer
	scale      int
	cur        []journal.Row
	accounts   map[string]string // address → account type
	currencies map[string]bool
	entries    int
	started    bool
}

// NewWriter returns a writer to w whose commodities are declared with scale decimal places
// (DefaultScale when 0).
func NewWriter(w io.Writer, scale int) *Writer {
	if scale <= 0 {
		scale = DefaultScale
	}
	return &Writer{w: bufio.NewWriterSize(w, 64<<10), scale: scale, accounts: map[string]string{}, currencies: map[string]bool{}}
}

// Write adds one row (one posting). The row is copied.
func (w *Writer) Write(r *journal.Row) error {
	if !w.started {
		w.started = true
		fmt.Fprintf(w.w, "; royalty journal (hledger format): one entry per ledger transaction, amounts exact\n")
		fmt.Fprintf(w.w, "; * = sealed in the verifiable journal (journal_index), ! = not sealed yet\n")
		fmt.Fprintf(w.w, "decimal-mark .\n\n")
	}
	if len(w.cur) > 0 && w.cur[0].TransactionID != r.TransactionID {
		if err := w.flush(); err != nil {
			return err
		}
	}
	if err := checkName(r.Account); err != nil {
		return fmt.Errorf("transaction %s: %w", r.TransactionID, err)
	}
	if err := checkCommodity(r.Currency); err != nil {
		return fmt.Errorf("transaction %s: %w", r.TransactionID, err)
	}
	c := *r
	c.Checkpoint = nil
	w.cur = append(w.cur, c)
	return nil
}

// checkName refuses account names hledger would read differently: it ends an account name at
// two spaces or a tab, and brackets around a whole name make a virtual posting.
func checkName(a string) error {
	switch {
	case a == "":
		return fmt.Errorf("a posting without an account")
	case strings.ContainsAny(a, "\t\n\r") || strings.Contains(a, "  ") || strings.HasPrefix(a, " ") || strings.HasSuffix(a, " "):
		return fmt.Errorf("account %q has whitespace hledger cannot keep in a name", a)
	case strings.HasPrefix(a, "(") || strings.HasPrefix(a, "["):
		return fmt.Errorf("account %q would read as a virtual posting", a)
	}
	return nil
}

func checkCommodity(c string) error {
	if c == "" || strings.IndexFunc(c, func(r rune) bool { return !(r >= 'A' && r <= 'Z') }) >= 0 {
		return fmt.Errorf("currency %q is not an upper-case code", c)
	}
	return nil
}

// flush writes the transaction held.
func (w *Writer) flush() error {
	if len(w.cur) == 0 {
		return nil
	}
	t := &w.cur[0]
	status := "!"
	if t.Sealed {
		status = "*"
	}
	at := t.CreatedAt.UTC()
	fmt.Fprintf(w.w, "%s %s (%s) %s\n", at.Format("2006-01-02"), status, t.TransactionID, t.Kind)
	var tags []string
	if t.Sealed {
		tags = append(tags, "journal_index: "+strconv.FormatUint(t.JournalIndex, 10))
	}
	tags = append(tags, "created_at: "+at.Format("2006-01-02T15:04:05.000000Z"))
	if t.Reverses != "" {
		tags = append(tags, "reverses: "+t.Reverses)
	}
	fmt.Fprintf(w.w, "    ; %s\n", strings.Join(tags, ", "))
	if t.IdempotencyKey != "" {
		fmt.Fprintf(w.w, "    ; idempotency_key: %s\n", oneLine(t.IdempotencyKey))
	}
	for i := range w.cur {
		p := &w.cur[i]
		amount, err := journal.NormalizeAmount(p.Amount)
		if err != nil {
			return fmt.Errorf("transaction %s: %w", p.TransactionID, err)
		}
		fmt.Fprintf(w.w, "    %s  %s %s\n", p.Account, amount, p.Currency)
		if _, ok := w.accounts[p.Account]; !ok {
			w.accounts[p.Account] = p.AccountType
		}
		w.currencies[p.Currency] = true
	}
	w.w.WriteByte('\n')
	w.entries++
	w.cur = w.cur[:0]
	return nil
}

func oneLine(s string) string { return strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(s) }

// Close writes the last transaction and the account and commodity declarations, and flushes.
func (w *Writer) Close() error {
	if err := w.flush(); err != nil {
		return err
	}
	if !w.started {
		fmt.Fprintf(w.w, "; royalty journal (hledger format): empty\n")
	}
	cs := make([]string, 0, len(w.currencies))
	for c := range w.currencies {
		cs = append(cs, c)
	}
	sort.Strings(cs)
	if len(cs) > 0 {
		fmt.Fprintf(w.w, "; commodities, declared with the ledger's %d decimal places so that nothing is rounded\n", w.scale)
	}
	for _, c := range cs {
		fmt.Fprintf(w.w, "commodity 1000.%s %s\n", strings.Repeat("0", w.scale), c)
	}
	as := make([]string, 0, len(w.accounts))
	for a := range w.accounts {
		as = append(as, a)
	}
	sort.Strings(as)
	if len(as) > 0 {
		fmt.Fprintf(w.w, "\n; accounts, with the ledger's account type\n")
	}
	for _, a := range as {
		fmt.Fprintf(w.w, "account %s  ; ledger_type: %s\n", a, w.accounts[a])
	}
	return w.w.Flush()
}

// Entries returns the number of transactions written so far.
func (w *Writer) Entries() int { return w.entries }
