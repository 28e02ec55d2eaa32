package services

import (
	"context"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/claims"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// contributorServer implements ContributorService.
type contributorServer struct {
	v1.UnimplementedContributorServiceServer
	auth   auth.Store
	claims *claims.Service
}

func (s *contributorServer) RegisterContributor(ctx context.Context, req *v1.RegisterContributorRequest) (*v1.RegisterContributorResponse, error) {
	if err := auth.ValidateName("display_name", req.GetDisplayName()); err != nil {
		return nil, toStatus(err)
	}
	p, _, secret, err := s.auth.CreatePrincipal(ctx, req.GetDisplayName(), auth.RoleContributor)
	if err != nil {
		return nil, toStatus(err)
	}
	return &v1.RegisterContributorResponse{Contributor: contributorToProto(p), ApiKey: secret}, nil
}

func (s *contributorServer) StartClaim(ctx context.Context, req *v1.StartClaimRequest) (*v1.StartClaimResponse, error) {
	c, err := s.claims.Start(ctx, caller(ctx).ID, req.GetIdentityKey())
	if err != nil {
		return nil, toStatus(err)
	}
	return &v1.StartClaimResponse{Claim: claimToProto(c)}, nil
}

func (s *contributorServer) GetClaim(ctx context.Context, req *v1.GetClaimRequest) (*v1.GetClaimResponse, error) {
	c, err := s.claims.Get(ctx, req.GetClaimId())
	if err == nil && !canSeeAll(ctx) && c.ContributorID != caller(ctx).ID {
		// Another contributor's claim reads as absent: its existence is not the caller's business.
		err = royalty.FieldErrorf(royalty.ENOTFOUND, "claim_id", "no claim %q", req.GetClaimId())
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return &v1.GetClaimResponse{Claim: claimToProto(c)}, nil
}

func (s *contributorServer) ListClaims(ctx context.Context, req *v1.ListClaimsRequest) (*v1.ListClaimsResponse, error) {
	contributor := req.GetContributorId()
	if !canSeeAll(ctx) {
		var err error
		if contributor, err = ownContributor(ctx, "contributor_id", contributor); err != nil {
			return nil, toStatus(err)
		}
	}
	status, err := claimStatusFromProto(req.GetStatus())
	if err != nil {
		return nil, toStatus(err)
	}
	cs, next, err := s.claims.List(ctx, claims.Filter{ContributorID: contributor, Status: status, PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &v1.ListClaimsResponse{NextPageToken: next}
	for _, c := range cs {
		out.Claims = append(out.Claims, claimToProto(c))
	}
	return out, nil
}
