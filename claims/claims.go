// Package claims decides who owns an identity: a contributor claims an identity such as
// `stackexchange:bicycles.meta/123`, receives a challenge token, and the claim is verified when
// the token appears in something only that identity can write (the way Keybase-style proofs
// work) or when an admin approves it. On verification the identity's escrow is released to the
// contributor by the ledger. An identity has at most one owner.
//
// # What proves a claim
//
// Other people can edit posts: on Stack Exchange anyone can suggest an edit, on wikis and most
// forums moderators and editors can. A challenge in a post therefore proves nothing unless the
// claimed identity wrote that version of the text itself. A claim is verified only by
//   - ProofProfile: the identity's public profile text (the "about me" on Stack Exchange and
//     Hacker News, the Reddit profile description), fetched on demand by CheckClaim through a
//     ProfileFetcher;
//   - ProofComment: a comment whose last editor is the identity (the indexer records, per
//     source, who wrote the stored version: Stack Exchange comments can be edited only by their
//     author and moderators, Reddit and Hacker News text only by its author);
//   - ProofOwnEditPost: any other post version whose last editor is the identity itself;
//   - ProofAdmin: an admin's approval.
//
// A post whose last editor is another identity, or unknown, never counts (PostProof).
//
// It is a domain package: the claims table lives behind Store (claims/postgres) and the money
// behind Releaser (the ledger). The gRPC handlers in services only translate.
//
// Verification is ordered so that it is safe under retries, races and crashes:
//  1. the claim is marked verified in one serializable transaction; a unique index on verified
//     claims per identity makes this the single arbiter of ownership, and the other pending claims
//     on the identity are rejected as superseded;
//  2. the ledger records the owner and releases the escrow; it is idempotent per identity and
//     contributor, so running it twice moves the money once, and it refuses a second owner too;
//  3. the release is recorded on the claim.
//
// A crash between 1 and 3 leaves a verified claim without a recorded release; Resume (run at
// start-up) and any repeated verification finish it.
package claims

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/ledger"
)

// Status is where a claim stands.
type Status string

// The three states: pending → verified or pending → rejected; nothing else.
const (
	StatusPending  Status = "pending"
	StatusVerified Status = "verified"
	StatusRejected Status = "rejected"
)

// Money is an amount of one currency.
type Money struct {
	Amount   decimal.Decimal `json:"amount"`
	Currency string          `json:"currency"`
}

// Claim is a contributor's claim of authorship of one identity.
type Claim struct {
	ID            string
	ContributorID string
	IdentityKey   string
	Status        Status
	// Challenge is the token to publish in a post by the identity.
	Challenge string
	CreatedAt time.Time
	DecidedAt *time.Time
	// DecidedBy is "post:<post id>", "profile:<profile URL>" or "admin:<principal id>".
	DecidedBy string
	// ProofKind is what verified the claim; empty unless verified.
	ProofKind ProofKind
	Note      string
	// Released is nil until the escrow release is recorded; empty when nothing was waiting.
	Released []Money
	// ReleaseTransactionID is the ledger transaction of the release, if money was waiting.
	ReleaseTransactionID string
}

// ProofKind is what verified a claim.
type ProofKind string

// The kinds of proof. ProofLegacyPost marks claims verified by a post before the post's last
// editor was checked: such a proof may have been planted by someone else's edit, and an auditor
// should review it.
const (
	ProofProfile     ProofKind = "profile"
	ProofComment     ProofKind = "comment"
	ProofOwnEditPost ProofKind = "own_edit_post"
	ProofAdmin       ProofKind = "admin"
	ProofLegacyPost  ProofKind = "legacy_post"
	// ProofProviderAttestation: the provider of a rater identity ("provider:<provider id>/<rater
	// id>", ledger.RaterIdentityKey) confirmed with the claim's challenge that its user is the
	// claimant. Only the provider knows who its pseudonymous rater is.
	ProofProviderAttestation ProofKind = "provider_attestation"
	// ProofLinkCode: the claimant entered a one-time link code the provider of the rater
	// identity made for it (Service.NewLinkCode) and handed to its user.
	ProofLinkCode ProofKind = "link_code"
)

// ReleasePending reports whether a verified claim still waits for its escrow release.
func (c Claim) ReleasePending() bool { return c.Status == StatusVerified && c.Released == nil }

// Release is what the ledger moved from an identity's escrow to a contributor.
type Release struct {
	TransactionID string // empty when nothing was waiting
	Amounts       []Money
}

// Releaser moves an identity's escrow balance to a contributor in one ledger transaction and
// records the contributor as the identity's owner, so that later royalties go to the contributor
// directly. It must be idempotent: a repeated call for the same identity and contributor returns
// the first result and moves nothing.
type Releaser interface {
	ReleaseEscrow(ctx context.Context, identityKey, contributorID string) (Release, error)
}

