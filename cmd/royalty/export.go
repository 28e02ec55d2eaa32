package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/openroyalty/royalty/cmd/wire"
	journalpg "github.com/openroyalty/royalty/ledger/journal/postgres"
	"github.com/openroyalty/royalty/services"
)

func exportCommand(cfg *config, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export the journal for auditors",
	}
	var out, since, until string
	journal := &cobra.Command{
		Use:   "journal",
		Short: "Write the journal as CSV, one row per posting, from one consistent snapshot",
		Long: "Write the journal at --database-url as CSV (RFC 4180): transaction_id, created_at, kind, account,\n" +
			"account_type, currency, amount (debit positive, credit negative), idempotency_key, reverses, and\n" +
			"the journal chain fields (docs/journal-format.md) that `royalty verify` checks.\n" +
			"It is the same file AuditService.ExportJournal streams.",
		Example: "  royalty export journal --out journal.csv",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := newLogger(cfg, stderr)
			if err != nil {
				return err
			}
			if cfg.DatabaseURL == "" {
				return wire.ErrNoDatabase
			}
			if out == "" {
				return errors.New("--out is required")
			}
			var from, to time.Time
			if since != "" {
				if from, err = time.Parse(time.RFC3339, since); err != nil {
					return fmt.Errorf("--since: %w", err)
				}
			}
			if until != "" {
				if to, err = time.Parse(time.RFC3339, until); err != nil {
					return fmt.Errorf("--until: %w", err)
				}
			}
			ctx := cmd.Context()
			pool, err := wire.OpenDatabase(ctx, cfg.DatabaseURL, true)
			if err != nil {
				return err
			}
			defer pool.Close()
			log.Debug("exporting the journal", "since", from, "until", to)
			return writeFileAtomically(out, func(w io.Writer) error {
				return services.WriteJournal(ctx, journalpg.New(pool), from, to, w)
			}, stdout)
		},
	}
	journal.Flags().StringVar(&out, "out", "", "CSV file to write (required)")
	journal.Flags().StringVar(&since, "since", "", "only transactions created at or after this RFC 3339 time")
	journal.Flags().StringVar(&until, "until", "", "only transactions created before this RFC 3339 time")
	cmd.AddCommand(journal)
	cmd.AddCommand(auditExportCommands(cfg, stdout, stderr)...)
	return cmd
}

// writeFileAtomically writes path through a temporary file in the same directory and renames it
// into place only when fn succeeded, so that a failed export never leaves a truncated file that
// looks complete.
func writeFileAtomically(path string, fn func(io.Writer) error, stdout io.Writer) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".export-*.csv")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", path)
	return nil
}
