package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/claims"
	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/ledger"
)

// CreateLinkCode implements claims.Store.
func (s *Store) CreateLinkCode(ctx context.Context, c claims.LinkCode) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO rater_link_codes (code_hash, provider_id, rater_id, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, c.Hash, c.ProviderID, c.RaterID, c.CreatedAt, c.ExpiresAt)
	if err != nil {
		return fmt.Errorf("storing link code: %w", err)
	}
	return nil
}

// RedeemLinkCode implements claims.Store.
func (s *Store) RedeemLinkCode(ctx context.Context, hash []byte, providerID, raterID, contributorID, challenge string, now time.Time) (claims.Claim, error) {
	if _, err := uuid.Parse(contributorID); err != nil {
		return claims.Claim{}, royalty.FieldErrorf(royalty.ENOTFOUND, "contributor_id", "no contributor %q", contributorID)
	}
	key := ledger.RaterIdentityKey(providerID, raterID)
	var c claims.Claim
	err := pgdb.Serializable(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE rater_link_codes SET used_at = $5, used_by = $4
			WHERE code_hash = $1 AND provider_id = $2 AND rater_id = $3 AND used_at IS NULL AND expires_at > $5`,
			hash, providerID, raterID, contributorID, now)
		if err != nil {
			return fmt.Errorf("using link code: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return s.unusable(ctx, tx, hash, providerID, raterID, contributorID, key, &c)
		}
		c, err = scanClaim(tx.QueryRow(ctx, `SELECT `+columns+` FROM claims
			WHERE contributor_id = $1 AND identity_key = $2 AND status = 'pending'`, contributorID, key))
		if errors.Is(err, pgx.ErrNoRows) {
			c, err = scanClaim(tx.QueryRow(ctx, `INSERT INTO claims (contributor_id, identity_key, status, challenge)
				VALUES ($1, $2, 'pending', $3) RETURNING `+columns, contributorID, key, challenge))
		}
		if isForeignKeyViolation(err) {
			return royalty.FieldErrorf(royalty.ENOTFOUND, "contributor_id", "no contributor %q", contributorID)
		} else if err != nil {
			return fmt.Errorf("opening claim: %w", err)
		}
		if _, err := tx.Exec(ctx, `SELECT id FROM claims WHERE status = 'pending' AND identity_key = $1 ORDER BY id FOR UPDATE`, key); err != nil {
			return fmt.Errorf("locking pending claims: %w", err)
		}
		by := "provider:" + providerID + " link code"
		if c, err = decide(ctx, tx, c.ID, claims.StatusVerified, claims.ProofLinkCode, by, ""); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE claims SET status = 'rejected', decided_at = now(), decided_by = $2, note = $3
			WHERE identity_key = $1 AND status = 'pending'`,
			key, by, "superseded: claim "+c.ID+" verified the identity for another contributor"); err != nil {
			return fmt.Errorf("superseding pending claims: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE rater_link_codes SET claim_id = $2 WHERE code_hash = $1`, hash, c.ID); err != nil {
			return fmt.Errorf("recording the link code's claim: %w", err)
		}
		return nil
	})
	if isUniqueViolation(err) {
		return claims.Claim{}, royalty.FieldErrorf(royalty.EPRECONDITION, "identity_key", "%s already has an owner", key)
	}
	return c, err
}

// unusable explains why a code could not be used, or, when the same contributor used it
// before (a retry), puts the claim it verified in c.
func (s *Store) unusable(ctx context.Context, tx pgx.Tx, hash []byte, providerID, raterID, contributorID, key string, c *claims.Claim) error {
	var usedBy, claimID *string
	var expires time.Time
	err := tx.QueryRow(ctx, `SELECT used_by::TEXT, claim_id::TEXT, expires_at FROM rater_link_codes
		WHERE code_hash = $1 AND provider_id = $2 AND rater_id = $3`, hash, providerID, raterID).Scan(&usedBy, &claimID, &expires)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return royalty.FieldErrorf(royalty.ENOTFOUND, "code", "no link code for %s matches: ask its provider for a new one", key)
	case err != nil:
		return fmt.Errorf("reading link code: %w", err)
	case usedBy != nil && *usedBy == contributorID && claimID != nil:
		got, err := scanClaim(tx.QueryRow(ctx, `SELECT `+columns+` FROM claims WHERE id = $1`, *claimID))
		if err != nil {
			return fmt.Errorf("reading the link code's claim: %w", err)
		}
		*c = got
		return nil
	case usedBy != nil:
		return royalty.FieldErrorf(royalty.EPRECONDITION, "code", "this link code for %s has been used already", key)
	}
	return royalty.FieldErrorf(royalty.EPRECONDITION, "code", "this link code for %s expired at %s: ask its provider for a new one", key, expires.UTC().Format(time.RFC3339))
}
