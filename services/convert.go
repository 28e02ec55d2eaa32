package services

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/claims"
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

func claimToProto(c claims.Claim) *v1.Claim {
	out := &v1.Claim{
		Id: c.ID, ContributorId: c.ContributorID, IdentityKey: c.IdentityKey, Status: claimStatusToProto[c.Status],
		Challenge: c.Challenge, CreatedAt: timestamppb.New(c.CreatedAt), DecidedAt: tsOrNil(c.DecidedAt),
		DecidedBy: c.DecidedBy, Note: c.Note, ReleaseTransactionId: c.ReleaseTransactionID,
	}
	for _, m := range c.Released {
		out.Released = append(out.Released, &v1.Money{Amount: m.Amount.String(), Currency: m.Currency})
	}
	return out
}

func contributorToProto(p auth.Principal) *v1.Contributor {
	return &v1.Contributor{Id: p.ID, DisplayName: p.Name, CreatedAt: timestamppb.New(p.CreatedAt)}
}
