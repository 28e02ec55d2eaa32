package main

import (
	"encoding/csv"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/openroyalty/royalty/claims"
	claimspg "github.com/openroyalty/royalty/claims/postgres"
)

// exportClaimsCommand writes every claim with the kind of proof that verified it, for auditors
// reviewing who received which identity's escrow and on what evidence.
func exportClaimsCommand(cfg *config, stdout io.Writer) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "claims --out FILE.csv",
		Short: "Write every claim with its status and proof kind as CSV",
		Long: "Write the claims at --database-url as CSV (RFC 4180), newest first: claim_id, contributor_id,\n" +
			"identity_key, status, proof_kind (profile, comment, own_edit_post, admin, or legacy_post for post\n" +
			"proofs accepted before the post's editor was checked), decided_by, created_at, decided_at,\n" +
			"release_transaction_id and released (amount currency pairs separated by ';').",
		Example: "  royalty export claims --out claims.csv",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("--out is required")
			}
			ctx := cmd.Context()
			return withPool(ctx, cfg, func(pool *pgxpool.Pool) error {
				return writeFileAtomically(out, func(w io.Writer) error {
					return writeClaims(cmd, claimspg.New(pool), w)
				}, stdout)
			})
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "CSV file to write (required)")
	return cmd
}

func writeClaims(cmd *cobra.Command, store claims.Store, w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"claim_id", "contributor_id", "identity_key", "status", "proof_kind", "decided_by",
		"created_at", "decided_at", "release_transaction_id", "released"}); err != nil {
		return err
	}
	token := ""
	for {
		page, next, err := store.List(cmd.Context(), claims.Filter{PageSize: 500, PageToken: token})
		if err != nil {
			return err
		}
		for _, c := range page {
			decided := ""
			if c.DecidedAt != nil {
				decided = c.DecidedAt.UTC().Format(time.RFC3339Nano)
			}
			var released []string
			for _, m := range c.Released {
				released = append(released, m.Amount.String()+" "+m.Currency)
			}
			if err := cw.Write([]string{c.ID, c.ContributorID, c.IdentityKey, string(c.Status), string(c.ProofKind), c.DecidedBy,
				c.CreatedAt.UTC().Format(time.RFC3339Nano), decided, c.ReleaseTransactionID, strings.Join(released, ";")}); err != nil {
				return err
			}
		}
		if next == "" {
			break
		}
		token = next
	}
	cw.Flush()
	return cw.Error()
}
