package claims

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"strings"
	"time"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger"
)

// LinkCodePrefix starts every link code.
const LinkCodePrefix = "royalty-link-"

// DefaultLinkCodeTTL is how long a link code works unless WithLinkCodes sets another.
const DefaultLinkCodeTTL = 24 * time.Hour

// linkCodeBytes is a code's randomness: 160 bits, so guessing one is hopeless without any rate
// limit, and its plain SHA-256 is a safe thing to store.
const linkCodeBytes = 20

// WithLinkCodes sets the lifetime of new link codes (DefaultLinkCodeTTL when ttl ≤ 0) and the
// clock codes are made and checked with (time.Now when nil), and returns s. Call it before s is
// used.
func (s *Service) WithLinkCodes(ttl time.Duration, now func() time.Time) *Service {
	s.linkTTL, s.now = ttl, now
	return s
}

func (s *Service) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// NewLinkCode makes a one-time link code for the provider's rater identity
// ledger.RaterIdentityKey(providerID, raterID), for the provider to hand to its user. The
// identity is built from the caller's own id, so a provider makes codes only in its own
// namespace. Only the code's hash is stored. Errors: EINVALID (rater id).
func (s *Service) NewLinkCode(ctx context.Context, providerID, raterID string) (code, identityKey string, expires time.Time, err error) {
	if err := ledger.CheckRaterID("rater_id", raterID); err != nil {
		return "", "", time.Time{}, err
	}
	b := make([]byte, linkCodeBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", time.Time{}, err
	}
	code = LinkCodePrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
	ttl := s.linkTTL
	if ttl <= 0 {
		ttl = DefaultLinkCodeTTL
	}
	now := s.clock().UTC()
	expires = now.Add(ttl)
	if err := s.store.CreateLinkCode(ctx, LinkCode{Hash: hashLinkCode(code), ProviderID: providerID, RaterID: raterID,
		CreatedAt: now, ExpiresAt: expires}); err != nil {
		return "", "", time.Time{}, err
	}
	return code, ledger.RaterIdentityKey(providerID, raterID), expires, nil
}

// RedeemLinkCode gives the contributor the rater identity identityKey
// ("provider:<provider id>/<rater id>") with a link code its provider made for that identity:
// the code is used up and the contributor's claim verified (ProofLinkCode) in one transaction,
// then the identity's escrow is released to the contributor by the same path as every other
// verification (a release interrupted here is finished by Resume or by redeeming again).
// Errors: EINVALID (not a rater identity, or no code), ENOTFOUND (no such code for this
// identity: a code made for another identity or provider does not match), EPRECONDITION (the
// code was used by another contributor or has expired, or the identity has another owner).
func (s *Service) RedeemLinkCode(ctx context.Context, contributorID, identityKey, code string) (Claim, error) {
	identityKey, err := NormalizeIdentityKey("identity_key", identityKey)
	if err != nil {
		return Claim{}, err
	}
	providerID, raterID, ok := ledger.ParseRaterIdentity(identityKey)
	if !ok {
		return Claim{}, royalty.FieldErrorf(royalty.EINVALID, "identity_key", "a link code links a rater identity, provider:<provider id>/<rater id>, not %s", identityKey)
	}
	code = strings.ToLower(strings.TrimSpace(code))
	if code == "" {
		return Claim{}, royalty.FieldErrorf(royalty.EINVALID, "code", "required")
	}
	if !strings.HasPrefix(code, LinkCodePrefix) || len(code) > 100 {
		return Claim{}, royalty.FieldErrorf(royalty.EINVALID, "code", "not a link code: it starts with %s", LinkCodePrefix)
	}
	c, err := s.store.RedeemLinkCode(ctx, hashLinkCode(code), providerID, raterID, contributorID, NewChallenge(), s.clock())
	if err != nil {
		return Claim{}, err
	}
	s.log.InfoContext(ctx, "claim verified by link code", "claim", c.ID, "identity", c.IdentityKey)
	if !c.ReleasePending() {
		return c, nil
	}
	return s.release(ctx, c)
}

func hashLinkCode(code string) []byte {
	h := sha256.Sum256([]byte(code))
	return h[:]
}
