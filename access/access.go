// Package access decides whose data a principal may read or move. The policy table in services
// says which calls a role may make at all; the rules here say which principals, accounts,
// claims, transactions and usage reports a caller reaches through them:
//
//   - auditors and admins read everything, and name what they read;
//   - a contributor reads and moves only its own: its account, the escrow of identities it owns,
//     its claims, and inclusion proofs of transactions that post to its account or to the
//     escrow of an identity it owns (the credits a release moved to it);
//   - a provider reads only its own usage reports and proves only transactions that post to its
//     own accounts;
//   - anyone else (another role, or the zero Principal of an anonymous call) is refused; the
//     policy table never lets them this far, and the rules fail closed rather than rely on it.
//
// Another principal's claim, identity, transaction or usage report reads as NOT_FOUND, with the
// same message as one that does not exist, so that a caller learns nothing about what it may not
// see. Every refusal is a *royalty.Error (EINVALID, EPERMISSION, ENOTFOUND, EUNAUTHENTICATED)
// naming the request field it concerns; services translates it like any domain error.
//
// The package decides and does not store: pure functions where the caller's principal and the
// data at hand suffice, and Rules, over the small read interfaces it declares, where a rule must
// look something up. It imports only royalty, auth and ledger.
package access

import (
	"context"
	"slices"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/ledger"
)

// Principals reads principals; auth.Store implements it.
type Principals interface {
	// GetPrincipal returns one principal. Errors: ENOTFOUND.
	GetPrincipal(ctx context.Context, id string) (auth.Principal, error)
}

// Owners reads who owns claimed identities; ledger.Ledger implements it.
type Owners interface {
	// IdentityOwners returns the contributor owning each claimed identity among keys;
	// unclaimed identities are absent from the map.
	IdentityOwners(ctx context.Context, keys []string) (map[string]string, error)
}

// Usages reads usage reports; ledger.Ledger implements it.
type Usages interface {
	// GetUsage returns a report by its transaction id. Errors: EINVALID, ENOTFOUND.
	GetUsage(ctx context.Context, transactionID string) (ledger.Usage, error)
	// UsageByRequest returns a provider's report by its request id. Errors: ENOTFOUND.
	UsageByRequest(ctx context.Context, providerID, requestID string) (ledger.Usage, error)
}

// Rules are the access rules that read: they resolve what a caller names to what it may reach.
// The zero Rules is not usable; set every field the methods called need (Contributor:
// Principals; StatementAccount: Principals and Owners; Usage: Usages; CheckProof: Owners).
type Rules struct {
	Principals Principals
	Owners     Owners
	Usages     Usages
}

// CanSeeAll reports whether the caller reads everything: auditors and admins.
func CanSeeAll(caller auth.Principal) bool {
	return caller.Role == auth.RoleAuditor || caller.Role == auth.RoleAdmin
}

// isContributor reports whether the caller is an identified contributor.
func isContributor(caller auth.Principal) bool {
	return caller.Role == auth.RoleContributor && caller.ID != ""
}

// isProvider reports whether the caller is an identified provider.
func isProvider(caller auth.Principal) bool {
	return caller.Role == auth.RoleProvider && caller.ID != ""
}

// deny refuses a caller no rule grants anything: EUNAUTHENTICATED for the zero Principal,
// EPERMISSION for a role the rule does not know.
func deny(caller auth.Principal, field, what string) error {
	if caller.ID == "" {
		return royalty.FieldErrorf(royalty.EUNAUTHENTICATED, field, "%s needs an authenticated principal", what)
	}
	return royalty.FieldErrorf(royalty.EPERMISSION, field, "role %q may not %s", caller.Role, what)
}

// OwnContributor resolves the contributor a call is about from the request field named field:
// a contributor may name only itself (or leave the field empty); auditors and admins must name
// one. It checks no existence; Rules.Contributor does.
// Errors: EPERMISSION (a contributor naming another), EINVALID (a reader naming none).
func OwnContributor(caller auth.Principal, field, requested string) (string, error) {
	switch {
	case isContributor(caller) && (requested == "" || requested == caller.ID):
		return caller.ID, nil
	case isContributor(caller):
		return "", royalty.FieldErrorf(royalty.EPERMISSION, field, "a contributor may only name itself")
	case !CanSeeAll(caller):
		return "", deny(caller, field, "read contributors")
	case requested == "":
		return "", royalty.FieldErrorf(royalty.EINVALID, field, "required")
	}
	return requested, nil
}

