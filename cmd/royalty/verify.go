package main

import (
	"bufio"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/openroyalty/royalty/cmd/wire"
	"github.com/openroyalty/royalty/internal/termtext"
	"github.com/openroyalty/royalty/ledger/csv"
	"github.com/openroyalty/royalty/ledger/journal"
	journalpg "github.com/openroyalty/royalty/ledger/journal/postgres"
)

// verifyCommand checks exports and inclusion proofs offline: nothing but the file and the
// public key is trusted, and nothing is read from a server.
func verifyCommand(cfg *config, stdout, stderr io.Writer) *cobra.Command {
	var pubkeys []string
	var allowUnsealed bool
	var minSize uint64
	cmd := &cobra.Command{
		Use:   "verify FILE.csv --pubkey KEY",
		Short: "Verify an exported journal or an inclusion proof offline",
		Long: "Recompute every hash of a journal export (royalty export journal, AuditService.ExportJournal) and\n" +
			"check every checkpoint signature with the given public key, in constant memory. The first\n" +
			"inconsistency is reported with its row (1-based, header excluded): a changed amount or field, a\n" +
			"dropped, added or reordered row, a bad signature. Exit status 0 when everything verifies, 1 when\n" +
			"not. KEY is the base64 public key from AuditService.GetPublicKey, or a file holding it or a PEM\n" +
			"public key; repeat --pubkey to trust several keys (after a rotation). docs/journal-format.md\n" +
			"describes what is checked.",
		Example: "  royalty verify journal.csv --pubkey MCowBQYDK2VwAyEA…\n  royalty verify proof proof.json --pubkey key.pub",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			keys, err := trustedKeys(pubkeys)
			if err != nil {
				return err
			}
			sum, err := verifyExport(args[0], keys, journal.VerifyOptions{AllowUnsealed: allowUnsealed, MinSize: minSize})
			if re, ok := journal.IsRowError(err); ok {
				fmt.Fprintf(stdout, "FAILED %s: row %d: %s\n", args[0], re.Row, termtext.Clean(re.Msg))
				fmt.Fprintf(stdout, "read %d rows\n", sum.Rows)
				return exitCode(1)
			}
			if err != nil {
				return err
			}
			printVerifySummary(stdout, args[0], sum)
			return nil
		},
	}
	cmd.PersistentFlags().StringArrayVar(&pubkeys, "pubkey", nil, "trusted Ed25519 public key: base64, or a file with base64 or PEM (repeatable; required)")
	cmd.Flags().BoolVar(&allowUnsealed, "allow-unsealed", false, "accept rows of transactions not sealed yet at the end of the export (they are counted, not verified)")
	cmd.Flags().Uint64Var(&minSize, "min-size", 0, "fail unless a checkpoint covers at least this many transactions (catches an export cut at a checkpoint)")
	cmd.AddCommand(verifyProofCommand(stdout, &pubkeys), verifyBalancesCommand(cfg, stdout, stderr))
	return cmd
}

// verifyBalancesCommand checks the balance checkpoints in the database against the full sums.
func verifyBalancesCommand(cfg *config, stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "balances --database-url URL",
		Short: "Check every balance checkpoint in the database against the full sum of its postings",
		Long: "Sum the sealed postings in journal order and compare every balance checkpoint (an account's\n" +
			"debits, credits and postings per currency over the journal positions it covers) with the sum, and\n" +
			"check that the newest balance fence holds: no transaction created before it is unsealed within its\n" +
			"journal size (docs/design.md §8). Unlike the other verify commands it reads the database. Exit\n" +
			"status 0 when everything holds, 1 at the first checkpoint or fence that does not.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := newLogger(cfg, stderr); err != nil {
				return err
			}
			if cfg.DatabaseURL == "" {
				return wire.ErrNoDatabase
			}
			pool, err := wire.OpenDatabase(cmd.Context(), cfg.DatabaseURL, true)
			if err != nil {
				return err
			}
			defer pool.Close()
			rep, err := journalpg.New(pool).VerifyBalances(cmd.Context())
			if journalpg.IsBalanceError(err) {
				fmt.Fprintf(stdout, "FAILED: %s\n", termtext.Clean(err.Error()))
				return exitCode(1)
			}
			if err != nil {
				return err
			}
			if rep.JournalSize == 0 {
				fmt.Fprintln(stdout, "ok: no balance checkpoints yet (nothing sealed since they were introduced)")
				return nil
			}
			fmt.Fprintf(stdout, "ok: %d balance checkpoints equal the sums of %d sealed postings; journal size %d, fence %s\n",
				rep.Checkpoints, rep.Postings, rep.JournalSize, rep.Fence.UTC().Format("2006-01-02T15:04:05.000000Z"))
			return nil
		},
	}
}

