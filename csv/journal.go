// Package csv writes the ledger journal as CSV (RFC 4180) for auditors and spreadsheets: one row
// per posting, amounts signed (debit positive, credit negative) so that every transaction and
// every currency sums to zero.
//
// Text cells that a spreadsheet would run as a formula (starting with =, +, -, @, tab or carriage
// return) are prefixed with a single quote (OWASP's CSV injection advice). The amount column is
// exempt: it is always a plain decimal number and must stay one, or "-0.5" would become text.
//
// The encoder streams: it keeps one row in memory, so an export of any size runs in constant
// memory.
package csv

import (
	"encoding/csv"
	"io"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// JournalColumns are the header of a journal export, in order.
var JournalColumns = []string{
	"transaction_id", "created_at", "kind", "account", "account_type", "currency", "amount",
	"idempotency_key", "reverses",
}

// JournalRow is one posting with its transaction's fields.
type JournalRow struct {
	TransactionID  string
	CreatedAt      time.Time
	Kind           string
	Account        string
	AccountType    string
	Currency       string
	Amount         decimal.Decimal // debit positive, credit negative
	IdempotencyKey string
	Reverses       string // the transaction this one reverses, if any
}

// JournalEncoder writes JournalRows. It is not safe for concurrent use.
type JournalEncoder struct {
	w         *csv.Writer
	wroteHead bool
	record    []string
}

// NewJournalEncoder returns an encoder writing to w. The header is written before the first row,
// or by Close when there are no rows.
func NewJournalEncoder(w io.Writer) *JournalEncoder {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true // RFC 4180 line breaks
	return &JournalEncoder{w: cw, record: make([]string, len(JournalColumns))}
}

func (e *JournalEncoder) header() error {
	if e.wroteHead {
		return nil
	}
	e.wroteHead = true
	return e.w.Write(JournalColumns)
}

// Encode writes one row.
func (e *JournalEncoder) Encode(r JournalRow) error {
	if err := e.header(); err != nil {
		return err
	}
	e.record[0] = Neutralize(r.TransactionID)
	e.record[1] = r.CreatedAt.UTC().Format(time.RFC3339Nano)
	e.record[2] = Neutralize(r.Kind)
	e.record[3] = Neutralize(r.Account)
	e.record[4] = Neutralize(r.AccountType)
	e.record[5] = Neutralize(r.Currency)
	e.record[6] = r.Amount.String()
	e.record[7] = Neutralize(r.IdempotencyKey)
	e.record[8] = Neutralize(r.Reverses)
	return e.w.Write(e.record)
}

// Close writes the header if no row was written, flushes, and returns the first write error.
func (e *JournalEncoder) Close() error {
	if err := e.header(); err != nil {
		return err
	}
	e.w.Flush()
	return e.w.Error()
}

// Neutralize returns s safe to open in a spreadsheet: a cell that starts with a formula
// trigger gets a leading single quote, which spreadsheets show as text and do not evaluate.
func Neutralize(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
