package csv

import (
	"encoding/hex"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/openroyalty/royalty/ledger/journal"
)

// fastRow is what EncodeRow keeps between rows: the cells of the current transaction, which
// every row of it repeats, already formatted.
type fastRow struct {
	line []byte
	// the transaction the cached cells belong to
	id, kind, key, reverses string
	createdAt               time.Time
	sealed                  bool
	index                   uint64
	leaf                    journal.Hash
	head                    []byte // transaction_id,created_at,kind,
	mid                     []byte // ,idempotency_key,reverses,journal_index,
	leafHex                 [2 * journal.HashSize]byte
}

// EncodeRow writes one journal row, exactly as Encode writes the same row as a JournalRow, but
// without formatting the amount through a decimal (the row carries its canonical text) and
// formatting the transaction's cells once per transaction: it is the export's hot path.
func (e *JournalEncoder) EncodeRow(r *journal.Row) error {
	if err := e.header(); err != nil {
		return err
	}
	f := &e.fast
	if f.head == nil || r.TransactionID != f.id || !r.CreatedAt.Equal(f.createdAt) || r.Kind != f.kind ||
		r.IdempotencyKey != f.key || r.Reverses != f.reverses || r.Sealed != f.sealed || r.JournalIndex != f.index || r.LeafHash != f.leaf {
		f.id, f.createdAt, f.kind, f.key, f.reverses = r.TransactionID, r.CreatedAt, r.Kind, r.IdempotencyKey, r.Reverses
		f.sealed, f.index, f.leaf = r.Sealed, r.JournalIndex, r.LeafHash
		f.head = appendCell(f.head[:0], Neutralize(r.TransactionID))
		f.head = append(f.head, ',')
		f.head = r.CreatedAt.UTC().AppendFormat(f.head, time.RFC3339Nano)
		f.head = append(f.head, ',')
		f.head = appendCell(f.head, Neutralize(r.Kind))
		f.head = append(f.head, ',')
		f.mid = append(f.mid[:0], ',')
		f.mid = appendCell(f.mid, Neutralize(r.IdempotencyKey))
		f.mid = append(f.mid, ',')
		f.mid = appendCell(f.mid, Neutralize(r.Reverses))
		f.mid = append(f.mid, ',')
		if r.Sealed {
			f.mid = strconv.AppendUint(f.mid, r.JournalIndex, 10)
			hex.Encode(f.leafHex[:], r.LeafHash[:])
		}
		f.mid = append(f.mid, ',')
	}
	b := append(f.line[:0], f.head...)
	b = appendCell(b, Neutralize(r.Account))
	b = append(b, ',')
	b = appendCell(b, Neutralize(r.AccountType))
	b = append(b, ',')
	b = appendCell(b, Neutralize(r.Currency))
	b = append(b, ',')
	b = append(b, r.Amount...)
	b = append(b, f.mid...)
	if r.Sealed {
		b = hex.AppendEncode(b, r.PostingHash[:])
		b = append(b, ',')
		b = append(b, f.leafHex[:]...)
		b = append(b, ',')
		if cp := r.Checkpoint; cp != nil {
			at, err := journal.FormatTime(cp.Time)
			if err != nil {
				return err
			}
			b = strconv.AppendUint(b, cp.Size, 10)
			b = append(b, ',')
			b = hex.AppendEncode(b, cp.Root[:])
			b = append(b, ',')
			b = append(b, at...)
			b = append(b, ',')
			b = appendCell(b, Neutralize(cp.KeyID))
			b = append(b, ',')
			b = appendCell(b, Neutralize(cp.SignatureString()))
		} else {
			b = append(b, ",,,,"...)
		}
	} else {
		b = append(b, ",,,,,,"...)
	}
	b = append(b, '\r', '\n')
	f.line = b
	_, err := e.bw.Write(b)
	return err
}

// appendCell appends a cell as encoding/csv.Writer (with UseCRLF) writes it: quoted when it
// holds a comma, a quote, a line break or starts with a space, quotes doubled, line feeds
// written as CR LF and carriage returns dropped.
func appendCell(b []byte, s string) []byte {
	if !needsQuotes(s) {
		return append(b, s...)
	}
	b = append(b, '"')
	for len(s) > 0 {
		i := strings.IndexAny(s, "\"\r\n")
		if i < 0 {
			i = len(s)
		}
		b = append(b, s[:i]...)
		s = s[i:]
		if len(s) > 0 {
			switch s[0] {
			case '"':
				b = append(b, '"', '"')
			case '\n':
				b = append(b, '\r', '\n')
			}
			s = s[1:]
		}
	}
	return append(b, '"')
}

// quoteBytes are the bytes for which encoding/csv quotes a comma-separated field, and
// asciiSpace the ASCII white space of unicode.IsSpace.
var quoteBytes, asciiSpace = [256]bool{'\n': true, '\r': true, '"': true, ',': true},
	[utf8.RuneSelf]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

// needsQuotes is encoding/csv's rule for a comma-separated field.
func needsQuotes(s string) bool {
	if s == "" {
		return false
	}
	if c := s[0]; c < utf8.RuneSelf {
		if asciiSpace[c] {
			return true
		}
	} else if r, _ := utf8.DecodeRuneInString(s); unicode.IsSpace(r) {
		return true
	}
	for i := 0; i < len(s); i++ {
		if quoteBytes[s[i]] {
			return true
		}
	}
	return s == `\.`
}
