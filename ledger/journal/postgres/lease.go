package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/internal/pgdb"
)

// Lease elects one sealer among replicas (docs/design.md §7): a row of journal_sealer_lease
// names the holder and when its lease expires, by the database's clock. A sealer seals only
// while it holds the lease, renews it when half of it has passed, and checks it inside every
// block's transaction, so a holder that stalled past its expiry and lost the lease cannot seal
// another block (the check and a takeover conflict under SERIALIZABLE). A holder that dies
// without releasing it is replaced when the lease expires: within TTL plus one sealing interval.
// The lease is about work, not safety: two sealers racing cannot fork the journal anyway
// (journal_checkpoints.prev_size is unique), they would only waste each other's blocks.
type Lease struct {
	// Name of the lease row; DefaultLeaseName when empty.
	Name string
	// Holder names this sealer; the host name, process id and a random suffix when empty.
	Holder string
	// TTL is how long a lease lasts without renewal; no lease (every sealer seals) when zero.
	TTL time.Duration
}

// Lease defaults.
const (
	DefaultLeaseName = "journal"
	DefaultLeaseTTL  = 10 * time.Second
)

// errLeaseLost means another sealer holds the lease now.
var errLeaseLost = royalty.Errorf(royalty.EUNAVAILABLE, "the sealer lease is held by another replica")

type lease struct {
	name, holder string
	ttl          time.Duration
	renewAt      time.Time // local clock: renew from then on
}

func newLease(cfg Lease) *lease {
	l := &lease{name: cfg.Name, holder: cfg.Holder, ttl: cfg.TTL}
	if l.name == "" {
		l.name = DefaultLeaseName
	}
	if l.holder == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		l.holder = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	return l
}

// hold takes or renews the lease when due and reports whether this sealer holds it.
func (l *lease) hold(ctx context.Context, pool *pgxpool.Pool) (bool, error) {
	if !l.renewAt.IsZero() && time.Now().Before(l.renewAt) {
		return true, nil
	}
	start := time.Now()
	var held bool
	err := pgdb.Serializable(ctx, pool, func(ctx context.Context, tx pgx.Tx) error {
		held = false
		var holder string
		var expires, now time.Time
		err := tx.QueryRow(ctx, `SELECT holder, expires_at, now() FROM journal_sealer_lease WHERE name = $1`, l.name).Scan(&holder, &expires, &now)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			if err := tx.QueryRow(ctx, `SELECT now()`).Scan(&now); err != nil {
				return fmt.Errorf("reading the database clock: %w", err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO journal_sealer_lease (name, holder, expires_at) VALUES ($1, $2, $3)`,
				l.name, l.holder, now.Add(l.ttl)); err != nil {
				return fmt.Errorf("taking the sealer lease: %w", err)
			}
		case err != nil:
			return fmt.Errorf("reading the sealer lease: %w", err)
		case holder != l.holder && expires.After(now):
			return nil // someone else's, and alive
		default:
			if _, err := tx.Exec(ctx, `UPDATE journal_sealer_lease SET holder = $2, expires_at = $3 WHERE name = $1`,
				l.name, l.holder, now.Add(l.ttl)); err != nil {
				return fmt.Errorf("renewing the sealer lease: %w", err)
			}
		}
		held = true
		return nil
	})
	if err != nil {
		if isUniqueViolation(err) {
			err = nil // another sealer inserted the row first
		}
		l.renewAt = time.Time{}
		return false, err
	}
	if held {
		l.renewAt = start.Add(l.ttl / 2)
	} else {
		l.renewAt = time.Time{}
	}
	return held, nil
}

// check fails with errLeaseLost unless this sealer holds an unexpired lease, inside a block's
// transaction (no side effect: the transaction may run again; lost resets the renewal).
func (l *lease) check(ctx context.Context, tx pgx.Tx) error {
	var holder string
	var alive bool
	err := tx.QueryRow(ctx, `SELECT holder, expires_at > now() FROM journal_sealer_lease WHERE name = $1`, l.name).Scan(&holder, &alive)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("checking the sealer lease: %w", err)
	}
	if holder != l.holder || !alive {
		return errLeaseLost
	}
	return nil
}

// lost makes the next round ask the database again.
func (l *lease) lost() { l.renewAt = time.Time{} }

// release gives the lease up so that another replica takes over at once (on a clean stop).
func (l *lease) release(ctx context.Context, pool *pgxpool.Pool) error {
	l.renewAt = time.Time{}
	_, err := pool.Exec(ctx, `DELETE FROM journal_sealer_lease WHERE name = $1 AND holder = $2`, l.name, l.holder)
	if err != nil {
		return fmt.Errorf("releasing the sealer lease: %w", err)
	}
	return nil
}

// Holder is the name this sealer takes the lease under, or "" without a lease.
func (s *Sealer) Holder() string {
	if s.lease == nil {
		return ""
	}
	return s.lease.holder
}