// ClaimsOf resolves whose claims a list shows, from the contributor_id field: auditors and
// admins see the contributor they name, or everyone's when they name none (""); a contributor
// sees only its own. Errors: EPERMISSION (a contributor naming another).
func ClaimsOf(caller auth.Principal, requested string) (string, error) {
	if CanSeeAll(caller) {
		return requested, nil
	}
	return OwnContributor(caller, "contributor_id", requested)
}

// CanSeeClaim reports whether the caller may read a claim of the contributor owner: auditors
// and admins read every claim, a contributor its own.
func CanSeeClaim(caller auth.Principal, owner string) bool {
	return CanSeeAll(caller) || isContributor(caller) && owner == caller.ID
}

// CheckClaim is CanSeeClaim as an error: another contributor's claim reads as absent (ENOTFOUND
// on claim_id, the message of a claim that does not exist), since its existence is not the
// caller's business.
func CheckClaim(caller auth.Principal, claimID, owner string) error {
	if !CanSeeClaim(caller, owner) {
		return royalty.FieldErrorf(royalty.ENOTFOUND, "claim_id", "no claim %q", claimID)
	}
	return nil
}

// CanProve reports whether the caller may get an inclusion proof of a transaction whose
// postings are on accounts: auditors and admins for any transaction, a contributor for those
// with a posting on its own account (ledger.ContributorAccount).
func CanProve(caller auth.Principal, accounts []string) bool {
	if CanSeeAll(caller) {
		return true
	}
	switch {
	case isContributor(caller):
		return slices.Contains(accounts, ledger.ContributorAccount(caller.ID))
	case isProvider(caller):
		return slices.Contains(accounts, ledger.ProviderAccount(caller.ID)) ||
			slices.Contains(accounts, ledger.ProviderRetainedAccount(caller.ID))
	}
	return false
}

// CheckProof is CanProve as an error: a transaction the caller may not prove reads as one that
// is not in the journal (ENOTFOUND on transaction_id, the journal's own message).
func CheckProof(caller auth.Principal, transactionID string, accounts []string) error {
	if !CanProve(caller, accounts) {
		return royalty.FieldErrorf(royalty.ENOTFOUND, "transaction_id", "transaction %s is not in the journal (it does not exist or is not sealed yet; sealing takes a few seconds)", transactionID)
	}
	return nil
}

// CheckProof is the package-level CheckProof, and also lets a contributor prove a transaction
// that posts to the escrow of an identity it owns now: the credits its identity earned before
// the claim, which the escrow release moved to it. Errors: those of CheckProof; an error of
// Owners.
func (r Rules) CheckProof(ctx context.Context, caller auth.Principal, transactionID string, accounts []string) error {
	if CanProve(caller, accounts) {
		return nil
	}
	if isContributor(caller) {
		var keys []string
		for _, address := range accounts {
			if a, err := ledger.ParseAccount("", address); err == nil && a.Type == ledger.AccountIdentityEscrow {
				keys = append(keys, a.IdentityKey)
			}
		}
		if len(keys) > 0 {
			owners, err := r.Owners.IdentityOwners(ctx, keys)
			if err != nil {
				return err
			}
			for _, k := range keys {
				if owners[k] == caller.ID {
					return nil
				}
			}
		}
	}
	return CheckProof(caller, transactionID, accounts)
}

// Contributor resolves and checks the contributor a read or payout is about, named in
// contributor_id: a contributor is always itself; an auditor or admin must name an existing
// contributor. Errors: those of OwnContributor, and ENOTFOUND when the named principal is not a
// contributor or cannot be read.
func (r Rules) Contributor(ctx context.Context, caller auth.Principal, requested string) (string, error) {
	id, err := OwnContributor(caller, "contributor_id", requested)
	if err != nil {
		return "", err
	}
	if caller.ID == id {
		return id, nil
	}
	p, err := r.Principals.GetPrincipal(ctx, id)
	if err != nil || p.Role != auth.RoleContributor {
		return "", royalty.FieldErrorf(royalty.ENOTFOUND, "contributor_id", "no contributor %q", requested)
	}
	return id, nil
}

