package services

import (
	"context"
	"crypto/ed25519"
	"io"
	"time"

	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/csv"
	"github.com/openroyalty/royalty/ledger/journal"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// auditServer implements AuditService: the journal export and the trial balance, and the
// verifiable journal's calls (audit_journal.go).
type auditServer struct {
	v1.UnimplementedAuditServiceServer
	ledger     ledger.Ledger
	verifiable JournalStore
	publicKey  ed25519.PublicKey
	trusted    journal.Keys
}

func (s *auditServer) ExportJournal(req *v1.ExportJournalRequest, stream v1.AuditService_ExportJournalServer) error {
	var since, until time.Time
	if req.GetSince() != nil {
		since = req.GetSince().AsTime()
	}
	if req.GetUntil() != nil {
		until = req.GetUntil().AsTime()
	}
	w := newChunkWriter(stream.Send)
	if err := WriteJournal(stream.Context(), s.verifiable, since, until, w); err != nil {
		return toStatus(err)
	}
	return toStatus(w.Flush())
}

// WriteJournal writes the journal in [since, until) as CSV to w, one row per posting with the
// journal chain fields (docs/journal-format.md), from one consistent snapshot.
// `royalty export journal` and ExportJournal both use it, so the two produce the same file.
func WriteJournal(ctx context.Context, j JournalStore, since, until time.Time, w io.Writer) error {
	return csv.WriteJournal(ctx, j, since, until, w)
}

func (s *auditServer) GetTrialBalance(ctx context.Context, req *v1.GetTrialBalanceRequest) (*v1.GetTrialBalanceResponse, error) {
	var asOf time.Time
	if req.GetAsOf() != nil {
		asOf = req.GetAsOf().AsTime()
	}
	tb, err := s.ledger.TrialBalance(ctx, asOf)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &v1.GetTrialBalanceResponse{Postings: uint64(tb.Postings)}
	for _, l := range tb.Lines {
		out.Lines = append(out.Lines, &v1.TrialBalanceLine{
			AccountType: accountTypeToProto[l.Type], Currency: l.Currency, Debits: l.Debits.String(),
			Credits: l.Credits.String(), Balance: l.Balance.String(), Accounts: uint64(l.Accounts),
		})
	}
	for _, m := range tb.Totals {
		out.Totals = append(out.Totals, money(m.Amount, m.Currency))
	}
	return out, nil
}
