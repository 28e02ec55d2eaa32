// Package soak holds the client side of royalty's reliability harness (cmd/royalty-soak): the
// log of every idempotent write a load generator sent and what it learned about each, the
// settling of writes whose outcome it never learned, and the checker that holds the log
// against the ledger's books afterwards.
//
// A write's outcome, as the client sees it, is one of three:
//   - acknowledged: the server answered with the booked transaction; it must be in the books
//     exactly once, as acknowledged;
//   - refused: the server answered with a code that promises nothing was written
//     (INVALID_ARGUMENT, ALREADY_EXISTS, FAILED_PRECONDITION, NOT_FOUND, …); it must not be in
//     the books;
//   - unknown: the answer was lost (a deadline, a broken connection, a killed server, INTERNAL,
//     UNAVAILABLE); it may be in the books once or not at all, and a retry with the same key
//     settles which: the retry must book it if it was not booked and replay it if it was.
//
// The package knows nothing of gRPC calls (it uses only the status codes): the harness classifies
// each call's code with Classify and feeds the log.
package soak

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/shopspring/decimal"
	"google.golang.org/grpc/codes"

	"github.com/openroyalty/royalty/ledger"
)

// Outcome is what a client learned about one write.
type Outcome int

// Outcomes.
const (
	Unknown Outcome = iota
	Acked
	Refused
)

func (o Outcome) String() string {
	switch o {
	case Acked:
		return "acknowledged"
	case Refused:
		return "refused"
	}
	return "unknown"
}

// Classify says what a gRPC status code tells a client about a write: Acked for OK, Refused
// for the codes a handler returns before writing anything, Unknown for the rest (the call may
// have been cut off after the commit).
func Classify(c codes.Code) Outcome {
	switch c {
	case codes.OK:
		return Acked
	case codes.InvalidArgument, codes.AlreadyExists, codes.FailedPrecondition, codes.NotFound,
		codes.PermissionDenied, codes.Unauthenticated, codes.OutOfRange, codes.Unimplemented:
		return Refused
	}
	return Unknown
}

// Key is a write's idempotency key as the ledger stores it: the principal, the transaction
// kind and the request id. A reversal's request id is the reversed transaction's id.
type Key struct {
	Kind      ledger.Kind
	Principal string
	RequestID string
}

func (k Key) String() string { return fmt.Sprintf("%s %s/%s", k.Kind, k.Principal, k.RequestID) }

// Write is the client's record of one idempotent write.
type Write struct {
	Key
	// Amount and Currency are what the write should book: a usage's revenue, an explicit
	// payout's amount (zero for "everything available").
	Amount   decimal.Decimal
	Currency string
	// Batch groups the reports of one ReportUsageBatch call (0 for single calls).
	Batch int64

	Outcome Outcome
	// Tx is the transaction the server acknowledged.
	Tx string
	// AckedAt is when the client received the acknowledgement.
	AckedAt time.Time
	// Attempts counts the calls that carried the write.
	Attempts int
	// Settled is true when the outcome was learned only by the settling retry.
	Settled bool
	// Code is the status code of the last failed attempt.
	Code codes.Code
	// Duplicates counts the times the server told the client it booked the write again.
	Duplicates int
	fresh      int // acknowledgements that were not replays
}

// Log is the client-side log of writes. It is safe for concurrent use.
type Log struct {
	mu       sync.Mutex
	writes   map[Key]*Write
	problems []string
}

// NewLog returns an empty log.
func NewLog() *Log { return &Log{writes: map[Key]*Write{}} }

// Sent records that a call carrying w is about to be made: the first call registers it, later
// ones (retries) count an attempt. A retry must carry the same amount and currency.
func (l *Log) Sent(w Write) {
	l.mu.Lock()
	defer l.mu.Unlock()
	prev, ok := l.writes[w.Key]
	if !ok {
		w.Outcome, w.Tx, w.Attempts = Unknown, "", 1
		l.writes[w.Key] = &w
		return
	}
	prev.Attempts++
	if !prev.Amount.Equal(w.Amount) || prev.Currency != w.Currency {
		l.problemf("%v: retried with %s %s, first sent with %s %s (harness bug)", w.Key, w.Amount, w.Currency, prev.Amount, prev.Currency)
	}
}

