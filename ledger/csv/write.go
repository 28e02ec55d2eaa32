package csv

import (
	"context"
	"io"
	"time"

	"github.com/openroyalty/royalty/ledger/journal"
)

// JournalSource streams the journal's rows in export order (ledger/journal/postgres.Store).
type JournalSource interface {
	Export(ctx context.Context, since, until time.Time, fn func(*journal.Row) error) error
}

// WriteJournal writes the journal's transactions created in [since, until) (zero times are open
// ends) as CSV to w, with the chain fields, from src's consistent snapshot. It is the one export
// path: AuditService.ExportJournal, `royalty export journal` and the export benchmark call it,
// so they produce the same file.
func WriteJournal(ctx context.Context, src JournalSource, since, until time.Time, w io.Writer) error {
	enc := NewJournalEncoder(w)
	n := 0
	err := src.Export(ctx, since, until, func(r *journal.Row) error {
		if n++; n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return enc.EncodeRow(r)
	})
	if err != nil {
		return err
	}
	return enc.Close()
}
