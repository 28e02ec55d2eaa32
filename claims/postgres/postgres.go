// Package postgres stores claims in PostgreSQL or CockroachDB (table claims) and implements
// claims.Store. Unique partial indexes enforce the rules a read-then-write would race on: one
// verified claim per identity, one pending claim per contributor and identity.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/claims"
	"github.com/openroyalty/royalty/internal/pagetoken"
	"github.com/openroyalty/royalty/internal/pgdb"
)

// Store implements claims.Store. It is safe for concurrent use by multiple goroutines.
type Store struct {
	pool *pgxpool.Pool
}

var _ claims.Store = (*Store)(nil)

// New returns a Store on pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

const columns = `id, contributor_id, identity_key, status, challenge, created_at, decided_at, decided_by, note, released, release_transaction_id, proof_kind`

func scanClaim(row pgx.Row) (claims.Claim, error) {
	var c claims.Claim
	var status, proof string
	var released []byte
	err := row.Scan(&c.ID, &c.ContributorID, &c.IdentityKey, &status, &c.Challenge, &c.CreatedAt, &c.DecidedAt,
		&c.DecidedBy, &c.Note, &released, &c.ReleaseTransactionID, &proof)
	if err != nil {
		return claims.Claim{}, err
	}
	c.Status, c.ProofKind = claims.Status(status), claims.ProofKind(proof)
	if released != nil {
		c.Released = []claims.Money{}
		if err := json.Unmarshal(released, &c.Released); err != nil {
			return claims.Claim{}, fmt.Errorf("decoding released amounts of claim %s: %w", c.ID, err)
		}
	}
	return c, nil
}

func notFound(id string) error {
	return royalty.FieldErrorf(royalty.ENOTFOUND, "claim_id", "no claim %q", id)
}

// Create implements claims.Store.
func (s *Store) Create(ctx context.Context, contributorID, identityKey, challenge string) (claims.Claim, bool, error) {
	if _, err := uuid.Parse(contributorID); err != nil {
		return claims.Claim{}, false, royalty.FieldErrorf(royalty.ENOTFOUND, "contributor_id", "no contributor %q", contributorID)
	}
	var c claims.Claim
	var created bool
	err := pgdb.Serializable(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		c, err = scanClaim(tx.QueryRow(ctx, `SELECT `+columns+` FROM claims
			WHERE contributor_id = $1 AND identity_key = $2 AND status = 'pending'`, contributorID, identityKey))
		if err == nil {
			created = false
			return nil
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("reading pending claim: %w", err)
		}
		c, err = scanClaim(tx.QueryRow(ctx, `INSERT INTO claims (contributor_id, identity_key, status, challenge)
			VALUES ($1, $2, 'pending', $3) RETURNING `+columns, contributorID, identityKey, challenge))
		if isForeignKeyViolation(err) {
			return royalty.FieldErrorf(royalty.ENOTFOUND, "contributor_id", "no contributor %q", contributorID)
		} else if err != nil {
			return fmt.Errorf("inserting claim: %w", err)
		}
		created = true
		return nil
	})
	if isUniqueViolation(err) {
		// A concurrent Start of the same claim won; return its claim.
		c, err = scanClaim(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM claims
			WHERE contributor_id = $1 AND identity_key = $2 AND status = 'pending'`, contributorID, identityKey))
		if err != nil {
			return claims.Claim{}, false, fmt.Errorf("reading pending claim: %w", err)
		}
		return c, false, nil
	}
	return c, created, err
}

// Get implements claims.Store.
func (s *Store) Get(ctx context.Context, id string) (claims.Claim, error) {
	if _, err := uuid.Parse(id); err != nil {
		return claims.Claim{}, notFound(id)
	}
	c, err := scanClaim(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM claims WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return claims.Claim{}, notFound(id)
	} else if err != nil {
		return claims.Claim{}, fmt.Errorf("reading claim: %w", err)
	}
	return c, nil
}

// List implements claims.Store.
func (s *Store) List(ctx context.Context, f claims.Filter) ([]claims.Claim, string, error) {
	cur, after, err := pagetoken.Decode(f.PageToken)
	if err != nil {
		return nil, "", err
	}
	var contributor any
	if f.ContributorID != "" {
		if _, err := uuid.Parse(f.ContributorID); err != nil {
			return nil, "", nil // no such contributor, so no claims
		}
		contributor = f.ContributorID
	}
	size := pagetoken.Size(f.PageSize, 50, 500)
	var curID any
	if after {
		curID = cur.ID
	}
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM claims
		WHERE ($1::UUID IS NULL OR contributor_id = $1::UUID)
		  AND ($2 = '' OR status = $2)
		  AND ($3::UUID IS NULL OR (created_at, id) < ($4, $3::UUID))
		ORDER BY created_at DESC, id DESC LIMIT $5`, contributor, string(f.Status), curID, cur.Time, size+1)
	if err != nil {
		return nil, "", fmt.Errorf("listing claims: %w", err)
	}
	out, err := collect(rows)
	if err != nil {
		return nil, "", err
	}
	var next string
	if len(out) > size {
		out = out[:size]
		last := out[size-1]
		next = pagetoken.Encode(pagetoken.Cursor{Time: last.CreatedAt, ID: last.ID})
	}
	return out, next, nil
}

