// Package sessionpg stores the web app's sessions, payout destinations and login attempts in
// PostgreSQL (or CockroachDB): tables web_sessions, payout_destinations and web_login_attempts. Writes run in serializable
// transactions with retries (internal/pgdb).
package sessionpg

import (
	"context"
	"crypto/sha256"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openroyalty/royalty/internal/pgdb"
	"github.com/openroyalty/royalty/services/web"
)

// Store implements web.Sessions.
type Store struct{ pool *pgxpool.Pool }

// New returns a store over pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

var _ web.Sessions = (*Store)(nil)

// touchEvery bounds how often a session's last use is written: at most once a minute.
const touchEvery = time.Minute

// Create implements web.Sessions.
func (s *Store) Create(ctx context.Context, hash []byte, principalID string, expires time.Time) error {
	return pgdb.Serializable(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO web_sessions (id_hash, principal_id, expires_at) VALUES ($1, $2, $3)`, hash, principalID, expires)
		return err
	})
}

// Lookup implements web.Sessions.
func (s *Store) Lookup(ctx context.Context, hash []byte, idle time.Duration) (web.Session, bool, error) {
	var out web.Session
	var seen time.Time
	now := time.Now()
	err := s.pool.QueryRow(ctx, `SELECT principal_id::TEXT, auth_at, last_seen_at, expires_at FROM web_sessions
		WHERE id_hash = $1 AND revoked_at IS NULL AND expires_at > $2 AND last_seen_at > $3`,
		hash, now, now.Add(-idle)).Scan(&out.PrincipalID, &out.AuthAt, &seen, &out.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return web.Session{}, false, nil
	}
	if err != nil {
		return web.Session{}, false, err
	}
	if time.Since(seen) > touchEvery {
		err = pgdb.Serializable(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE web_sessions SET last_seen_at = now() WHERE id_hash = $1`, hash)
			return err
		})
	}
	return out, true, err
}

// Reauthenticated implements web.Sessions.
func (s *Store) Reauthenticated(ctx context.Context, hash []byte) error {
	return pgdb.Serializable(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE web_sessions SET auth_at = now() WHERE id_hash = $1 AND revoked_at IS NULL`, hash)
		return err
	})
}

// Revoke implements web.Sessions.
func (s *Store) Revoke(ctx context.Context, hash []byte) error {
	return pgdb.Serializable(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE web_sessions SET revoked_at = now() WHERE id_hash = $1 AND revoked_at IS NULL`, hash)
		return err
	})
}

// SetDestination implements web.Sessions.
func (s *Store) SetDestination(ctx context.Context, contributorID, destination string, sessionHash []byte) error {
	return pgdb.Serializable(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO payout_destinations (contributor_id, destination, session_hash) VALUES ($1, $2, $3)`,
			contributorID, destination, sessionHash)
		return err
	})
}

// Destinations implements web.Sessions.
func (s *Store) Destinations(ctx context.Context, contributorID string) ([]web.Destination, error) {
	rows, err := s.pool.Query(ctx, `SELECT destination, created_at FROM payout_destinations
		WHERE contributor_id = $1 ORDER BY created_at DESC, id LIMIT 50`, contributorID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (web.Destination, error) {
		var d web.Destination
		err := r.Scan(&d.Destination, &d.CreatedAt)
		return d, err
	})
}

// LoginAttempt implements web.Sessions: one upsert of the (minute, address) counter, shared by
// every process on the database. The first attempt of an address in a minute also deletes the
// counters of minutes before the last, so the table stays bounded.
func (s *Store) LoginAttempt(ctx context.Context, address string, now time.Time) (int, error) {
	h := sha256.Sum256([]byte(address))
	window := now.UTC().Truncate(time.Minute)
	var n int
	err := pgdb.Serializable(ctx, s.pool, func(ctx context.Context, tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO web_login_attempts (window_start, address_hash, attempts) VALUES ($1, $2, 1)
			ON CONFLICT (window_start, address_hash) DO UPDATE SET attempts = web_login_attempts.attempts + 1
			RETURNING attempts`, window, h[:]).Scan(&n)
		if err != nil || n > 1 {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM web_login_attempts WHERE window_start < $1`, window.Add(-time.Minute))
		return err
	})
	return n, err
}
