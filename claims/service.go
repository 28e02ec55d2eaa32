package claims

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger"
)

// Service runs the claims state machine. It is safe for concurrent use by multiple goroutines.
type Service struct {
	store    Store
	releaser Releaser
	profiles ProfileFetcher
	log      *slog.Logger
	linkTTL  time.Duration
	now      func() time.Time
}

// NewService returns a Service. releaser may be nil only in tests that never verify a claim
// with money waiting; verification then fails with EUNAVAILABLE.
func NewService(store Store, releaser Releaser, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: store, releaser: releaser, log: log}
}

// WithProfiles sets the fetcher Check reads profile texts with, and returns s. Without one,
// Check fails with EUNIMPLEMENTED and claims are proved by posts and admins only. Call it
// before s is used.
func (s *Service) WithProfiles(f ProfileFetcher) *Service {
	s.profiles = f
	return s
}

// Start opens a claim by a contributor on an identity and returns it with its challenge. Asking
// again while a claim is pending returns the same claim. Errors: EINVALID, ENOTFOUND,
// EPRECONDITION (the identity already has an owner).
func (s *Service) Start(ctx context.Context, contributorID, identityKey string) (Claim, error) {
	identityKey, err := NormalizeIdentityKey("identity_key", identityKey)
	if err != nil {
		return Claim{}, err
	}
	owner, owned, err := s.store.Owner(ctx, identityKey)
	if err != nil {
		return Claim{}, err
	}
	if owned {
		if owner.ContributorID == contributorID {
			return owner, nil
		}
		return Claim{}, royalty.FieldErrorf(royalty.EPRECONDITION, "identity_key", "%s is already owned by another contributor", identityKey)
	}
	c, _, err := s.store.Create(ctx, contributorID, identityKey, NewChallenge())
	return c, err
}

// Get returns one claim. Errors: ENOTFOUND.
func (s *Service) Get(ctx context.Context, id string) (Claim, error) { return s.store.Get(ctx, id) }

// List lists claims, newest first.
func (s *Service) List(ctx context.Context, f Filter) ([]Claim, string, error) {
	return s.store.List(ctx, f)
}

// Approve verifies a pending claim on an admin's decision and releases the escrow. Approving a
// verified claim again finishes a release that was interrupted and returns the claim.
// Errors: ENOTFOUND, EINVALID (note too long), EPRECONDITION (rejected, or the identity has
// another owner).
func (s *Service) Approve(ctx context.Context, claimID, adminID, note string) (Claim, error) {
	if err := validateNote(note); err != nil {
		return Claim{}, err
	}
	return s.verify(ctx, claimID, ProofAdmin, "admin:"+adminID, note)
}

// Attest verifies, on the provider's word, the pending claim on the provider's rater identity
// ledger.RaterIdentityKey(providerID, raterID) whose challenge is challenge, and releases the
// escrow. The identity is built from the caller's own id, so a provider attests only in its own
// namespace; the challenge, which only the claimant has, ties the attestation to one claim.
// Attesting a claim already verified this way finishes an interrupted release.
// Errors: EINVALID (rater id), ENOTFOUND (no pending claim with that challenge on the
// identity), EPRECONDITION (the identity has another owner).
func (s *Service) Attest(ctx context.Context, providerID, raterID, challenge string) (Claim, error) {
	if err := ledger.CheckRaterID("rater_id", raterID); err != nil {
		return Claim{}, err
	}
	key := ledger.RaterIdentityKey(providerID, raterID)
	if owner, ok, err := s.store.Owner(ctx, key); err != nil {
		return Claim{}, err
	} else if ok {
		if subtle.ConstantTimeCompare([]byte(owner.Challenge), []byte(challenge)) == 1 {
			return s.verify(ctx, owner.ID, ProofProviderAttestation, "provider:"+providerID, "")
		}
		return Claim{}, royalty.FieldErrorf(royalty.EPRECONDITION, "rater_id", "%s is already owned by a contributor", key)
	}
	pending, err := s.store.Pending(ctx, []string{key})
	if err != nil {
		return Claim{}, err
	}
	for _, c := range pending {
		if subtle.ConstantTimeCompare([]byte(c.Challenge), []byte(challenge)) == 1 {
			return s.verify(ctx, c.ID, ProofProviderAttestation, "provider:"+providerID, "")
		}
	}
	return Claim{}, royalty.FieldErrorf(royalty.ENOTFOUND, "challenge", "no pending claim on %s with this challenge", key)
}

// Reject rejects a pending claim. Errors: ENOTFOUND, EINVALID, EPRECONDITION (not pending).
func (s *Service) Reject(ctx context.Context, claimID, adminID, note string) (Claim, error) {
	if err := validateNote(note); err != nil {
		return Claim{}, err
	}
	return s.store.MarkRejected(ctx, claimID, "admin:"+adminID, note)
}