func collect(rows pgx.Rows) ([]claims.Claim, error) {
	defer rows.Close()
	var out []claims.Claim
	for rows.Next() {
		c, err := scanClaim(rows)
		if err != nil {
			return nil, fmt.Errorf("reading claims: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading claims: %w", err)
	}
	return out, nil
}

// Owner implements claims.Store.
func (s *Store) Owner(ctx context.Context, identityKey string) (claims.Claim, bool, error) {
	c, err := scanClaim(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM claims WHERE identity_key = $1 AND status = 'verified'`, identityKey))
	if errors.Is(err, pgx.ErrNoRows) {
		return claims.Claim{}, false, nil
	} else if err != nil {
		return claims.Claim{}, false, fmt.Errorf("reading owner of %s: %w", identityKey, err)
	}
	return c, true, nil
}

// Pending implements claims.Store.
func (s *Store) Pending(ctx context.Context, identityKeys []string) ([]claims.Claim, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM claims
		WHERE identity_key = ANY($1) AND status = 'pending' ORDER BY created_at, id`, identityKeys)
	if err != nil {
		return nil, fmt.Errorf("reading pending claims: %w", err)
	}
	return collect(rows)
}

// ReleasePending implements claims.Store.
func (s *Store) ReleasePending(ctx context.Context) ([]claims.Claim, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM claims
		WHERE status = 'verified' AND released IS NULL ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("reading unreleased claims: %w", err)
	}
	return collect(rows)
}

// MarkVerified implements claims.Store.
func (s *Store) MarkVerified(ctx context.Context, id string, kind claims.ProofKind, decidedBy, note string) (claims.Claim, error) {
	if _, err := uuid.Parse(id); err != nil {
		return claims.Claim{}, notFound(id)
	}
	var c claims.Claim
	err := pgdb.Serializable(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		// Lock the identity's pending claims in one order first: two approvals of rival claims
		// would otherwise each lock their own row and then wait for the other's (a deadlock).
		_, err := tx.Exec(ctx, `SELECT id FROM claims WHERE status = 'pending'
			AND identity_key = (SELECT identity_key FROM claims WHERE id = $1) ORDER BY id FOR UPDATE`, id)
		if err != nil {
			return fmt.Errorf("locking pending claims: %w", err)
		}
		c, err = decide(ctx, tx, id, claims.StatusVerified, kind, decidedBy, note)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE claims SET status = 'rejected', decided_at = now(), decided_by = $2, note = $3
			WHERE identity_key = $1 AND status = 'pending'`,
			c.IdentityKey, decidedBy, "superseded: claim "+c.ID+" verified the identity for another contributor")
		if err != nil {
			return fmt.Errorf("superseding pending claims: %w", err)
		}
		return nil
	})
	if isUniqueViolation(err) {
		return claims.Claim{}, royalty.FieldErrorf(royalty.EPRECONDITION, "identity_key", "the identity of claim %s already has an owner", id)
	}
	return c, err
}

// MarkRejected implements claims.Store.
func (s *Store) MarkRejected(ctx context.Context, id, decidedBy, note string) (claims.Claim, error) {
	if _, err := uuid.Parse(id); err != nil {
		return claims.Claim{}, notFound(id)
	}
	var c claims.Claim
	err := pgdb.Serializable(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		c, err = decide(ctx, tx, id, claims.StatusRejected, "", decidedBy, note)
		return err
	})
	return c, err
}

// decide moves a pending claim to status; any other current state is EPRECONDITION.
func decide(ctx context.Context, tx pgx.Tx, id string, status claims.Status, kind claims.ProofKind, decidedBy, note string) (claims.Claim, error) {
	c, err := scanClaim(tx.QueryRow(ctx, `UPDATE claims SET status = $2, decided_at = now(), decided_by = $3, note = $4, proof_kind = $5
		WHERE id = $1 AND status = 'pending' RETURNING `+columns, id, string(status), decidedBy, note, string(kind)))
	if err == nil {
		return c, nil
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return claims.Claim{}, fmt.Errorf("deciding claim: %w", err)
	}
	var current string
	err = tx.QueryRow(ctx, `SELECT status FROM claims WHERE id = $1`, id).Scan(&current)
	if errors.Is(err, pgx.ErrNoRows) {
		return claims.Claim{}, notFound(id)
	} else if err != nil {
		return claims.Claim{}, fmt.Errorf("reading claim: %w", err)
	}
	return claims.Claim{}, royalty.FieldErrorf(royalty.EPRECONDITION, "claim_id", "claim %s is %s, not pending", id, current)
}

// RecordRelease implements claims.Store.
func (s *Store) RecordRelease(ctx context.Context, id string, r claims.Release) (claims.Claim, error) {
	amounts := r.Amounts
	if amounts == nil {
		amounts = []claims.Money{}
	}
	b, err := json.Marshal(amounts)
	if err != nil {
		return claims.Claim{}, err
	}
	_, err = s.pool.Exec(ctx, `UPDATE claims SET released = $2, release_transaction_id = $3
		WHERE id = $1 AND status = 'verified' AND released IS NULL`, id, b, r.TransactionID)
	if err != nil {
		return claims.Claim{}, fmt.Errorf("recording release: %w", err)
	}
	return s.Get(ctx, id)
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

func isForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}
