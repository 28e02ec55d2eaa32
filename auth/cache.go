package auth

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/openroyalty/royalty"
)

// DefaultCacheTTL is how long a Cache trusts a verified key by default.
const DefaultCacheTTL = 5 * time.Second

// maxCachedKeys bounds a Cache; past it the cache starts over.
const maxCachedKeys = 1 << 16

// Cache is a Store whose Authenticate remembers, for ttl, the principal each valid key
// belongs to, so that a busy caller's key costs one database read per ttl rather than one per
// call. Only successes are remembered: an unknown or revoked key asks the store every time.
// A key revoked through this Cache is refused at once (RevokeKey forgets every cached key); one
// revoked elsewhere (another server, the CLI) is refused within ttl. The cache is keyed by
// the key's SHA-256 hash, never the secret. It is safe for concurrent use.
type Cache struct {
	Store
	ttl time.Duration
	now func() time.Time

	mu  sync.Mutex
	m   map[[sha256.Size]byte]cachedKey
	gen uint64 // counts RevokeKey calls: an answer read before one is not cached
}

type cachedKey struct {
	p       Principal
	expires time.Time
}

// NewCache returns store with its Authenticate cached for ttl (0: not cached). now is the
// clock; nil means time.Now.
func NewCache(store Store, ttl time.Duration, now func() time.Time) *Cache {
	if now == nil {
		now = time.Now
	}
	return &Cache{Store: store, ttl: ttl, now: now, m: map[[sha256.Size]byte]cachedKey{}}
}

// Authenticate implements Store: the cached principal while it is fresh, the store's answer
// otherwise.
func (c *Cache) Authenticate(ctx context.Context, secret string) (Principal, error) {
	if c.ttl <= 0 || !WellFormedKey(secret) {
		return c.Store.Authenticate(ctx, secret)
	}
	h := sha256.Sum256([]byte(secret))
	now := c.now()
	c.mu.Lock()
	e, ok := c.m[h]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.p, nil
	}
	p, err := c.Store.Authenticate(ctx, secret)
	if err != nil {
		if royalty.ErrorCode(err) == royalty.EUNAUTHENTICATED {
			c.mu.Lock()
			delete(c.m, h)
			c.mu.Unlock()
		}
		return Principal{}, err
	}
	c.mu.Lock()
	if len(c.m) >= maxCachedKeys {
		c.m = map[[sha256.Size]byte]cachedKey{}
	}
	if gen == c.gen {
		c.m[h] = cachedKey{p: p, expires: now.Add(c.ttl)}
	}
	c.mu.Unlock()
	return p, nil
}

// RevokeKey implements Store, and forgets every cached key so that this process refuses the
// revoked key from now on.
func (c *Cache) RevokeKey(ctx context.Context, keyID string) (APIKey, error) {
	k, err := c.Store.RevokeKey(ctx, keyID)
	c.mu.Lock()
	c.m = map[[sha256.Size]byte]cachedKey{}
	c.gen++
	c.mu.Unlock()
	return k, err
}
