package csv

import (
	"encoding/base64"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/ledger/journal"
)

// JournalDecoder reads a journal export written by JournalEncoder, one row at a time. It is not
// safe for concurrent use.
type JournalDecoder struct {
	r          *csv.Reader
	row        uint64
	headerRead bool
}

// NewJournalDecoder returns a decoder reading from r.
func NewJournalDecoder(r io.Reader) *JournalDecoder {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // counted here, to report the row
	cr.ReuseRecord = true
	return &JournalDecoder{r: cr}
}

// Row returns the number of the last row read, from 1 (the header is not counted).
func (d *JournalDecoder) Row() uint64 { return d.row }

// Decode reads the next row into dst. It returns io.EOF after the last row, and a
// *journal.RowError naming the row for a row that cannot be read (row 0 for the header).
func (d *JournalDecoder) Decode(dst *JournalRow) error {
	var r journal.Row
	if err := d.DecodeRow(&r); err != nil {
		return err
	}
	amount, err := decimal.NewFromString(r.Amount)
	if err != nil {
		return &journal.RowError{Row: d.row, Msg: fmt.Sprintf("amount %q is not a decimal number", r.Amount)}
	}
	*dst = JournalRow{
		TransactionID: r.TransactionID, CreatedAt: r.CreatedAt, Kind: r.Kind, Account: r.Account,
		AccountType: r.AccountType, Currency: r.Currency, Amount: amount, IdempotencyKey: r.IdempotencyKey,
		Reverses: r.Reverses,
		Chain: Chain{Sealed: r.Sealed, JournalIndex: r.JournalIndex, PostingHash: r.PostingHash,
			LeafHash: r.LeafHash, Checkpoint: r.Checkpoint},
	}
	return nil
}

// DecodeRow reads the next row into dst as a journal row, its amount as written (any plain
// decimal text; the verifier checks it). Errors are those of Decode.
func (d *JournalDecoder) DecodeRow(dst *journal.Row) error {
	if !d.headerRead {
		head, err := d.r.Read()
		if errors.Is(err, io.EOF) {
			return &journal.RowError{Row: 0, Msg: "the file is empty: an export starts with a header row"}
		}
		if err != nil {
			return &journal.RowError{Row: 0, Msg: fmt.Sprintf("header: %v", err), Err: err}
		}
		if err := checkHeader(head); err != nil {
			return &journal.RowError{Row: 0, Msg: err.Error()}
		}
		d.headerRead = true
	}
	rec, err := d.r.Read()
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	d.row++
	bad := func(format string, args ...any) error {
		return &journal.RowError{Row: d.row, Msg: fmt.Sprintf(format, args...)}
	}
	if err != nil {
		return &journal.RowError{Row: d.row, Msg: err.Error(), Err: err}
	}
	if len(rec) != len(JournalColumns) {
		return bad("%d cells, want %d", len(rec), len(JournalColumns))
	}
	*dst = journal.Row{
		TransactionID:  Unneutralize(rec[colTransactionID]),
		Amount:         rec[colAmount],
		Kind:           Unneutralize(rec[colKind]),
		Account:        Unneutralize(rec[colAccount]),
		AccountType:    Unneutralize(rec[colAccountType]),
		Currency:       Unneutralize(rec[colCurrency]),
		IdempotencyKey: Unneutralize(rec[colIdempotencyKey]),
		Reverses:       Unneutralize(rec[colReverses]),
	}
	if dst.CreatedAt, err = time.Parse(time.RFC3339Nano, rec[colCreatedAt]); err != nil {
		return bad("created_at %q is not an RFC 3339 time", rec[colCreatedAt])
	}
	return d.chain(rec, dst, bad)
}

// chain parses the chain cells of a record.
func (d *JournalDecoder) chain(rec []string, c *journal.Row, bad func(string, ...any) error) error {
	if rec[colJournalIndex] == "" {
		for i := colPostingHash; i < len(rec); i++ {
			if rec[i] != "" {
				return bad("%s is set but journal_index is empty", JournalColumns[i])
			}
		}
		return nil
	}
	var err error
	c.Sealed = true
	if c.JournalIndex, err = strconv.ParseUint(rec[colJournalIndex], 10, 64); err != nil {
		return bad("journal_index %q is not a non-negative integer", rec[colJournalIndex])
	}
	if c.PostingHash, err = journal.ParseHash(rec[colPostingHash]); err != nil {
		return bad("posting_hash: %v", err)
	}
	if c.LeafHash, err = journal.ParseHash(rec[colLeafHash]); err != nil {
		return bad("leaf_hash: %v", err)
	}
	set := 0
	for i := colCheckpointSize; i < len(rec); i++ {
		if rec[i] != "" {
			set++
		}
	}
	switch set {
	case 0:
		return nil
	case len(rec) - colCheckpointSize:
	default:
		return bad("the checkpoint cells are only partly filled: all five or none")
	}
	cp := &journal.Checkpoint{KeyID: Unneutralize(rec[colCheckpointKeyID])}
	if cp.Size, err = strconv.ParseUint(rec[colCheckpointSize], 10, 64); err != nil {
		return bad("checkpoint_size %q is not a non-negative integer", rec[colCheckpointSize])
	}
	if cp.Root, err = journal.ParseHash(rec[colCheckpointRoot]); err != nil {
		return bad("checkpoint_root: %v", err)
	}
	if cp.Time, err = time.Parse(journal.TimeLayout, rec[colCheckpointTime]); err != nil {
		return bad("checkpoint_time %q is not in the format %s", rec[colCheckpointTime], journal.TimeLayout)
	}
	if cp.Signature, err = base64.StdEncoding.DecodeString(Unneutralize(rec[colCheckpointSignature])); err != nil {
		return bad("checkpoint_signature is not base64: %v", err)
	}
	c.Checkpoint = cp
	return nil
}

func checkHeader(head []string) error {
	if len(head) == len(JournalColumns)-8 && strings.Join(head, ",") == strings.Join(JournalColumns[:9], ",") {
		return errors.New("the export has no journal chain columns (journal_index, posting_hash, …): it was written by a royalty without a verifiable journal")
	}
	if strings.Join(head, ",") != strings.Join(JournalColumns, ",") {
		return fmt.Errorf("the header is %q, want %q", strings.Join(head, ","), strings.Join(JournalColumns, ","))
	}
	return nil
}
