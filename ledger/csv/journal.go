// Package csv writes the ledger journal as CSV (RFC 4180) for auditors and spreadsheets: one row
// per posting, amounts signed (debit positive, credit negative) so that every transaction and
// every currency sums to zero.
//
// Text cells that a spreadsheet would run as a formula (starting with =, +, -, @, tab or carriage
// return) are prefixed with a single quote (OWASP's CSV injection advice); so are cells that
// start with a single quote, so that the prefix can be removed again without ambiguity
// (Unneutralize) and a verifier recovers the exact text that was hashed. The amount column is
// exempt: it is always a plain decimal number and must stay one, or "-0.5" would become text.
//
// After the transaction's fields come the journal chain fields of docs/journal-format.md:
// the transaction's journal index, the row's posting hash, the transaction's leaf hash, and on
// the last row of a sealed block the signed checkpoint. JournalDecoder reads the file back for
// `royalty verify`.
//
// The encoder and the decoder stream: they keep one row in memory, so an export of any size runs
// in constant memory.
package csv

import (
	"bufio"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/ledger/journal"
)

// JournalColumns are the header of a journal export, in order: the transaction and posting
// fields, then the journal chain fields (docs/journal-format.md).
var JournalColumns = []string{
	"transaction_id", "created_at", "kind", "account", "account_type", "currency", "amount",
	"idempotency_key", "reverses",
	"journal_index", "posting_hash", "leaf_hash",
	"checkpoint_size", "checkpoint_root", "checkpoint_time", "checkpoint_key_id", "checkpoint_signature",
}

// Column positions.
const (
	colTransactionID = iota
	colCreatedAt
	colKind
	colAccount
	colAccountType
	colCurrency
	colAmount
	colIdempotencyKey
	colReverses
	colJournalIndex
	colPostingHash
	colLeafHash
	colCheckpointSize
	colCheckpointRoot
	colCheckpointTime
	colCheckpointKeyID
	colCheckpointSignature
)

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

	// Chain is the row's journal chain fields; the zero value (not sealed) leaves them empty.
	Chain Chain
}

// Chain holds the journal chain fields of a row (docs/journal-format.md).
type Chain struct {
	// Sealed is false for a transaction that has no journal position yet.
	Sealed       bool
	JournalIndex uint64
	PostingHash  journal.Hash
	LeafHash     journal.Hash
	// Checkpoint is set on the last row of the transaction at which a signed checkpoint ends.
	Checkpoint *journal.Checkpoint
}

// JournalRowOf returns the CSV row of a journal row. It fails if the row's amount is not a
// decimal number.
func JournalRowOf(r *journal.Row) (JournalRow, error) {
	amount, err := decimal.NewFromString(r.Amount)
	if err != nil {
		return JournalRow{}, fmt.Errorf("transaction %s: amount %q: %w", r.TransactionID, r.Amount, err)
	}
	return JournalRow{
		TransactionID: r.TransactionID, CreatedAt: r.CreatedAt, Kind: r.Kind, Account: r.Account,
		AccountType: r.AccountType, Currency: r.Currency, Amount: amount, IdempotencyKey: r.IdempotencyKey,
		Reverses: r.Reverses,
		Chain: Chain{Sealed: r.Sealed, JournalIndex: r.JournalIndex, PostingHash: r.PostingHash,
			LeafHash: r.LeafHash, Checkpoint: r.Checkpoint},
	}, nil
}

// Row returns the journal row of a CSV row, as journal.Verifier checks it.
func (r *JournalRow) Row() journal.Row {
	return journal.Row{
		TransactionID: r.TransactionID, CreatedAt: r.CreatedAt, Kind: r.Kind, Account: r.Account,
		AccountType: r.AccountType, Currency: r.Currency, Amount: journal.FormatAmount(r.Amount), IdempotencyKey: r.IdempotencyKey,
		Reverses: r.Reverses, Sealed: r.Chain.Sealed, JournalIndex: r.Chain.JournalIndex,
		PostingHash: r.Chain.PostingHash, LeafHash: r.Chain.LeafHash, Checkpoint: r.Chain.Checkpoint,
	}
}

// JournalEncoder writes JournalRows. It is not safe for concurrent use.
type JournalEncoder struct {
	bw        *bufio.Writer // shared by w and EncodeRow
	w         *csv.Writer
	wroteHead bool
	record    []string
	hex       [2][2 * journal.HashSize]byte
	fast      fastRow
}

// NewJournalEncoder returns an encoder writing to w. The header is written before the first row,
// or by Close when there are no rows.
func NewJournalEncoder(w io.Writer) *JournalEncoder {
	// csv.NewWriter keeps a *bufio.Writer of at least its own size as it is, so EncodeRow and
	// the csv.Writer write through one buffer in order.
	bw := bufio.NewWriterSize(w, 64<<10)
	cw := csv.NewWriter(bw)
	cw.UseCRLF = true // RFC 4180 line breaks
	return &JournalEncoder{bw: bw, w: cw, record: make([]string, len(JournalColumns))}
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
	for i := colJournalIndex; i < len(e.record); i++ {
		e.record[i] = ""
	}
	if c := &r.Chain; c.Sealed {
		e.record[colJournalIndex] = strconv.FormatUint(c.JournalIndex, 10)
		hex.Encode(e.hex[0][:], c.PostingHash[:])
		hex.Encode(e.hex[1][:], c.LeafHash[:])
		e.record[colPostingHash] = string(e.hex[0][:])
		e.record[colLeafHash] = string(e.hex[1][:])
		if cp := c.Checkpoint; cp != nil {
			at, err := journal.FormatTime(cp.Time)
			if err != nil {
				return err
			}
			e.record[colCheckpointSize] = strconv.FormatUint(cp.Size, 10)
			e.record[colCheckpointRoot] = cp.Root.String()
			e.record[colCheckpointTime] = at
			e.record[colCheckpointKeyID] = Neutralize(cp.KeyID)
			e.record[colCheckpointSignature] = Neutralize(cp.SignatureString())
		}
	}
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
// trigger gets a leading single quote, which spreadsheets show as text and do not evaluate. A
// cell that starts with a single quote gets one more, so that Unneutralize can undo it.
func Neutralize(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r', '\'':
		return "'" + s
	}
	return s
}

// Unneutralize returns the text a cell written by Neutralize stands for.
func Unneutralize(cell string) string { return strings.TrimPrefix(cell, "'") }
