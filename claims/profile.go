package claims

import (
	"context"
	"fmt"
	"strings"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/ledger"
)

// ProfileFetcher reads the public profile text of an identity, the text only its owner can
// write (the "about me" on Stack Exchange and Hacker News, the Reddit profile description), so
// that a claim can be proved there without waiting for the next crawl. Implementations
// (claims/profile) are safe for concurrent use.
type ProfileFetcher interface {
	// Locate says where the identity's profile text is shown and how its owner edits it.
	// Errors: EUNIMPLEMENTED (the platform has no profile proof), EINVALID (the key cannot
	// name a profile there).
	Locate(identityKey string) (ProfileLocation, error)
	// Fetch reads the profile text now. Errors: those of Locate, ENOTFOUND (no such profile),
	// ERESOURCE (rate limited: try again later), EUNAVAILABLE (the site could not be read).
	Fetch(ctx context.Context, identityKey string) (string, error)
}

// ProfileLocation is where a profile proof goes.
type ProfileLocation struct {
	URL   string // the public page that is read
	Where string // what to edit, for people: `the "About me" of your profile (Edit profile)`
}

// Instructions tells the claimant how to prove a pending claim: where exactly to paste the
// challenge for a profile proof, and which posts count. It is empty unless the claim is pending.
func (s *Service) Instructions(c Claim) string {
	if c.Status != StatusPending {
		return ""
	}
	var b strings.Builder
	if s.profiles != nil {
		if loc, err := s.profiles.Locate(c.IdentityKey); err == nil {
			fmt.Fprintf(&b, "Paste %s into %s, shown at %s, then call CheckClaim (you may remove it once the claim is verified). ",
				c.Challenge, loc.Where, loc.URL)
		}
	}
	platform, _, _ := strings.Cut(c.IdentityKey, ":")
	fmt.Fprintf(&b, "Or publish %s in a comment written as %s", c.Challenge, c.IdentityKey)
	switch platform {
	case "hn", "reddit":
		b.WriteString(" or in any post of yours (only you can edit your text there)")
	default:
		b.WriteString(" or in a post whose last edit is your own")
	}
	b.WriteString(": the claim is verified when the crawl brings it in. A post someone else has edited never counts.")
	return b.String()
}

// Check verifies a pending claim of contributorID against the identity's profile text, read now.
// A verified claim is returned as it is. Errors: ENOTFOUND (no such claim of this contributor),
// EPRECONDITION (rejected; or the challenge is not in the profile text, the message says where
// to put it), EUNIMPLEMENTED (no profile proof on the platform), ERESOURCE, EUNAVAILABLE.
func (s *Service) Check(ctx context.Context, contributorID, claimID string) (Claim, error) {
	c, err := s.store.Get(ctx, claimID)
	if err == nil && c.ContributorID != contributorID {
		// Another contributor's claim reads as absent, and nobody fetches on its behalf.
		err = notFound(claimID)
	}
	if err != nil {
		return Claim{}, err
	}
	switch c.Status {
	case StatusVerified:
		if c.ReleasePending() {
			return s.release(ctx, c)
		}
		return c, nil
	case StatusRejected:
		return Claim{}, royalty.FieldErrorf(royalty.EPRECONDITION, "claim_id", "claim %s was rejected", claimID)
	}
	if _, _, ok := ledger.ParseRaterIdentity(c.IdentityKey); ok {
		return Claim{}, royalty.Errorf(royalty.EUNIMPLEMENTED, "a rater identity has no public profile: its provider confirms it with the claim's challenge, or gives you a one-time link code to enter")
	}
	if s.profiles == nil {
		return Claim{}, royalty.Errorf(royalty.EUNIMPLEMENTED, "profile proofs are not configured on this server; publish the challenge in a comment instead")
	}
	loc, err := s.profiles.Locate(c.IdentityKey)
	if err != nil {
		return Claim{}, err
	}
	text, err := s.profiles.Fetch(ctx, c.IdentityKey)
	if err != nil {
		return Claim{}, err
	}
	if !ContainsChallenge(text, c.Challenge) {
		return Claim{}, royalty.FieldErrorf(royalty.EPRECONDITION, "claim_id",
			"%s is not in the profile text at %s: paste it into %s and check again", c.Challenge, loc.URL, loc.Where)
	}
	v, err := s.verify(ctx, c.ID, ProofProfile, "profile:"+loc.URL, "")
	if err != nil {
		return Claim{}, err
	}
	s.log.InfoContext(ctx, "claim verified by profile", "claim", c.ID, "identity", c.IdentityKey, "profile", loc.URL)
	return v, nil
}

func notFound(id string) error {
	return royalty.FieldErrorf(royalty.ENOTFOUND, "claim_id", "no claim %q", id)
}
