package journal

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/ledger"
)

// Entry is one transaction as the journal hashes it: the transaction's fields as they appear in
// an export, and its postings in order.
type Entry struct {
	TransactionID string
	// CreatedAt has microsecond precision (the database's); finer times cannot be encoded.
	CreatedAt time.Time
	Kind      string
	// IdempotencyKey is the transaction's principal id, a colon and its request id
	// (IdempotencyKey builds it).
	IdempotencyKey string
	// Reverses is the id of the transaction this one reverses, or empty.
	Reverses string
	Postings []Posting
}

// Posting is one posting of an Entry.
type Posting struct {
	Account     string
	AccountType string
	Currency    string
	// Amount is signed: debit positive, credit negative.
	Amount decimal.Decimal
}

// IdempotencyKey is the text an export shows for a transaction's idempotency key: the principal
// id and the request id joined by a colon. A principal id is a UUID without colons, so the text
// splits back unambiguously at its first colon.
func IdempotencyKey(principalID, requestID string) string {
	if principalID == "" && requestID == "" {
		return ""
	}
	return principalID + ":" + requestID
}

// FromTransaction returns the Entry of a ledger transaction.
func FromTransaction(t ledger.Transaction) Entry {
	e := Entry{
		TransactionID:  t.ID,
		CreatedAt:      t.CreatedAt,
		Kind:           string(t.Kind),
		IdempotencyKey: IdempotencyKey(t.PrincipalID, t.RequestID),
		Reverses:       t.Reverses,
		Postings:       make([]Posting, len(t.Postings)),
	}
	for i, p := range t.Postings {
		e.Postings[i] = Posting{Account: p.Account, AccountType: string(p.Type), Currency: p.Currency, Amount: p.Amount}
	}
	return e
}

// TimeLayout is the canonical time format: RFC 3339 in UTC with exactly six fractional digits.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// FormatTime returns t in the canonical time format. It fails for times with a fraction finer
// than a microsecond, which the format cannot represent: truncating them would let two
// different exported times hash alike.
func FormatTime(t time.Time) (string, error) {
	if t.Nanosecond()%1000 != 0 {
		return "", fmt.Errorf("time %s has a fraction finer than a microsecond", t.Format(time.RFC3339Nano))
	}
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return "", fmt.Errorf("time %s is outside the years 0000-9999", t.Format(time.RFC3339Nano))
	}
	return t.UTC().Format(TimeLayout), nil
}

// FormatAmount returns an amount in canonical decimal form: an optional minus sign, the integer
// part without leading zeros ("0" when it is zero), and, only when the fraction is not zero, a
// point and the fraction without trailing zeros. No exponent, no plus sign, no grouping.
// "-0.0006", "12", "12.5" are canonical; "0.000600", "+1", "1e3", ".5" are not.
func FormatAmount(d decimal.Decimal) string { return d.String() }

// CanonicalAmount rewrites a plain decimal text (an optional minus sign, digits, optionally a
// point and digits, as PostgreSQL and CockroachDB print NUMERIC values) in canonical form without
// parsing it into a number.
func CanonicalAmount(s string) (string, error) {
	neg := strings.HasPrefix(s, "-")
	body := strings.TrimPrefix(s, "-")
	intPart, frac, hasPoint := strings.Cut(body, ".")
	if intPart == "" || !allDigits(intPart) || (hasPoint && (frac == "" || !allDigits(frac))) {
		return "", fmt.Errorf("not a plain decimal: %q", s)
	}
	intPart = strings.TrimLeft(intPart, "0")
	frac = strings.TrimRight(frac, "0")
	if intPart == "" {
		intPart = "0"
	}
	if intPart == "0" && frac == "" {
		return "0", nil
	}
	var b strings.Builder
	b.Grow(len(s))
	if neg {
		b.WriteByte('-')
	}
	b.WriteString(intPart)
	if frac != "" {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String(), nil
}

// NormalizeAmount returns the canonical form of any decimal text: the fast path of
// CanonicalAmount for plain decimals, and decimal's parser for the rest (an exponent, a plus sign,
// a leading point).
func NormalizeAmount(s string) (string, error) {
	if canon, err := CanonicalAmount(s); err == nil {
		return canon, nil
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return "", fmt.Errorf("amount %q is not a decimal number", s)
	}
	return FormatAmount(d), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// appendField appends a field with the format's escapes: backslash, tab, line feed and carriage
// return become \\, \t, \n and \r; every other byte is copied.
func appendField(b []byte, s string) []byte {
	if !strings.ContainsAny(s, "\\\t\n\r") {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, c)
		}
	}
	return b
}

