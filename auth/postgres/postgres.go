// Package postgres stores principals and API keys in PostgreSQL or CockroachDB (tables
// principals and api_keys) and implements auth.Store.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/internal/pagetoken"
	"github.com/openroyalty/royalty/internal/pgdb"
)

// Store implements auth.Store. It is safe for concurrent use by multiple goroutines.
type Store struct {
	pool *pgxpool.Pool
}

var _ auth.Store = (*Store)(nil)

// New returns a Store on pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// CreatePrincipal implements auth.Store.
func (s *Store) CreatePrincipal(ctx context.Context, name string, role auth.Role) (auth.Principal, auth.APIKey, string, error) {
	if err := auth.ValidateName("name", name); err != nil {
		return auth.Principal{}, auth.APIKey{}, "", err
	}
	if _, err := auth.ParseRole("role", string(role)); err != nil {
		return auth.Principal{}, auth.APIKey{}, "", err
	}
	var p auth.Principal
	var k auth.APIKey
	var secret string
	err := pgdb.Serializable(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		p = auth.Principal{Name: name, Role: role}
		err := tx.QueryRow(ctx, `INSERT INTO principals (name, role) VALUES ($1, $2) RETURNING id, created_at`,
			name, string(role)).Scan(&p.ID, &p.CreatedAt)
		if err != nil {
			return fmt.Errorf("inserting principal: %w", err)
		}
		k, secret, err = createKey(ctx, tx, p.ID)
		return err
	})
	if err != nil {
		return auth.Principal{}, auth.APIKey{}, "", err
	}
	return p, k, secret, nil
}

// GetPrincipal implements auth.Store.
func (s *Store) GetPrincipal(ctx context.Context, id string) (auth.Principal, error) {
	if _, err := uuid.Parse(id); err != nil {
		return auth.Principal{}, royalty.FieldErrorf(royalty.ENOTFOUND, "principal_id", "no principal %q", id)
	}
	var p auth.Principal
	var role string
	err := s.pool.QueryRow(ctx, `SELECT id, name, role, created_at FROM principals WHERE id = $1`, id).
		Scan(&p.ID, &p.Name, &role, &p.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.Principal{}, royalty.FieldErrorf(royalty.ENOTFOUND, "principal_id", "no principal %q", id)
	} else if err != nil {
		return auth.Principal{}, fmt.Errorf("reading principal: %w", err)
	}
	p.Role = auth.Role(role)
	return p, nil
}

// ListPrincipals implements auth.Store.
func (s *Store) ListPrincipals(ctx context.Context, f auth.PrincipalFilter) ([]auth.Principal, string, error) {
	cur, after, err := pagetoken.Decode(f.PageToken)
	if err != nil {
		return nil, "", err
	}
	size := pagetoken.Size(f.PageSize, 100, 1000)
	rows, err := s.pool.Query(ctx, `
		SELECT id, name, role, created_at FROM principals
		WHERE ($1 = '' OR role = $1)
		  AND (NOT $2 OR (created_at, id) > ($3, $4::UUID))
		ORDER BY created_at, id LIMIT $5`,
		string(f.Role), after, cur.Time, nullUUID(cur.ID), size+1)
	if err != nil {
		return nil, "", fmt.Errorf("listing principals: %w", err)
	}
	var out []auth.Principal
	for rows.Next() {
		var p auth.Principal
		var role string
		if err := rows.Scan(&p.ID, &p.Name, &role, &p.CreatedAt); err != nil {
			return nil, "", fmt.Errorf("listing principals: %w", err)
		}
		p.Role = auth.Role(role)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("listing principals: %w", err)
	}
	var next string
	if len(out) > size {
		out = out[:size]
		last := out[size-1]
		next = pagetoken.Encode(pagetoken.Cursor{Time: last.CreatedAt, ID: last.ID})
	}
	return out, next, nil
}

