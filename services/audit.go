package services

import (
	"context"
	"time"

	"github.com/openroyalty/royalty/csv"
	"github.com/openroyalty/royalty/ledger"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// auditServer implements AuditService's journal export and trial balance. The verifiable
// journal (VerifyJournal, GetPublicKey, ListCheckpoints, GetInclusionProof) is not built yet and
// answers UNIMPLEMENTED through the embedded type.
type auditServer struct {
	v1.UnimplementedAuditServiceServer
	ledger  ledger.Ledger
	journal ledger.Journal
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
	if err := WriteJournal(stream.Context(), s.journal, since, until, w); err != nil {
		return toStatus(err)
	}
	return toStatus(w.Flush())
}

// WriteJournal writes the journal in [since, until) as CSV to w, one row per posting, from the
// ledger's consistent snapshot. `royalty export journal` and ExportJournal both use it, so the
// two produce the same file.
func WriteJournal(ctx context.Context, j ledger.Journal, since, until time.Time, w interface{ Write([]byte) (int, error) }) error {
	enc := csv.NewJournalEncoder(w)
	err := j.Journal(ctx, since, until, func(t ledger.Transaction) error {
		key := ""
		if t.PrincipalID != "" || t.RequestID != "" {
			key = t.PrincipalID + ":" + t.RequestID
		}
		for _, p := range t.Postings {
			err := enc.Encode(csv.JournalRow{
				TransactionID: t.ID, CreatedAt: t.CreatedAt, Kind: string(t.Kind), Account: p.Account,
				AccountType: string(p.Type), Currency: p.Currency, Amount: p.Amount,
				IdempotencyKey: key, Reverses: t.Reverses,
			})
			if err != nil {
				return err
			}
		}
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	return enc.Close()
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
