package journal

import (
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// Row is one row of an exported journal: a posting with its transaction's fields and the
// journal chain fields. An export lists the sealed transactions in journal order, one row per
// posting in posting order, and then the transactions not sealed yet.
type Row struct {
	TransactionID string
	CreatedAt     time.Time
	Kind          string
	Account       string
	AccountType   string
	Currency      string
	// Amount is a decimal text, signed (debit positive, credit negative); producers give the
	// canonical form (FormatAmount), and a verifier accepts any plain decimal of the same value.
	Amount         string
	IdempotencyKey string
	Reverses       string

	// Sealed is false for a transaction that has no journal position yet; its chain fields
	// are zero.
	Sealed bool
	// JournalIndex is the transaction's position in the journal, from 0.
	JournalIndex uint64
	// PostingHash locates the row (PostingHasher); LeafHash is the transaction's leaf hash.
	PostingHash Hash
	LeafHash    Hash
	// Checkpoint is set on the last row of the transaction at which a checkpoint's tree ends
	// (Checkpoint.Size == JournalIndex+1).
	Checkpoint *Checkpoint
}

// RowError reports the first inconsistency of an export: the row (1-based, header excluded) and
// what is wrong. Row is one past the last row when something is missing at the end.
type RowError struct {
	Row uint64
	Msg string
	// Err is the underlying error, if any (ErrSignature for a bad signature).
	Err error
}

func (e *RowError) Error() string { return fmt.Sprintf("row %d: %s", e.Row, e.Msg) }

func (e *RowError) Unwrap() error { return e.Err }

// VerifyOptions tune a Verifier.
type VerifyOptions struct {
	// AllowUnsealed accepts rows of transactions not sealed yet at the end of the export
	// (checked to balance, reported in the summary); without it they are an error, because an
	// appended row without chain fields would look exactly like them.
	AllowUnsealed bool
	// MinSize, if not zero, is the least journal size that the newest checkpoint must cover: an
	// export cut short at a checkpoint is otherwise indistinguishable from an older export.
	MinSize uint64
}

// Summary is what a verification saw.
type Summary struct {
	Rows         uint64
	Transactions uint64
	// Sealed is the number of sealed transactions checked; Unsealed the transactions not yet
	// sealed (accepted only with AllowUnsealed) and UnsealedRows their rows.
	Sealed       uint64
	Unsealed     uint64
	UnsealedRows uint64
	Checkpoints  uint64
	// Newest is the newest checkpoint verified, or nil.
	Newest *Checkpoint
}

// Verifier checks an export row by row in constant memory: every row's posting hash, every
// transaction's balance and leaf hash, the journal indexes in order without gaps, every
// checkpoint's size, root and signature, and that the last sealed transaction is covered by a
// checkpoint. It stops at the first inconsistency. It is not safe for concurrent use.
type Verifier struct {
	keys Keys
	opts VerifyOptions

	rows     uint64
	sum      Summary
	tree     Frontier
	err      error
	unsealed bool

	cur     *txState
	free    *txState
	hasher  PostingHasher
	scratch []byte
}

// txState is the transaction being read.
type txState struct {
	id, kind, key, reverses string
	createdAt               time.Time
	sealed                  bool
	index                   uint64
	leafHash                Hash
	firstRow                uint64
	postings                int
	data                    []byte // leaf data so far
	sums                    map[string]decimal.Decimal
	cp                      *Checkpoint // points to cpCopy: rows may be reused by the caller
	cpCopy                  Checkpoint
	cpRow                   uint64
}

// NewVerifier returns a verifier that trusts checkpoints signed by keys.
func NewVerifier(keys Keys, opts VerifyOptions) *Verifier {
	return &Verifier{keys: keys, opts: opts}
}

func (v *Verifier) fail(row uint64, err error, format string, args ...any) error {
	v.err = &RowError{Row: row, Msg: fmt.Sprintf(format, args...), Err: err}
	return v.err
}

// Fail records an inconsistency found outside the verifier (a row that could not be parsed)
// so that later calls report it, and returns it.
func (v *Verifier) Fail(err *RowError) error {
	if v.err == nil {
		v.err = err
	}
	return v.err
}

// Add checks the next row. It returns a *RowError at the first inconsistency, and the same
// error on every later call.
func (v *Verifier) Add(r *Row) error {
	if v.err != nil {
		return v.err
	}
	v.rows++
	row := v.rows
	if !r.Sealed {
		return v.addUnsealed(row, r)
	}
	if v.unsealed {
		return v.fail(row, nil, "transaction %s has a journal index after rows of transactions that are not sealed: sealed transactions come first", r.TransactionID)
	}
	cur := v.cur
	if cur != nil && r.JournalIndex == cur.index {
		if r.TransactionID != cur.id {
			return v.fail(row, nil, "journal index %d belongs to transaction %s (from row %d), not %s: a row was added or changed", r.JournalIndex, cur.id, cur.firstRow, r.TransactionID)
		}
	} else {
		if cur != nil {
			if err := v.finish(row); err != nil {
				return err
			}
		}
		if r.JournalIndex != v.tree.Size() {
			switch {
			case row == 1:
				return v.fail(row, nil, "the export starts at journal index %d, not 0: only a complete export (without --since or --until) can be verified", r.JournalIndex)
			case r.JournalIndex < v.tree.Size():
				return v.fail(row, nil, "journal index %d comes again after %d: rows were added or reordered", r.JournalIndex, v.tree.Size()-1)
			default:
				return v.fail(row, nil, "journal index jumps from %d to %d: the rows of journal index %d are missing", v.tree.Size()-1, r.JournalIndex, v.tree.Size())
			}
		}
		if err := v.begin(row, r); err != nil {
			return err
		}
		cur = v.cur
	}
	amount, value, err := parseAmountText(r.Amount)
	if err != nil {
		return v.fail(row, err, "amount %q is not a decimal number", r.Amount)
	}
	if got := v.hasher.Sum(cur.postings, r.Account, r.AccountType, r.Currency, amount); got != r.PostingHash {
		return v.fail(row, nil, "the row does not match its posting_hash: a field of the row (amount, account, currency, transaction fields) was changed, or the row is not posting %d of transaction %s", cur.postings, cur.id)
	}
	if cur.cp != nil {
		return v.fail(cur.cpRow, nil, "the checkpoint of size %d is not on the last row of transaction %s", cur.cp.Size, cur.id)
	}
	if r.LeafHash != cur.leafHash {
		return v.fail(row, nil, "leaf_hash differs from row %d of the same transaction %s", cur.firstRow, cur.id)
	}
	if !r.CreatedAt.Equal(cur.createdAt) || r.Kind != cur.kind || r.IdempotencyKey != cur.key || r.Reverses != cur.reverses {
		return v.fail(row, nil, "the transaction fields differ from row %d of the same transaction %s", cur.firstRow, cur.id)
	}
	cur.data = AppendPosting(cur.data, r.Account, r.AccountType, r.Currency, amount)
	v.addPosting(cur, r.Currency, value)
	if r.Checkpoint != nil {
		cur.cpCopy = *r.Checkpoint
		cur.cpCopy.Signature = append([]byte(nil), r.Checkpoint.Signature...)
		cur.cp, cur.cpRow = &cur.cpCopy, row
	}
	return nil
}

// begin starts a transaction at row.
func (v *Verifier) begin(row uint64, r *Row) error {
	t := v.free
	if t == nil {
		t = &txState{sums: map[string]decimal.Decimal{}}
	}
	v.free = nil
	clear(t.sums)
	*t = txState{
		id: r.TransactionID, kind: r.Kind, key: r.IdempotencyKey, reverses: r.Reverses, createdAt: r.CreatedAt,
		sealed: r.Sealed, index: r.JournalIndex, leafHash: r.LeafHash, firstRow: row,
		data: t.data[:0], sums: t.sums,
	}
	v.cur = t
	e := Entry{TransactionID: r.TransactionID, CreatedAt: r.CreatedAt, Kind: r.Kind, IdempotencyKey: r.IdempotencyKey, Reverses: r.Reverses}
	var err error
	v.scratch, err = AppendHeader(v.scratch[:0], &e)
	if err != nil {
		return v.fail(row, err, "%v", err)
	}
	v.hasher.Reset(v.scratch)
	t.data = append(t.data, Format...)
	t.data = append(t.data, '\n')
	t.data = append(t.data, v.scratch...)
	return nil
}

func (v *Verifier) addPosting(t *txState, currency string, amount decimal.Decimal) {
	t.postings++
	t.sums[currency] = t.sums[currency].Add(amount)
}

// parseAmountText returns the canonical text and the value of a decimal text.
func parseAmountText(s string) (string, decimal.Decimal, error) {
	canon, err := NormalizeAmount(s)
	if err != nil {
		return "", decimal.Decimal{}, err
	}
	d, err := decimal.NewFromString(canon)
	return canon, d, err
}

// finish checks the complete current transaction; row is where its end was noticed.
func (v *Verifier) finish(row uint64) error {
	t := v.cur
	v.cur, v.free = nil, t
	v.sum.Transactions++
	for cur, sum := range t.sums {
		if !sum.IsZero() {
			return v.fail(row, nil, "transaction %s (from row %d) does not balance in %s: its postings sum to %s, not 0: a posting is missing or changed", t.id, t.firstRow, cur, sum)
		}
	}
	if !t.sealed {
		v.sum.Unsealed++
		return nil
	}
	if leaf := LeafHash(t.data); leaf != t.leafHash {
		return v.fail(row, nil, "transaction %s (journal index %d, rows %d-%d) does not hash to its leaf_hash: a posting was dropped from its end, or its postings differ from what was sealed", t.id, t.index, t.firstRow, row-1)
	}
	v.tree.Append(t.leafHash, nil)
	v.sum.Sealed++
	if t.cp == nil {
		return nil
	}
	cp := t.cp
	if cp.Size != v.tree.Size() {
		return v.fail(t.cpRow, nil, "the checkpoint says size %d, but it ends journal index %d (size %d)", cp.Size, t.index, v.tree.Size())
	}
	if root := v.tree.Root(); cp.Root != root {
		return v.fail(t.cpRow, nil, "the first %d transactions of the export hash to root %s, but the checkpoint signed %s: rows before this one were changed, added, dropped or reordered together with their hashes", cp.Size, root, cp.Root)
	}
	if err := cp.Verify(v.keys); err != nil {
		return v.fail(t.cpRow, err, "%v", err)
	}
	if v.sum.Newest != nil && cp.Time.Before(v.sum.Newest.Time) {
		return v.fail(t.cpRow, nil, "checkpoint %d was signed at %s, before checkpoint %d (%s)", cp.Size, cp.Time.Format(time.RFC3339Nano), v.sum.Newest.Size, v.sum.Newest.Time.Format(time.RFC3339Nano))
	}
	c := *cp
	v.sum.Newest = &c
	v.sum.Checkpoints++
	return nil
}

// addUnsealed checks a row of a transaction that is not sealed yet.
func (v *Verifier) addUnsealed(row uint64, r *Row) error {
	if !v.opts.AllowUnsealed {
		return v.fail(row, nil, "transaction %s is not sealed: no journal index, hash or checkpoint covers it (an export taken right after a write may end with such rows; --allow-unsealed accepts them)", r.TransactionID)
	}
	if r.Checkpoint != nil {
		return v.fail(row, nil, "a checkpoint on a row without a journal index")
	}
	v.unsealed = true
	if v.cur != nil && (v.cur.sealed || v.cur.id != r.TransactionID) {
		if err := v.finish(row); err != nil {
			return err
		}
	}
	if v.cur == nil {
		t := v.free
		if t == nil {
			t = &txState{sums: map[string]decimal.Decimal{}}
		}
		clear(t.sums)
		*t = txState{id: r.TransactionID, createdAt: r.CreatedAt, kind: r.Kind, key: r.IdempotencyKey, reverses: r.Reverses, firstRow: row, sums: t.sums, data: t.data[:0]}
		v.cur, v.free = t, nil
	} else if !r.CreatedAt.Equal(v.cur.createdAt) || r.Kind != v.cur.kind || r.IdempotencyKey != v.cur.key || r.Reverses != v.cur.reverses {
		return v.fail(row, nil, "the transaction fields differ from row %d of the same transaction %s", v.cur.firstRow, v.cur.id)
	}
	_, value, err := parseAmountText(r.Amount)
	if err != nil {
		return v.fail(row, err, "amount %q is not a decimal number", r.Amount)
	}
	v.addPosting(v.cur, r.Currency, value)
	v.sum.UnsealedRows++
	return nil
}

// Close finishes the verification after the last row and returns the summary, or the first
// inconsistency.
func (v *Verifier) Close() (Summary, error) {
	if v.err != nil {
		return v.summary(), v.err
	}
	end := v.rows + 1
	if v.cur != nil {
		if err := v.finish(end); err != nil {
			return v.summary(), err
		}
	}
	var covered uint64
	if v.sum.Newest != nil {
		covered = v.sum.Newest.Size
	}
	if v.tree.Size() > covered {
		return v.summary(), v.fail(end, nil, "journal indexes %d to %d are not covered by any checkpoint: the export was cut, or the checkpoint cells of its last row were removed", covered, v.tree.Size()-1)
	}
	if covered < v.opts.MinSize {
		return v.summary(), v.fail(end, nil, "the newest checkpoint covers %d transactions, fewer than the %d required: the export is older than expected or was cut at a checkpoint", covered, v.opts.MinSize)
	}
	return v.summary(), nil
}

func (v *Verifier) summary() Summary {
	s := v.sum
	s.Rows = v.rows
	return s
}

// Root returns the root over the sealed transactions checked so far.
func (v *Verifier) Root() Hash { return v.tree.Root() }

// IsRowError reports whether err is (or wraps) a *RowError, and returns it.
func IsRowError(err error) (*RowError, bool) {
	var re *RowError
	ok := errors.As(err, &re)
	return re, ok
}