// StatementAccount is the ledger account a statement reads: with no identityKey, the account of
// the contributor Contributor resolves; otherwise the escrow of that identity, which an auditor
// or admin may read for any identity and a contributor only for one it owns (unclaimed and
// another contributor's read alike, as ENOTFOUND on identity_key).
// Errors: those of Contributor; EINVALID for both fields given or a malformed key.
func (r Rules) StatementAccount(ctx context.Context, caller auth.Principal, contributorID, identityKey string) (string, error) {
	if identityKey == "" {
		id, err := r.Contributor(ctx, caller, contributorID)
		if err != nil {
			return "", err
		}
		return ledger.ContributorAccount(id), nil
	}
	if contributorID != "" {
		return "", royalty.FieldErrorf(royalty.EINVALID, "identity_key", "give contributor_id or identity_key, not both")
	}
	if err := ledger.CheckIdentityKey("identity_key", identityKey); err != nil {
		return "", err
	}
	switch {
	case CanSeeAll(caller):
	case isContributor(caller):
		owners, err := r.Owners.IdentityOwners(ctx, []string{identityKey})
		if err != nil {
			return "", err
		}
		if owners[identityKey] != caller.ID {
			// Unclaimed, or another contributor's: the same answer, so that nothing leaks.
			return "", royalty.FieldErrorf(royalty.ENOTFOUND, "identity_key", "no identity %q of yours", identityKey)
		}
	default:
		return "", deny(caller, "identity_key", "read escrow statements")
	}
	return ledger.EscrowAccount(identityKey), nil
}

// UsageQuery names one usage report: by TransactionID, or by RequestID under ProviderID (which
// a provider may leave empty for itself).
type UsageQuery struct {
	TransactionID string
	RequestID     string
	ProviderID    string
}

// Usage reads the usage report q names if the caller may see it: a provider sees only its own
// reports, auditors and admins every report. Another provider's report reads exactly as one
// that does not exist (ENOTFOUND), so that a provider cannot tell the two apart.
// Errors: EINVALID (neither id given; a reader giving request_id without provider_id; a
// malformed transaction id), EPERMISSION (a provider naming another provider), ENOTFOUND, and
// the reads' own.
func (r Rules) Usage(ctx context.Context, caller auth.Principal, q UsageQuery) (ledger.Usage, error) {
	if !isProvider(caller) && !CanSeeAll(caller) {
		return ledger.Usage{}, deny(caller, "transaction_id", "read usage reports")
	}
	switch {
	case q.TransactionID != "":
		u, err := r.Usages.GetUsage(ctx, q.TransactionID)
		if royalty.ErrorCode(err) == royalty.ENOTFOUND || err == nil && isProvider(caller) && u.ProviderID != caller.ID {
			// Absent, or another provider's report: one answer, so that a provider cannot
			// tell another provider's reports from ids that do not exist.
			return ledger.Usage{}, royalty.FieldErrorf(royalty.ENOTFOUND, "transaction_id", "no usage report %q", q.TransactionID)
		}
		return u, err
	case q.RequestID != "":
		provider := q.ProviderID
		switch {
		case isProvider(caller) && provider != "" && provider != caller.ID:
			return ledger.Usage{}, royalty.FieldErrorf(royalty.EPERMISSION, "provider_id", "a provider may only name itself")
		case isProvider(caller):
			provider = caller.ID
		case provider == "":
			return ledger.Usage{}, royalty.FieldErrorf(royalty.EINVALID, "provider_id", "required with request_id")
		}
		u, err := r.Usages.UsageByRequest(ctx, provider, q.RequestID)
		if royalty.ErrorCode(err) == royalty.ENOTFOUND {
			return ledger.Usage{}, royalty.FieldErrorf(royalty.ENOTFOUND, "request_id", "no usage report %q of provider %s", q.RequestID, provider)
		}
		return u, err
	}
	return ledger.Usage{}, royalty.FieldErrorf(royalty.EINVALID, "transaction_id", "give transaction_id or request_id")
}

// LineageOf resolves whose model version lineage a call reads, from the provider_id field: a
// provider reads its own (naming itself or nobody; another provider's reads as NOT_FOUND, like
// any of its data); auditors and admins read the provider they name.
// Errors: ENOTFOUND (a provider naming another), EINVALID (a reader naming none or a malformed
// id), EUNAUTHENTICATED or EPERMISSION (anyone else).
func LineageOf(caller auth.Principal, field, requested string) (string, error) {
	switch {
	case isProvider(caller) && (requested == "" || requested == caller.ID):
		return caller.ID, nil
	case isProvider(caller):
		return "", royalty.FieldErrorf(royalty.ENOTFOUND, "model_version", "no training declared for this model version")
	case !CanSeeAll(caller):
		return "", deny(caller, field, "read training lineage")
	case requested == "":
		return "", royalty.FieldErrorf(royalty.EINVALID, field, "required")
	}
	if err := ledger.CheckID(field, requested); err != nil {
		return "", err
	}
	return requested, nil
}