// PostsIngested verifies the pending claims whose challenge appears in a post version that the
// claimed identity wrote itself (PostProof); versions edited by anyone else are ignored. The
// indexer calls it after the posts are durably stored; calling it again with the same posts is
// harmless. It returns the claims it verified.
func (s *Service) PostsIngested(ctx context.Context, posts []Post) ([]Claim, error) {
	byAuthor := map[string][]Post{}
	for _, p := range posts {
		if _, ok := PostProof(p); ok && strings.Contains(strings.ToLower(p.Text), ChallengePrefix) {
			byAuthor[p.AuthorKey] = append(byAuthor[p.AuthorKey], p)
		}
	}
	if len(byAuthor) == 0 {
		return nil, nil
	}
	keys := make([]string, 0, len(byAuthor))
	for k := range byAuthor {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var verified []Claim
	var errs []error
	// A claim verified earlier whose escrow release was interrupted is finished here too, so
	// that re-ingesting the proof completes it without waiting for Resume.
	for _, k := range keys {
		owner, ok, err := s.store.Owner(ctx, k)
		if err != nil {
			return nil, err
		}
		if ok && owner.ReleasePending() {
			if _, err := s.release(ctx, owner); err != nil {
				errs = append(errs, fmt.Errorf("finishing the release of claim %s: %w", owner.ID, err))
			}
		}
	}
	pending, err := s.store.Pending(ctx, keys)
	if err != nil {
		return nil, err
	}
	for _, c := range pending {
		for _, p := range byAuthor[c.IdentityKey] {
			if !ContainsChallenge(p.Text, c.Challenge) {
				continue
			}
			kind, _ := PostProof(p)
			v, err := s.verify(ctx, c.ID, kind, "post:"+p.ID, "")
			if royalty.ErrorCode(err) == royalty.EPRECONDITION {
				// Another claim won the identity first; this one is now rejected.
				break
			} else if err != nil {
				errs = append(errs, fmt.Errorf("verifying claim %s by post %s: %w", c.ID, p.ID, err))
				break
			}
			s.log.InfoContext(ctx, "claim verified by post", "claim", c.ID, "identity", c.IdentityKey, "post", p.ID, "proof", kind)
			verified = append(verified, v)
			break
		}
	}
	return verified, errors.Join(errs...)
}

// Resume finishes the escrow releases of verified claims that a crash or an unavailable ledger
// interrupted. Serve runs it at start-up.
func (s *Service) Resume(ctx context.Context) (int, error) {
	cs, err := s.store.ReleasePending(ctx)
	if err != nil {
		return 0, err
	}
	for i, c := range cs {
		if _, err := s.release(ctx, c); err != nil {
			return i, err
		}
	}
	return len(cs), nil
}

func (s *Service) verify(ctx context.Context, claimID string, kind ProofKind, decidedBy, note string) (Claim, error) {
	c, err := s.store.Get(ctx, claimID)
	if err != nil {
		return Claim{}, err
	}
	switch c.Status {
	case StatusRejected:
		return Claim{}, royalty.FieldErrorf(royalty.EPRECONDITION, "claim_id", "claim %s was rejected", claimID)
	case StatusPending:
		if c, err = s.store.MarkVerified(ctx, claimID, kind, decidedBy, note); err != nil {
			return Claim{}, err
		}
	}
	if !c.ReleasePending() {
		return c, nil
	}
	return s.release(ctx, c)
}

func (s *Service) release(ctx context.Context, c Claim) (Claim, error) {
	if s.releaser == nil {
		return Claim{}, royalty.Errorf(royalty.EUNAVAILABLE, "the ledger is not available to release escrow")
	}
	r, err := s.releaser.ReleaseEscrow(ctx, c.IdentityKey, c.ContributorID)
	if err != nil {
		return Claim{}, fmt.Errorf("releasing escrow of %s: %w", c.IdentityKey, err)
	}
	if r.Amounts == nil {
		r.Amounts = []Money{}
	}
	return s.store.RecordRelease(ctx, c.ID, r)
}

func validateNote(note string) error {
	switch {
	case !utf8.ValidString(note):
		return royalty.FieldErrorf(royalty.EINVALID, "note", "must be valid UTF-8")
	case len([]rune(note)) > MaxNoteLen:
		return royalty.FieldErrorf(royalty.EINVALID, "note", "must be at most %d characters", MaxNoteLen)
	case strings.IndexFunc(note, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) >= 0:
		// NUL in particular: a TEXT column cannot hold it, and the claim would fail at the
		// database after being looked up, as an internal error.
		return royalty.FieldErrorf(royalty.EINVALID, "note", "must not contain control characters other than newlines and tabs")
	}
	return nil
}