// Ack records an acknowledgement of the transaction tx; replayed is the server's word that it
// had booked the write before. A write acknowledged with two transactions, or told twice that
// it was booked fresh, was booked twice; a write replayed on its only attempt was booked
// without being sent.
func (l *Log) Ack(k Key, tx string, replayed bool, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.get(k)
	switch {
	case w.Outcome == Acked && w.Tx != tx:
		l.problemf("%v: acknowledged as transaction %s, then as %s: booked twice", k, w.Tx, tx)
		w.Duplicates++
	case w.Outcome == Refused:
		l.problemf("%v: refused with %v, then acknowledged as %s", k, w.Code, tx)
	case !replayed && w.fresh > 0:
		l.problemf("%v: told twice that %s was booked fresh", k, tx)
		w.Duplicates++
	case replayed && w.Attempts == 1:
		l.problemf("%v: its only call was answered as a replay of %s", k, tx)
	}
	if !replayed {
		w.fresh++
	}
	if w.Outcome != Acked {
		w.AckedAt = at
	}
	w.Outcome, w.Tx = Acked, tx
}

// Fail records a failed call with its status code: Refused or Unknown by Classify. A write
// once acknowledged stays acknowledged (a later retry can only replay it).
func (l *Log) Fail(k Key, c codes.Code) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.get(k)
	w.Code = c
	if w.Outcome == Acked {
		if Classify(c) == Refused {
			l.problemf("%v: acknowledged as %s, then a retry was refused with %v", k, w.Tx, c)
		}
		return
	}
	w.Outcome = Classify(c)
}

// Settle records the settling of a write whose outcome was unknown: found and foundTx are what
// a read by key said before the retry, retryTx and replayed what the retry with the same key
// answered. The retry must replay the found transaction, or book the write if none was found.
func (l *Log) Settle(k Key, found bool, foundTx, retryTx string, replayed bool, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.get(k)
	switch {
	case found && !replayed:
		l.problemf("%v: booked as %s before the retry, and the retry booked it again as %s", k, foundTx, retryTx)
		w.Duplicates++
	case found && retryTx != foundTx:
		l.problemf("%v: booked as %s, the retry replayed %s", k, foundTx, retryTx)
	case !found && replayed:
		l.problemf("%v: not found before the retry, yet the retry replayed %s", k, retryTx)
	}
	w.Outcome, w.Tx, w.Settled, w.AckedAt = Acked, retryTx, true, at
}

// Resolve records the answer of the settling retry of a write that cannot be looked up by key
// beforehand (a payout): the retry's answer is the outcome.
func (l *Log) Resolve(k Key, tx string, replayed bool, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.get(k)
	switch {
	case w.Outcome == Acked && w.Tx != tx:
		l.problemf("%v: acknowledged as transaction %s, then as %s: booked twice", k, w.Tx, tx)
		w.Duplicates++
	case w.Outcome == Acked && !replayed:
		l.problemf("%v: told twice that %s was booked fresh", k, tx)
		w.Duplicates++
	}
	if w.Outcome != Acked {
		w.Settled, w.AckedAt = true, at
	}
	w.Outcome, w.Tx = Acked, tx
}

func (l *Log) get(k Key) *Write {
	w, ok := l.writes[k]
	if !ok {
		w = &Write{Key: k}
		l.writes[k] = w
		l.problemf("%v: outcome recorded for a write never sent (harness bug)", k)
	}
	return w
}

func (l *Log) problemf(format string, args ...any) {
	l.problems = append(l.problems, fmt.Sprintf(format, args...))
}

// Writes returns a copy of every write, sorted by key.
func (l *Log) Writes() []Write {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Write, 0, len(l.writes))
	for _, w := range l.writes {
		out = append(out, *w)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Key, out[j].Key
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Principal != b.Principal {
			return a.Principal < b.Principal
		}
		return a.RequestID < b.RequestID
	})
	return out
}

// Get returns the write under k.
func (l *Log) Get(k Key) (Write, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.writes[k]
	if !ok {
		return Write{}, false
	}
	return *w, true
}

// Unsettled returns the writes whose outcome is unknown, sorted by key.
func (l *Log) Unsettled() []Write {
	var out []Write
	for _, w := range l.Writes() {
		if w.Outcome == Unknown {
			out = append(out, w)
		}
	}
	return out
}

// Problems returns what the log itself found inconsistent while it was fed.
func (l *Log) Problems() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.problems...)
}