// CreateKey implements auth.Store.
func (s *Store) CreateKey(ctx context.Context, principalID string) (auth.APIKey, string, error) {
	if _, err := s.GetPrincipal(ctx, principalID); royalty.ErrorCode(err) == royalty.ENOTFOUND {
		return auth.APIKey{}, "", royalty.FieldErrorf(royalty.ENOTFOUND, "principal_id", "no principal %q", principalID)
	} else if err != nil {
		return auth.APIKey{}, "", err
	}
	var k auth.APIKey
	var secret string
	err := pgdb.Serializable(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		k, secret, err = createKey(ctx, tx, principalID)
		return err
	})
	return k, secret, err
}

func createKey(ctx context.Context, tx pgx.Tx, principalID string) (auth.APIKey, string, error) {
	secret, prefix, hash := auth.NewKey()
	k := auth.APIKey{PrincipalID: principalID, Prefix: prefix}
	err := tx.QueryRow(ctx, `INSERT INTO api_keys (principal_id, prefix, key_hash) VALUES ($1, $2, $3) RETURNING id, created_at`,
		principalID, prefix, hash).Scan(&k.ID, &k.CreatedAt)
	if err != nil {
		return auth.APIKey{}, "", fmt.Errorf("inserting api key: %w", err)
	}
	return k, secret, nil
}

// RevokeKey implements auth.Store.
func (s *Store) RevokeKey(ctx context.Context, keyID string) (auth.APIKey, error) {
	if _, err := uuid.Parse(keyID); err != nil {
		return auth.APIKey{}, royalty.FieldErrorf(royalty.ENOTFOUND, "key_id", "no key %q", keyID)
	}
	var k auth.APIKey
	err := s.pool.QueryRow(ctx, `
		UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1
		RETURNING id, principal_id, prefix, created_at, revoked_at`, keyID).
		Scan(&k.ID, &k.PrincipalID, &k.Prefix, &k.CreatedAt, &k.RevokedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.APIKey{}, royalty.FieldErrorf(royalty.ENOTFOUND, "key_id", "no key %q", keyID)
	} else if err != nil {
		return auth.APIKey{}, fmt.Errorf("revoking key: %w", err)
	}
	return k, nil
}

// ListKeys implements auth.Store.
func (s *Store) ListKeys(ctx context.Context, principalID string) ([]auth.APIKey, error) {
	if principalID != "" {
		if _, err := uuid.Parse(principalID); err != nil {
			return nil, royalty.FieldErrorf(royalty.ENOTFOUND, "principal_id", "no principal %q", principalID)
		}
	}
	rows, err := s.pool.Query(ctx, `
		SELECT id, principal_id, prefix, created_at, revoked_at FROM api_keys
		WHERE ($1::UUID IS NULL OR principal_id = $1::UUID) ORDER BY created_at, id`, nullUUID(principalID))
	if err != nil {
		return nil, fmt.Errorf("listing keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (auth.APIKey, error) {
		var k auth.APIKey
		err := row.Scan(&k.ID, &k.PrincipalID, &k.Prefix, &k.CreatedAt, &k.RevokedAt)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing keys: %w", err)
	}
	return keys, nil
}

// Authenticate implements auth.Store. Every failure reads the same to the caller, so that it
// cannot tell a revoked key from one that never existed.
func (s *Store) Authenticate(ctx context.Context, secret string) (auth.Principal, error) {
	denied := royalty.Errorf(royalty.EUNAUTHENTICATED, "invalid or revoked API key")
	if !auth.WellFormedKey(secret) {
		return auth.Principal{}, denied
	}
	var p auth.Principal
	var role string
	var revokedAt *time.Time
	err := s.pool.QueryRow(ctx, `
		SELECT p.id, p.name, p.role, p.created_at, k.revoked_at
		FROM api_keys k JOIN principals p ON p.id = k.principal_id
		WHERE k.key_hash = $1`, auth.HashKey(secret)).Scan(&p.ID, &p.Name, &role, &p.CreatedAt, &revokedAt)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && revokedAt != nil) {
		return auth.Principal{}, denied
	} else if err != nil {
		return auth.Principal{}, fmt.Errorf("authenticating: %w", err)
	}
	p.Role = auth.Role(role)
	return p, nil
}

func nullUUID(id string) any {
	if id == "" {
		return nil
	}
	return id
}
