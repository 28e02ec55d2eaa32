package csv

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"time"

	"github.com/openroyalty/royalty/ledger"
)

// StatementColumns are the header of a statement export, in order. The amount is the change to
// the account's balance in its normal direction (a royalty is positive on a contributor's
// statement, a payout negative); evidence is a JSON array of the credited spans. An escrow
// release read with its released entries (StatementEntry.Released) is followed by one row per
// entry it moved: on the identity's escrow account, with released_by the release's transaction
// id. Those rows are already counted in the release's amount: the account's balance is the sum
// of the rows whose released_by is empty.
var StatementColumns = []string{
	"created_at", "transaction_id", "kind", "account", "currency", "amount",
	"identity_key", "model_id", "reverses", "reason", "evidence", "released_by",
}

// evidenceJSON is one span in the evidence cell.
type evidenceJSON struct {
	PostID            string `json:"post_id"`
	PostURL           string `json:"post_url,omitempty"`
	ResponseStart     int    `json:"response_start"`
	ResponseEnd       int    `json:"response_end"`
	ResponseWordStart int    `json:"response_word_start"`
	ResponseWordEnd   int    `json:"response_word_end"`
	SourceStart       int    `json:"source_start"`
	SourceEnd         int    `json:"source_end"`
	Text              string `json:"text"`
}

// StatementEncoder writes an account's statement entries. It is not safe for concurrent use.
type StatementEncoder struct {
	w       *csv.Writer
	account string
	head    bool
	record  []string
}

// NewStatementEncoder returns an encoder of the statement of account to w.
func NewStatementEncoder(w io.Writer, account string) *StatementEncoder {
	cw := csv.NewWriter(bufio.NewWriter(w))
	cw.UseCRLF = true
	return &StatementEncoder{w: cw, account: account, record: make([]string, len(StatementColumns))}
}

func (e *StatementEncoder) header() error {
	if e.head {
		return nil
	}
	e.head = true
	return e.w.Write(StatementColumns)
}

// Encode writes one entry, then the entries it released, if any.
func (e *StatementEncoder) Encode(s ledger.StatementEntry) error {
	if err := e.header(); err != nil {
		return err
	}
	if err := e.encode(s, e.account, ""); err != nil {
		return err
	}
	for _, x := range s.Released {
		if err := e.encode(x, ledger.EscrowAccount(s.IdentityKey), s.TransactionID); err != nil {
			return err
		}
	}
	return nil
}

func (e *StatementEncoder) encode(s ledger.StatementEntry, account, releasedBy string) error {
	evidence := ""
	if len(s.Evidence) > 0 {
		spans := make([]evidenceJSON, len(s.Evidence))
		for i, ev := range s.Evidence {
			spans[i] = evidenceJSON{PostID: ev.PostID, PostURL: ev.PostURL, ResponseStart: ev.ResponseStart, ResponseEnd: ev.ResponseEnd,
				ResponseWordStart: ev.ResponseWordStart, ResponseWordEnd: ev.ResponseWordEnd, SourceStart: ev.SourceStart, SourceEnd: ev.SourceEnd, Text: ev.Text}
		}
		b, err := json.Marshal(spans)
		if err != nil {
			return err
		}
		evidence = string(b)
	}
	if f := s.Feedback; f != nil { // a rater's settlement credit: the pool and the counts
		b, err := json.Marshal(f)
		if err != nil {
			return err
		}
		evidence = string(b)
	}
	e.record[0] = s.CreatedAt.UTC().Format(time.RFC3339Nano)
	e.record[1] = Neutralize(s.TransactionID)
	e.record[2] = Neutralize(string(s.Kind))
	e.record[3] = Neutralize(account)
	e.record[4] = Neutralize(s.Currency)
	e.record[5] = s.Amount.String()
	e.record[6] = Neutralize(s.IdentityKey)
	e.record[7] = Neutralize(s.ModelID)
	e.record[8] = Neutralize(s.Reverses)
	e.record[9] = Neutralize(s.Reason)
	e.record[10] = Neutralize(evidence)
	e.record[11] = Neutralize(releasedBy)
	return e.w.Write(e.record)
}

// Close writes the header if nothing was written, flushes and returns the first write error.
func (e *StatementEncoder) Close() error {
	if err := e.header(); err != nil {
		return err
	}
	e.w.Flush()
	return e.w.Error()
}

// TrialBalanceColumns are the header of a trial balance export. Debits are the sum of the
// positive postings, credits of the negative ones, balance their sum, postings their number;
// the last rows, with account_type "total", sum every balance of a currency, which is zero in
// balanced books, and count that currency's postings.
var TrialBalanceColumns = []string{"account_type", "currency", "accounts", "debits", "credits", "balance", "postings"}

// WriteTrialBalance writes a trial balance as CSV.
func WriteTrialBalance(w io.Writer, tb ledger.TrialBalance) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(TrialBalanceColumns); err != nil {
		return err
	}
	postings := map[string]int64{} // per currency
	for _, l := range tb.Lines {
		postings[l.Currency] += l.Postings
		if err := cw.Write([]string{string(l.Type), Neutralize(l.Currency), strconv.Itoa(l.Accounts), l.Debits.String(), l.Credits.String(), l.Balance.String(), strconv.FormatInt(l.Postings, 10)}); err != nil {
			return err
		}
	}
	for _, t := range tb.Totals {
		if err := cw.Write([]string{"total", Neutralize(t.Currency), "", "", "", t.Amount.String(), strconv.FormatInt(postings[t.Currency], 10)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