// Filter selects claims in List.
type Filter struct {
	ContributorID string // all contributors when empty
	Status        Status // all statuses when empty
	PageSize      int
	PageToken     string
}

// Store keeps claims. Implementations are safe for concurrent use.
type Store interface {
	// Create stores a new pending claim, or returns the contributor's pending claim on the same
	// identity if there is one (created reports which). Errors: ENOTFOUND (no such contributor).
	Create(ctx context.Context, contributorID, identityKey, challenge string) (c Claim, created bool, err error)
	// Get returns one claim. Errors: ENOTFOUND.
	Get(ctx context.Context, id string) (Claim, error)
	// List returns claims newest first, one page at a time. Errors: EINVALID (bad page token).
	List(ctx context.Context, f Filter) ([]Claim, string, error)
	// Owner returns the verified claim on an identity, if any.
	Owner(ctx context.Context, identityKey string) (Claim, bool, error)
	// Pending returns the pending claims on any of the identities.
	Pending(ctx context.Context, identityKeys []string) ([]Claim, error)
	// ReleasePending returns verified claims whose release is not recorded yet.
	ReleasePending(ctx context.Context) ([]Claim, error)
	// MarkVerified moves a pending claim to verified by a proof of kind, and rejects the other
	// pending claims on the identity as superseded, in one transaction. Errors: ENOTFOUND,
	// EPRECONDITION (not pending, or the identity already has an owner).
	MarkVerified(ctx context.Context, id string, kind ProofKind, decidedBy, note string) (Claim, error)
	// MarkRejected moves a pending claim to rejected. Errors: ENOTFOUND, EPRECONDITION.
	MarkRejected(ctx context.Context, id, decidedBy, note string) (Claim, error)
	// RecordRelease stores the release of a verified claim; the first recorded release stays.
	RecordRelease(ctx context.Context, id string, r Release) (Claim, error)
	// CreateLinkCode stores a link code's hash for a rater identity.
	CreateLinkCode(ctx context.Context, c LinkCode) error
	// RedeemLinkCode, in one transaction, marks the unused, unexpired (at now) code with hash
	// for the rater (providerID, raterID) used by contributorID, opens the contributor's claim
	// on the identity if there is none pending, and verifies it (ProofLinkCode, rejecting rival
	// pending claims). A code the same contributor used already returns the claim it verified.
	// Errors: ENOTFOUND (no such code for the identity), EPRECONDITION (used by another,
	// expired, or the identity has another owner).
	RedeemLinkCode(ctx context.Context, hash []byte, providerID, raterID, contributorID, challenge string, now time.Time) (Claim, error)
}

// LinkCode is a stored link code: the hash of the code, the rater identity it links, and when
// it stops working.
type LinkCode struct {
	Hash                []byte
	ProviderID, RaterID string
	CreatedAt           time.Time
	ExpiresAt           time.Time
}

// MaxNoteLen bounds admin notes.
const MaxNoteLen = 500

// ChallengePrefix starts every challenge token so that it is easy to spot in a post.
const ChallengePrefix = "royalty-claim-"

// NewChallenge returns a fresh challenge token: the prefix and 100 random bits in lower-case
// base32, a single word that survives HTML and Markdown stripping.
func NewChallenge() string {
	b := make([]byte, 15)
	_, _ = rand.Read(b)
	return ChallengePrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))[:20]
}

// ValidateIdentityKey checks the canonical form `platform:site/author_id` (site may be empty)
// with the ledger's rule (ledger.CheckIdentityKey): a key the ledger could not keep an escrow
// for must not be claimable, or an approved claim would be verified and then fail its release.
func ValidateIdentityKey(field, key string) error {
	return ledger.CheckIdentityKey(field, key)
}

// Post is what verification needs of an ingested post.
type Post struct {
	ID        string
	AuthorKey string // identity key; empty for deleted authors
	// Kind is the post's kind ("comment", "answer", …; indexer.Kind).
	Kind string
	// LastEditorKey is the identity that wrote this version of the text; empty when unknown.
	LastEditorKey string
	Text          string // the author's own words
}

// PostProof says whether a post version may prove a claim on its author's identity, and as
// which kind: only when the identity wrote the version itself. A version last edited by anyone
// else, or by an unknown editor, never counts: someone else's edit would otherwise hand them the
// identity (and its escrow).
func PostProof(p Post) (ProofKind, bool) {
	if p.AuthorKey == "" || p.LastEditorKey != p.AuthorKey {
		return "", false
	}
	if p.Kind == "comment" {
		return ProofComment, true
	}
	return ProofOwnEditPost, true
}

// ContainsChallenge reports whether text carries the challenge token. Matching ignores case, as
// markup conversion or a platform may change it.
func ContainsChallenge(text, challenge string) bool {
	return challenge != "" && strings.Contains(strings.ToLower(text), strings.ToLower(challenge))
}