// AppendHeader appends the transaction line of an entry: transaction id, created at, kind,
// idempotency key and reverses, separated by tabs and ended by a line feed. The postings do not
// take part.
func AppendHeader(b []byte, e *Entry) ([]byte, error) {
	at, err := FormatTime(e.CreatedAt)
	if err != nil {
		return b, fmt.Errorf("transaction %s: created_at: %w", e.TransactionID, err)
	}
	b = appendField(b, e.TransactionID)
	b = append(b, '\t')
	b = append(b, at...)
	b = append(b, '\t')
	b = appendField(b, e.Kind)
	b = append(b, '\t')
	b = appendField(b, e.IdempotencyKey)
	b = append(b, '\t')
	b = appendField(b, e.Reverses)
	return append(b, '\n'), nil
}

// AppendPosting appends the line of one posting: account, account type, currency and the
// canonical amount, separated by tabs and ended by a line feed. amount must be canonical
// (FormatAmount or CanonicalAmount).
func AppendPosting(b []byte, account, accountType, currency, amount string) []byte {
	b = appendField(b, account)
	b = append(b, '\t')
	b = appendField(b, accountType)
	b = append(b, '\t')
	b = appendField(b, currency)
	b = append(b, '\t')
	b = append(b, amount...)
	return append(b, '\n')
}

// LeafData returns the canonical encoding of an entry, the bytes its leaf hash is computed over:
// the line "royalty-journal-v1", the transaction line (AppendHeader) and one line per posting
// in order (AppendPosting). An entry without postings is refused: the ledger never writes one.
func LeafData(e *Entry) ([]byte, error) {
	if len(e.Postings) == 0 {
		return nil, fmt.Errorf("transaction %s has no postings", e.TransactionID)
	}
	b := make([]byte, 0, 160+80*len(e.Postings))
	b = append(b, Format...)
	b = append(b, '\n')
	b, err := AppendHeader(b, e)
	if err != nil {
		return nil, err
	}
	for _, p := range e.Postings {
		b = AppendPosting(b, p.Account, p.AccountType, p.Currency, FormatAmount(p.Amount))
	}
	return b, nil
}

// Domain separation prefixes of the three hashes (RFC 6962 uses 0x00 and 0x01).
const (
	leafPrefix    = 0x00
	nodePrefix    = 0x01
	postingPrefix = 0x02
)

// LeafHash is the RFC 6962 leaf hash of leaf data: SHA-256(0x00 || data).
func LeafHash(data []byte) Hash {
	h := sha256.New()
	h.Write([]byte{leafPrefix})
	h.Write(data)
	var out Hash
	h.Sum(out[:0])
	return out
}

// EntryLeaf returns an entry's leaf data and leaf hash.
func EntryLeaf(e *Entry) ([]byte, Hash, error) {
	data, err := LeafData(e)
	if err != nil {
		return nil, Hash{}, err
	}
	return data, LeafHash(data), nil
}

// PostingHasher computes posting hashes, the per-row locators of an export: the posting hash of
// posting k (0-based) of a transaction is SHA-256(0x02 || SHA-256(transaction line) || k in
// decimal || tab || posting line). It covers every field of the row and the row's place in its
// transaction, so a verifier can name the row that was changed, added, dropped or moved. It is
// not signed: the leaf hash and the checkpoints are what an edit cannot forge. (Hashing the
// transaction line once per transaction keeps the per-row input to two SHA-256 blocks.) A
// PostingHasher reuses one buffer; it is not safe for concurrent use.
type PostingHasher struct {
	buf []byte
}

// postingFixed is the length of the prefix and the transaction line's hash.
const postingFixed = 1 + HashSize

// Reset starts a transaction: header is its transaction line (AppendHeader).
func (h *PostingHasher) Reset(header []byte) {
	sum := sha256.Sum256(header)
	h.buf = append(h.buf[:0], postingPrefix)
	h.buf = append(h.buf, sum[:]...)
}

// Sum returns the posting hash of posting k of the current transaction. amount must be
// canonical.
func (h *PostingHasher) Sum(k int, account, accountType, currency, amount string) Hash {
	h.buf = strconv.AppendInt(h.buf[:postingFixed], int64(k), 10)
	h.buf = append(h.buf, '\t')
	h.buf = AppendPosting(h.buf, account, accountType, currency, amount)
	return sha256.Sum256(h.buf)
}