func verifyProofCommand(stdout io.Writer, pubkeys *[]string) *cobra.Command {
	return &cobra.Command{
		Use:   "proof FILE.json --pubkey KEY",
		Short: "Verify an inclusion proof offline (royalty export proof)",
		Long: "Check that the transaction in an inclusion proof file hashes to its leaf, that the path leads\n" +
			"from the leaf to the checkpoint's root, and that the checkpoint is signed by a trusted key. On\n" +
			"success it prints the proven transaction and its postings. Exit status 1 when the proof fails.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			keys, err := trustedKeys(*pubkeys)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			var p journal.InclusionProof
			if err := json.Unmarshal(data, &p); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			e, err := p.Verify(keys)
			if err != nil {
				fmt.Fprintf(stdout, "FAILED %s: %s\n", args[0], termtext.Clean(err.Error()))
				return exitCode(1)
			}
			// The proof file's text fields are printed through termtext.Clean: the file may come
			// from anyone.
			fmt.Fprintf(stdout, "ok: transaction %s is entry %d of the journal under checkpoint %d (root %s, signed %s by key %s)\n",
				termtext.Clean(e.TransactionID), p.Index, p.Checkpoint.Size, p.Checkpoint.Root, p.Checkpoint.Time.Format("2006-01-02T15:04:05Z07:00"), termtext.Clean(p.Checkpoint.KeyID))
			fmt.Fprintf(stdout, "  %s, created %s, idempotency key %s\n", termtext.Clean(e.Kind), e.CreatedAt.Format("2006-01-02T15:04:05.000000Z"), termtext.Clean(e.IdempotencyKey))
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			for _, posting := range e.Postings {
				fmt.Fprintf(tw, "  %s\t%s\t%s %s\n", oneLine(termtext.Clean(posting.Account)), oneLine(termtext.Clean(posting.AccountType)), journal.FormatAmount(posting.Amount), termtext.Clean(posting.Currency))
			}
			return tw.Flush()
		},
	}
}

// trustedKeys parses the --pubkey values.
func trustedKeys(values []string) (journal.Keys, error) {
	if len(values) == 0 {
		return nil, errors.New("--pubkey is required: the base64 key from AuditService.GetPublicKey (or a file holding it)")
	}
	var pubs []ed25519.PublicKey
	for _, v := range values {
		data := []byte(v)
		if b, err := os.ReadFile(v); err == nil {
			data = b
		}
		pub, err := journal.ParsePublicKey(data)
		if err != nil {
			return nil, fmt.Errorf("--pubkey %s: %w", abbreviate(v), err)
		}
		pubs = append(pubs, pub)
	}
	return journal.NewKeys(pubs...), nil
}

func abbreviate(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}

// verifyExport streams an export file through the verifier.
func verifyExport(path string, keys journal.Keys, opts journal.VerifyOptions) (journal.Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return journal.Summary{}, err
	}
	defer f.Close()
	dec := csv.NewJournalDecoder(bufio.NewReaderSize(f, 1<<20))
	v := journal.NewVerifier(keys, opts)
	var r journal.Row
	for {
		err := dec.DecodeRow(&r)
		if errors.Is(err, io.EOF) {
			return v.Close()
		}
		if re, ok := journal.IsRowError(err); ok {
			v.Fail(re)
			return v.Close()
		}
		if err != nil {
			return journal.Summary{}, err
		}
		if err := v.Add(&r); err != nil {
			return v.Close()
		}
	}
}

func printVerifySummary(w io.Writer, path string, s journal.Summary) {
	fmt.Fprintf(w, "ok: %s: %d rows, %d transactions sealed and verified", path, s.Rows, s.Sealed)
	if s.Unsealed > 0 {
		fmt.Fprintf(w, ", %d not sealed yet (%d rows, balanced but not covered by a signature)", s.Unsealed, s.UnsealedRows)
	}
	fmt.Fprintf(w, "; %d checkpoint signatures valid\n", s.Checkpoints)
	if n := s.Newest; n != nil {
		fmt.Fprintf(w, "newest checkpoint: size %d, root %s, signed %s by key %s\n", n.Size, n.Root, n.Time.Format("2006-01-02T15:04:05.000000Z"), n.KeyID)
		fmt.Fprintln(w, strings.TrimSpace(`compare it with a checkpoint you got elsewhere (ListCheckpoints, or --min-size) to be sure the export was not cut short`))
	}
}
