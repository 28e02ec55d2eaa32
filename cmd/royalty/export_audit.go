package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/openroyalty/royalty/cmd/wire"
	"github.com/openroyalty/royalty/ledger"
	"github.com/openroyalty/royalty/ledger/csv"
	"github.com/openroyalty/royalty/ledger/hledger"
	"github.com/openroyalty/royalty/ledger/journal"
	journalpg "github.com/openroyalty/royalty/ledger/journal/postgres"
	ledgerpg "github.com/openroyalty/royalty/ledger/postgres"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
	"github.com/openroyalty/royalty/services"
)

// auditExportCommands are the exports for auditors and contributors besides the journal CSV:
// an hledger journal, statements, the trial balance and inclusion proofs.
func auditExportCommands(cfg *config, stdout, stderr io.Writer) []*cobra.Command {
	return []*cobra.Command{
		exportHledgerCommand(cfg, stdout),
		exportStatementCommand(cfg, stdout),
		exportTrialBalanceCommand(cfg, stdout),
		exportProofCommand(cfg, stdout),
		exportClaimsCommand(cfg, stdout),
	}
}

// withPool opens the database at --database-url and checks its schema.
func withPool(ctx context.Context, cfg *config, fn func(*pgxpool.Pool) error) error {
	pool, err := wire.OpenDatabase(ctx, cfg.DatabaseURL, true)
	if err != nil {
		return err
	}
	defer pool.Close()
	return fn(pool)
}

func exportHledgerCommand(cfg *config, stdout io.Writer) *cobra.Command {
	var out, from string
	cmd := &cobra.Command{
		Use:   "hledger --out FILE.journal",
		Short: "Write the journal as an hledger/ledger-cli journal",
		Long: "Write every ledger transaction as an hledger journal entry: cleared (*) when sealed in the\n" +
			"verifiable journal, pending (!) when not yet; account names are the ledger's addresses and every\n" +
			"commodity is declared with the ledger's 12 decimal places, so `hledger balance` shows the books to\n" +
			"the last digit. It reads the database at --database-url, or with --from a journal CSV export\n" +
			"(for example one `royalty verify` has checked).",
		Example: "  royalty export hledger --out books.journal && hledger -f books.journal check && hledger -f books.journal bal --depth 1",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("--out is required")
			}
			ctx := cmd.Context()
			write := func(src func(fn func(*journal.Row) error) error) error {
				return writeFileAtomically(out, func(w io.Writer) error {
					hw := hledger.NewWriter(w, hledger.DefaultScale)
					if err := src(hw.Write); err != nil {
						return err
					}
					return hw.Close()
				}, stdout)
			}
			if from != "" {
				return write(func(fn func(*journal.Row) error) error { return readExport(from, fn) })
			}
			return withPool(ctx, cfg, func(pool *pgxpool.Pool) error {
				return write(func(fn func(*journal.Row) error) error {
					return journalpg.New(pool).Export(ctx, time.Time{}, time.Time{}, fn)
				})
			})
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "hledger journal file to write (required)")
	cmd.Flags().StringVar(&from, "from", "", "convert this journal CSV export instead of reading the database")
	return cmd
}

// readExport reads a journal CSV export row by row.
func readExport(path string, fn func(*journal.Row) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := csv.NewJournalDecoder(bufio.NewReaderSize(f, 1<<20))
	var r journal.Row
	for {
		err := dec.DecodeRow(&r)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
}

func exportStatementCommand(cfg *config, stdout io.Writer) *cobra.Command {
	var out, contributor, account, currency string
	cmd := &cobra.Command{
		Use:   "statement --contributor ID --out FILE.csv",
		Short: "Write a contributor's (or any account's) statement as CSV, with the evidence of every credit",
		Long: "Write every posting to a contributor's account (or to --account, for example an identity's\n" +
			"escrow) as CSV, newest first: the change to the balance (a royalty is positive, a payout\n" +
			"negative), the identity and model behind each credit with its evidence spans as JSON, and the\n" +
			"reason of reversals. On a contributor's statement each escrow release is followed by the\n" +
			"credits it moved (account escrow:..., released_by the release; not counted twice in the\n" +
			"balance, which is the sum of the rows without released_by). Columns: " + fmt.Sprint(csv.StatementColumns) + ".",
		Example: "  royalty export statement --contributor 7a3c5e0e-… --out statement.csv",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("--out is required")
			}
			switch {
			case contributor != "" && account != "":
				return errors.New("give --contributor or --account, not both")
			case contributor != "":
				if err := ledger.CheckID("--contributor", contributor); err != nil {
					return err
				}
				account = ledger.ContributorAccount(contributor)
			case account == "":
				return errors.New("--contributor (or --account) is required")
			}
			ctx := cmd.Context()
			return withPool(ctx, cfg, func(pool *pgxpool.Pool) error {
				l, err := wire.OpenLedger(pool, nil, ledgerpg.Config{GroupCommit: ledgerpg.GroupCommit{Disabled: true}})
				if err != nil {
					return err
				}
				defer l.Close()
				return writeFileAtomically(out, func(w io.Writer) error {
					enc := csv.NewStatementEncoder(w, account)
					q := ledger.StatementQuery{Account: account, Currency: currency, PageSize: ledger.MaxPageSize,
						ExpandReleases: strings.HasPrefix(account, ledger.ContributorAccount(""))}
					for {
						page, err := l.Statement(ctx, q)
						if err != nil {
							return err
						}
						for _, e := range page.Entries {
							if err := enc.Encode(e); err != nil {
								return err
							}
						}
						if page.NextPageToken == "" {
							return enc.Close()
						}
						q.PageToken = page.NextPageToken
					}
				}, stdout)
			})
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "CSV file to write (required)")
	cmd.Flags().StringVar(&contributor, "contributor", "", "the contributor's principal id")
	cmd.Flags().StringVar(&account, "account", "", "any account address instead, for example escrow:hn:/pg")
	cmd.Flags().StringVar(&currency, "currency", "", "only postings in this currency")
	return cmd
}

