package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/auth"
)

// clock is a settable clock for the cache.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// A key revoked behind the cache's back (another server, the CLI) is refused once the TTL has
// passed, not before; one revoked through the cache is refused at once.
func TestCacheRevocationTakesEffectWithinTTL(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	clk := &clock{now: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)}
	const ttl = 5 * time.Second
	c := auth.NewCache(store, ttl, clk.Now)

	p, k, secret, err := store.CreatePrincipal(ctx, "acme", auth.RoleProvider)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Authenticate(ctx, secret); err != nil || got.ID != p.ID || got.Role != auth.RoleProvider {
		t.Fatalf("Authenticate = %+v, %v", got, err)
	}
	// Revoked in the database, not through the cache.
	if _, err := store.RevokeKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	clk.Advance(ttl - time.Millisecond)
	if got, err := c.Authenticate(ctx, secret); err != nil || got.ID != p.ID {
		t.Fatalf("within the TTL the cached principal is expected: %+v, %v", got, err)
	}
	clk.Advance(time.Millisecond)
	if _, err := c.Authenticate(ctx, secret); royalty.ErrorCode(err) != royalty.EUNAUTHENTICATED {
		t.Fatalf("after the TTL a revoked key must be refused: err = %v", err)
	}
	// A refused key is not cached: it stays refused.
	if _, err := c.Authenticate(ctx, secret); royalty.ErrorCode(err) != royalty.EUNAUTHENTICATED {
		t.Fatalf("revoked key again: err = %v", err)
	}

	// Through the cache, revocation is immediate.
	k2, secret2, err := store.CreateKey(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Authenticate(ctx, secret2); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RevokeKey(ctx, k2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Authenticate(ctx, secret2); royalty.ErrorCode(err) != royalty.EUNAUTHENTICATED {
		t.Fatalf("key revoked through the cache: err = %v", err)
	}
	// An unknown well-formed key is refused, and a malformed one too.
	other, _, _ := auth.NewKey()
	if _, err := c.Authenticate(ctx, other); royalty.ErrorCode(err) != royalty.EUNAUTHENTICATED {
		t.Fatalf("unknown key: err = %v", err)
	}
	if _, err := c.Authenticate(ctx, "nonsense"); royalty.ErrorCode(err) != royalty.EUNAUTHENTICATED {
		t.Fatalf("malformed key: err = %v", err)
	}
}
