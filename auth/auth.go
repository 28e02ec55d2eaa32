// Package auth holds who may call royalty: principals with a role, and the API keys they
// authenticate with. It is a domain package: it knows nothing of gRPC or SQL. Package
// auth/postgres stores principals and keys; package services checks them on every call.
//
// API keys are 32 random bytes from crypto/rand, written as "rty_" followed by 43 base64url
// characters. Only their SHA-256 is stored. A fast unsalted hash is enough here, unlike for
// passwords: a slow or salted hash defends low-entropy secrets against guessing, but a 256-bit
// random key cannot be guessed whatever the hash costs, and a stolen table of hashes does not
// reveal any key (SHA-256 is preimage resistant). The deterministic hash also lets the key be
// found with one indexed lookup, with no per-principal salt to try.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openroyalty/royalty"
)

// Role is what a principal may do. The values are stored in the principals table.
type Role string

// The four roles.
const (
	RoleProvider    Role = "provider"    // reports usage and reads its own
	RoleContributor Role = "contributor" // claims identities, reads its own balance and statement, requests payouts
	RoleAuditor     Role = "auditor"     // reads everything, writes nothing
	RoleAdmin       Role = "admin"       // manages principals, keys, agreements and claims; ingests posts
)

// Roles lists every role.
var Roles = []Role{RoleProvider, RoleContributor, RoleAuditor, RoleAdmin}

// ParseRole returns the role named s, or an EINVALID error about field.
func ParseRole(field, s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", royalty.FieldErrorf(royalty.EINVALID, field, "unknown role %q (want provider, contributor, auditor or admin)", s)
}

// Principal is anyone who calls the API: a provider, a contributor, an auditor or an admin.
// A contributor's principal id is its contributor id; a provider's is its provider id.
type Principal struct {
	ID        string
	Name      string
	Role      Role
	CreatedAt time.Time
}

// APIKey describes a key without its secret.
type APIKey struct {
	ID          string
	PrincipalID string
	// Prefix is the first characters of the key, enough for a person to recognise it.
	Prefix    string
	CreatedAt time.Time
	RevokedAt *time.Time
}

// KeyPrefix starts every API key, so that a leaked key is recognisable (secret scanners,
// logs) and a key is never mistaken for another kind of token.
const KeyPrefix = "rty_"

// displayPrefixLen is how much of a key is stored in clear to recognise it: the "rty_" marker and
// 8 random characters (48 bits), too little to help guess the remaining 210 bits.
const displayPrefixLen = len(KeyPrefix) + 8

// MaxNameLen bounds principal names.
const MaxNameLen = 200

// NewKey returns a fresh API key, its display prefix and the hash to store.
func NewKey() (secret, prefix string, hash []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error (Go 1.24+)
	secret = KeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, secret[:displayPrefixLen], HashKey(secret)
}

// HashKey returns the stored form of a key: its SHA-256.
func HashKey(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// WellFormedKey reports whether s looks like a key this package issued. Callers reject other
// strings before touching the database.
func WellFormedKey(s string) bool {
	if !strings.HasPrefix(s, KeyPrefix) || len(s) != len(KeyPrefix)+43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s[len(KeyPrefix):])
	return err == nil
}

// ValidateName checks a principal's or contributor's name.
func ValidateName(field, name string) error {
	n := len([]rune(strings.TrimSpace(name)))
	switch {
	case !utf8.ValidString(name):
		return royalty.FieldErrorf(royalty.EINVALID, field, "must be valid UTF-8")
	case n == 0:
		return royalty.FieldErrorf(royalty.EINVALID, field, "must not be empty")
	case n > MaxNameLen:
		return royalty.FieldErrorf(royalty.EINVALID, field, "must be at most %d characters", MaxNameLen)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return royalty.FieldErrorf(royalty.EINVALID, field, "must not contain control characters")
		}
	}
	return nil
}

// PrincipalFilter selects principals in List.
type PrincipalFilter struct {
	Role      Role // all roles when empty
	PageSize  int
	PageToken string
}

// Store keeps principals and keys. Implementations are safe for concurrent use.
type Store interface {
	// CreatePrincipal creates a principal and its first key, and returns the key's secret,
	// which is not stored. Errors: EINVALID.
	CreatePrincipal(ctx context.Context, name string, role Role) (Principal, APIKey, string, error)
	// GetPrincipal returns one principal. Errors: ENOTFOUND.
	GetPrincipal(ctx context.Context, id string) (Principal, error)
	// ListPrincipals lists principals, oldest first, one page at a time. Errors: EINVALID (bad token).
	ListPrincipals(ctx context.Context, f PrincipalFilter) ([]Principal, string, error)
	// CreateKey issues another key for a principal. Errors: ENOTFOUND.
	CreateKey(ctx context.Context, principalID string) (APIKey, string, error)
	// RevokeKey revokes a key; revoking twice keeps the first time. Errors: ENOTFOUND.
	RevokeKey(ctx context.Context, keyID string) (APIKey, error)
	// ListKeys lists a principal's keys (all keys when principalID is empty).
	ListKeys(ctx context.Context, principalID string) ([]APIKey, error)
	// Authenticate returns the principal holding a valid, unrevoked key. Errors: EUNAUTHENTICATED.
	Authenticate(ctx context.Context, secret string) (Principal, error)
}

type principalKey struct{}

// WithPrincipal returns a context carrying the authenticated principal.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the authenticated principal, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
