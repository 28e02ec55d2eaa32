package services

import (
	"context"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/claims"
	"github.com/openroyalty/royalty/ledger"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// adminServer implements AdminService: principals, keys, agreements and claim decisions.
type adminServer struct {
	v1.UnimplementedAdminServiceServer
	auth   auth.Store
	claims *claims.Service
	ledger ledger.Ledger
}

func (s *adminServer) CreatePrincipal(ctx context.Context, req *v1.CreatePrincipalRequest) (*v1.CreatePrincipalResponse, error) {
	role, err := roleFromProto("role", req.GetRole(), false)
	if err != nil {
		return nil, toStatus(err)
	}
	p, k, secret, err := s.auth.CreatePrincipal(ctx, req.GetName(), role)
	if err != nil {
		return nil, toStatus(err)
	}
	return &v1.CreatePrincipalResponse{Principal: principalToProto(p), Key: keyToProto(k), ApiKey: secret}, nil
}

func (s *adminServer) ListPrincipals(ctx context.Context, req *v1.ListPrincipalsRequest) (*v1.ListPrincipalsResponse, error) {
	role, err := roleFromProto("role", req.GetRole(), true)
	if err != nil {
		return nil, toStatus(err)
	}
	ps, next, err := s.auth.ListPrincipals(ctx, auth.PrincipalFilter{Role: role, PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &v1.ListPrincipalsResponse{NextPageToken: next}
	for _, p := range ps {
		out.Principals = append(out.Principals, principalToProto(p))
	}
	return out, nil
}

func (s *adminServer) CreateApiKey(ctx context.Context, req *v1.CreateApiKeyRequest) (*v1.CreateApiKeyResponse, error) {
	k, secret, err := s.auth.CreateKey(ctx, req.GetPrincipalId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &v1.CreateApiKeyResponse{Key: keyToProto(k), ApiKey: secret}, nil
}

func (s *adminServer) RevokeApiKey(ctx context.Context, req *v1.RevokeApiKeyRequest) (*v1.RevokeApiKeyResponse, error) {
	k, err := s.auth.RevokeKey(ctx, req.GetKeyId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &v1.RevokeApiKeyResponse{Key: keyToProto(k)}, nil
}

func (s *adminServer) ApproveClaim(ctx context.Context, req *v1.ApproveClaimRequest) (*v1.ApproveClaimResponse, error) {
	c, err := s.claims.Approve(ctx, req.GetClaimId(), caller(ctx).ID, req.GetNote())
	if err != nil {
		return nil, toStatus(err)
	}
	return &v1.ApproveClaimResponse{Claim: claimToProto(c)}, nil
}

func (s *adminServer) RejectClaim(ctx context.Context, req *v1.RejectClaimRequest) (*v1.RejectClaimResponse, error) {
	c, err := s.claims.Reject(ctx, req.GetClaimId(), caller(ctx).ID, req.GetNote())
	if err != nil {
		return nil, toStatus(err)
	}
	return &v1.RejectClaimResponse{Claim: claimToProto(c)}, nil
}

func (s *adminServer) SetProviderAgreement(ctx context.Context, req *v1.SetProviderAgreementRequest) (*v1.SetProviderAgreementResponse, error) {
	p, err := s.auth.GetPrincipal(ctx, req.GetProviderId())
	if royalty.ErrorCode(err) == royalty.ENOTFOUND || (err == nil && p.Role != auth.RoleProvider) {
		err = royalty.FieldErrorf(royalty.ENOTFOUND, "provider_id", "no provider %q", req.GetProviderId())
	}
	if err != nil {
		return nil, toStatus(err)
	}
	rate, err := ledger.ParseRate("royalty_rate", req.GetRoyaltyRate())
	if err != nil {
		return nil, toStatus(err)
	}
	a, err := s.ledger.SetAgreement(ctx, p.ID, rate)
	if err != nil {
		return nil, toStatus(err)
	}
	return &v1.SetProviderAgreementResponse{ProviderId: a.ProviderID, RoyaltyRate: a.RoyaltyRate.String()}, nil
}