func exportTrialBalanceCommand(cfg *config, stdout io.Writer) *cobra.Command {
	var out, asOf string
	cmd := &cobra.Command{
		Use:   "trial-balance --out FILE.csv",
		Short: "Write the trial balance (what GetTrialBalance returns) as CSV",
		Long: "Write the sums of all postings per account type and currency (debits, credits, balance, number of\n" +
			"accounts), then one total row per currency, which is zero in balanced books.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("--out is required")
			}
			var at time.Time
			if asOf != "" {
				var err error
				if at, err = time.Parse(time.RFC3339, asOf); err != nil {
					return fmt.Errorf("--as-of: %w", err)
				}
			}
			ctx := cmd.Context()
			return withPool(ctx, cfg, func(pool *pgxpool.Pool) error {
				l, err := wire.OpenLedger(pool, nil, ledgerpg.Config{GroupCommit: ledgerpg.GroupCommit{Disabled: true}})
				if err != nil {
					return err
				}
				defer l.Close()
				tb, err := l.TrialBalance(ctx, at)
				if err != nil {
					return err
				}
				return writeFileAtomically(out, func(w io.Writer) error { return csv.WriteTrialBalance(w, tb) }, stdout)
			})
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "CSV file to write (required)")
	cmd.Flags().StringVar(&asOf, "as-of", "", "as of this RFC 3339 time (inclusive); now when empty")
	return cmd
}

func exportProofCommand(cfg *config, stdout io.Writer) *cobra.Command {
	var out, transaction string
	var client clientOptions
	var size uint64
	cmd := &cobra.Command{
		Use:   "proof --transaction ID --out FILE.json",
		Short: "Fetch an inclusion proof of a transaction from the server (as a contributor: of your own credits)",
		Long: "Ask the server at --grpc-addr (AuditService.GetInclusionProof) for the proof that a transaction is\n" +
			"in the journal under a signed checkpoint, and write it as a file that `royalty verify proof`\n" +
			"checks offline. A contributor's key may prove the transactions that credit it.",
		Example: "  royalty export proof --transaction 7a3c5e0e-… --api-key-file key.txt --out proof.json\n" +
			"  royalty verify proof proof.json --pubkey <key from GetPublicKey>",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" || transaction == "" {
				return errors.New("--transaction and --out are required")
			}
			conn, err := client.dial(cfg.GRPCAddr)
			if err != nil {
				return fmt.Errorf("--grpc-addr: %w", err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			if ctx, err = client.withKey(ctx); err != nil {
				return err
			}
			resp, err := v1.NewAuditServiceClient(conn).GetInclusionProof(ctx, &v1.GetInclusionProofRequest{TransactionId: transaction, CheckpointSize: size})
			if err != nil {
				return err
			}
			p, err := services.ProofFromProto(transaction, resp)
			if err != nil {
				return err
			}
			data, err := json.Marshal(p)
			if err != nil {
				return err
			}
			return writeFileAtomically(out, func(w io.Writer) error {
				_, err := w.Write(append(data, '\n'))
				return err
			}, stdout)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "proof file to write (required)")
	cmd.Flags().StringVar(&transaction, "transaction", "", "the transaction to prove (required)")
	cmd.Flags().Uint64Var(&size, "checkpoint-size", 0, "prove under the checkpoint of this size; the newest when 0")
	addClientFlags(cmd.Flags(), &client)
	return cmd
}
