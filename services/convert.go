package services

import (
	"time"

	"github.com/shopspring/decimal"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/claims"
	"github.com/openroyalty/royalty/ledger"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

var roleToProto = map[auth.Role]v1.Role{
	auth.RoleProvider:    v1.Role_ROLE_PROVIDER,
	auth.RoleContributor: v1.Role_ROLE_CONTRIBUTOR,
	auth.RoleAuditor:     v1.Role_ROLE_AUDITOR,
	auth.RoleAdmin:       v1.Role_ROLE_ADMIN,
}

// roleFromProto converts a role; ROLE_UNSPECIFIED is allowed only when optional.
func roleFromProto(field string, r v1.Role, optional bool) (auth.Role, error) {
	if r == v1.Role_ROLE_UNSPECIFIED && optional {
		return "", nil
	}
	for k, v := range roleToProto {
		if v == r {
			return k, nil
		}
	}
	if r == v1.Role_ROLE_UNSPECIFIED {
		return "", royalty.FieldErrorf(royalty.EINVALID, field, "required")
	}
	return "", royalty.FieldErrorf(royalty.EINVALID, field, "unknown role %d", r)
}

func tsOrNil(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

func principalToProto(p auth.Principal) *v1.Principal {
	return &v1.Principal{Id: p.ID, Name: p.Name, Role: roleToProto[p.Role], CreatedAt: timestamppb.New(p.CreatedAt)}
}

func keyToProto(k auth.APIKey) *v1.ApiKey {
	return &v1.ApiKey{Id: k.ID, PrincipalId: k.PrincipalID, Prefix: k.Prefix, CreatedAt: timestamppb.New(k.CreatedAt), RevokedAt: tsOrNil(k.RevokedAt)}
}

var claimStatusToProto = map[claims.Status]v1.ClaimStatus{
	claims.StatusPending:  v1.ClaimStatus_CLAIM_STATUS_PENDING,
	claims.StatusVerified: v1.ClaimStatus_CLAIM_STATUS_VERIFIED,
	claims.StatusRejected: v1.ClaimStatus_CLAIM_STATUS_REJECTED,
}

func claimStatusFromProto(s v1.ClaimStatus) (claims.Status, error) {
	if s == v1.ClaimStatus_CLAIM_STATUS_UNSPECIFIED {
		return "", nil
	}
	for k, v := range claimStatusToProto {
		if v == s {
			return k, nil
		}
	}
	return "", royalty.FieldErrorf(royalty.EINVALID, "status", "unknown status %d", s)
}

var proofKindToProto = map[claims.ProofKind]v1.ProofKind{
	claims.ProofProfile:     v1.ProofKind_PROOF_KIND_PROFILE,
	claims.ProofComment:     v1.ProofKind_PROOF_KIND_COMMENT,
	claims.ProofOwnEditPost: v1.ProofKind_PROOF_KIND_OWN_EDIT_POST,
	claims.ProofAdmin:       v1.ProofKind_PROOF_KIND_ADMIN,
	claims.ProofLegacyPost:  v1.ProofKind_PROOF_KIND_LEGACY_POST,

	claims.ProofProviderAttestation: v1.ProofKind_PROOF_KIND_PROVIDER_ATTESTATION,
	claims.ProofLinkCode:            v1.ProofKind_PROOF_KIND_LINK_CODE,
}

func claimToProto(c claims.Claim) *v1.Claim {
	out := &v1.Claim{
		Id: c.ID, ContributorId: c.ContributorID, IdentityKey: c.IdentityKey, Status: claimStatusToProto[c.Status],
		Challenge: c.Challenge, CreatedAt: timestamppb.New(c.CreatedAt), DecidedAt: tsOrNil(c.DecidedAt),
		DecidedBy: c.DecidedBy, Note: c.Note, ReleaseTransactionId: c.ReleaseTransactionID,
		ProofKind: proofKindToProto[c.ProofKind],
	}
	for _, m := range c.Released {
		out.Released = append(out.Released, &v1.Money{Amount: m.Amount.String(), Currency: m.Currency})
	}
	return out
}

func contributorToProto(p auth.Principal) *v1.Contributor {
	return &v1.Contributor{Id: p.ID, DisplayName: p.Name, CreatedAt: timestamppb.New(p.CreatedAt)}
}

func money(d decimal.Decimal, currency string) *v1.Money {
	return &v1.Money{Amount: d.String(), Currency: currency}
}

func evidenceToProto(es []ledger.Evidence) []*v1.EvidenceSpan {
	out := make([]*v1.EvidenceSpan, 0, len(es))
	for _, e := range es {
		out = append(out, &v1.EvidenceSpan{
			IdentityKey: e.IdentityKey, PostId: e.PostID, PostUrl: e.PostURL,
			ResponseStart: uint32(e.ResponseStart), ResponseEnd: uint32(e.ResponseEnd),
			ResponseWordStart: uint32(e.ResponseWordStart), ResponseWordEnd: uint32(e.ResponseWordEnd),
			SourceStart: uint32(e.SourceStart), SourceEnd: uint32(e.SourceEnd), Text: e.Text,
		})
	}
	return out
}

var accountTypeToProto = map[ledger.AccountType]v1.AccountType{
	ledger.AccountProvider:         v1.AccountType_ACCOUNT_TYPE_PROVIDER,
	ledger.AccountProviderRetained: v1.AccountType_ACCOUNT_TYPE_PROVIDER_RETAINED,
	ledger.AccountContributor:      v1.AccountType_ACCOUNT_TYPE_CONTRIBUTOR,
	ledger.AccountIdentityEscrow:   v1.AccountType_ACCOUNT_TYPE_IDENTITY_ESCROW,
	ledger.AccountUnattributed:     v1.AccountType_ACCOUNT_TYPE_UNATTRIBUTED,
	ledger.AccountPlatform:         v1.AccountType_ACCOUNT_TYPE_PLATFORM,
	ledger.AccountPayoutClearing:   v1.AccountType_ACCOUNT_TYPE_PAYOUT_CLEARING,
	ledger.AccountFeedbackPool:     v1.AccountType_ACCOUNT_TYPE_FEEDBACK_POOL,
}

func postingsToProto(ps []ledger.Posting) []*v1.Posting {
	out := make([]*v1.Posting, 0, len(ps))
	for _, p := range ps {
		out = append(out, &v1.Posting{Account: p.Account, AccountType: accountTypeToProto[p.Type], Amount: money(p.Amount, p.Currency)})
	}
	return out
}
