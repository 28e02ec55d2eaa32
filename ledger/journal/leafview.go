package journal

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// LeafView is leaf data split into its lines and fields for reading many transactions fast (the
// journal export reads the leaf data stored at sealing): the strings point into the text parsed
// (only a field with an escape is copied, unescaped), amounts stay text, and one LeafView is
// reused from transaction to transaction. Parse accepts exactly the canonical encoding, what
// LeafData produces, as ParseLeafData does, so the lines it returns are what the leaf hash and
// the posting hashes are computed over.
type LeafView struct {
	// Header is the transaction line with its line feed, as PostingHasher.ResetString takes it.
	Header         string
	TransactionID  string
	CreatedAt      time.Time
	Kind           string
	IdempotencyKey string
	Reverses       string
	Postings       []PostingView

	fields [5]string
}

// PostingView is one posting of a LeafView.
type PostingView struct {
	// Line is the posting line with its line feed, escaped as in the leaf data, as
	// PostingHasher.SumLine takes it.
	Line        string
	Account     string
	AccountType string
	Currency    string
	// Amount is in canonical form.
	Amount string
}

var errLeafStart = errors.New("leaf data does not start with " + Format + " and a transaction line")

// Parse splits the leaf data text into v. On error v's content is unspecified.
func (v *LeafView) Parse(text string) error {
	rest, ok := strings.CutPrefix(text, Format+"\n")
	if !ok {
		return errLeafStart
	}
	i := strings.IndexByte(rest, '\n')
	if i < 0 {
		return errLeafStart
	}
	v.Header, rest = rest[:i+1], rest[i+1:]
	if err := splitView(v.Header[:i], v.fields[:]); err != nil {
		return fmt.Errorf("transaction line: %w", err)
	}
	at, ok := parseCanonicalTime(v.fields[1])
	if !ok {
		return fmt.Errorf("transaction line: created_at %q is not a time in the canonical form", v.fields[1])
	}
	v.TransactionID, v.CreatedAt, v.Kind, v.IdempotencyKey, v.Reverses = v.fields[0], at, v.fields[2], v.fields[3], v.fields[4]
	v.Postings = v.Postings[:0]
	for rest != "" {
		i := strings.IndexByte(rest, '\n')
		if i < 0 {
			return fmt.Errorf("leaf data does not end with a line feed")
		}
		var f [4]string
		if err := splitView(rest[:i], f[:]); err != nil {
			return fmt.Errorf("posting %d: %w", len(v.Postings), err)
		}
		if !isCanonicalAmount(f[3]) {
			return fmt.Errorf("posting %d: amount %q is not a canonical decimal", len(v.Postings), f[3])
		}
		v.Postings = append(v.Postings, PostingView{Line: rest[:i+1], Account: f[0], AccountType: f[1], Currency: f[2], Amount: f[3]})
		rest = rest[i+1:]
	}
	if len(v.Postings) == 0 {
		return fmt.Errorf("transaction %s has no postings", v.TransactionID)
	}
	return nil
}

// splitView splits a line into len(out) tab-separated fields and undoes the escapes; it refuses
// what appendField cannot have written (a carriage return, a backslash that starts no escape).
func splitView(line string, out []string) error {
	if strings.IndexByte(line, '\r') >= 0 {
		return fmt.Errorf("an unescaped carriage return")
	}
	escaped := strings.IndexByte(line, '\\') >= 0
	for i := range out {
		f := line
		if i < len(out)-1 {
			j := strings.IndexByte(line, '\t')
			if j < 0 {
				return fmt.Errorf("want %d tab-separated fields, got %d", len(out), i+1)
			}
			f, line = line[:j], line[j+1:]
		} else if strings.IndexByte(line, '\t') >= 0 {
			return fmt.Errorf("want %d tab-separated fields, got more", len(out))
		}
		if escaped && strings.IndexByte(f, '\\') >= 0 {
			u, err := unescape(f)
			if err != nil {
				return fmt.Errorf("field %d: %w", i, err)
			}
			f = u
		}
		out[i] = f
	}
	return nil
}

func unescape(s string) (string, error) {
	var b strings.Builder
	b.Grow(len(s))
	for j := 0; j < len(s); j++ {
		if s[j] != '\\' {
			b.WriteByte(s[j])
			continue
		}
		if j++; j == len(s) {
			return "", fmt.Errorf("ends with a lone backslash")
		}
		switch s[j] {
		case '\\':
			b.WriteByte('\\')
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		default:
			return "", fmt.Errorf("unknown escape \\%c", s[j])
		}
	}
	return b.String(), nil
}

// parseCanonicalTime parses a time in TimeLayout ("2006-01-02T15:04:05.000000Z", every digit
// present) without time.Parse's layout interpretation: it runs once per exported transaction.
func parseCanonicalTime(s string) (time.Time, bool) {
	if len(s) != len(TimeLayout) || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[26] != 'Z' {
		return time.Time{}, false
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day, hour, minute, sec, micro := num(0, 4), num(5, 2), num(8, 2), num(11, 2), num(14, 2), num(17, 2), num(20, 6)
	if year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 || micro < 0 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, micro*1000, time.UTC)
	if t.Day() != day { // 31 April, 29 February of a common year: time.Date moved it
		return time.Time{}, false
	}
	return t, true
}

// isCanonicalAmount reports whether s is in canonical decimal form (FormatAmount): an optional
// minus sign, the integer part without leading zeros, and a fraction without trailing zeros
// only when it is not zero; zero is "0".
func isCanonicalAmount(s string) bool {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if intPart == "" || !allDigits(intPart) || (len(intPart) > 1 && intPart[0] == '0') {
		return false
	}
	if hasPoint && (frac == "" || !allDigits(frac) || frac[len(frac)-1] == '0') {
		return false
	}
	return !neg || intPart != "0" || hasPoint
}

// ResetString is Reset with the transaction line as a string (LeafView.Header).
func (h *PostingHasher) ResetString(header string) {
	h.buf = append(h.buf[:0], header...)
	sum := sha256.Sum256(h.buf)
	h.buf = append(h.buf[:0], postingPrefix)
	h.buf = append(h.buf, sum[:]...)
}

// SumLine returns the posting hash of posting k of the current transaction from its posting
// line as the leaf data holds it (escaped, with its line feed; PostingView.Line): the same hash
// as Sum of the line's fields.
func (h *PostingHasher) SumLine(k int, line string) Hash {
	h.buf = strconv.AppendInt(h.buf[:postingFixed], int64(k), 10)
	h.buf = append(h.buf, '\t')
	h.buf = append(h.buf, line...)
	return sha256.Sum256(h.buf)
}
