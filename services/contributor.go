package services

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/claims"
	"github.com/openroyalty/royalty/ledger"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// contributorServer implements ContributorService.
type contributorServer struct {
	v1.UnimplementedContributorServiceServer
	auth   auth.Store
	claims *claims.Service
	ledger ledger.Ledger
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
	return &v1.StartClaimResponse{Claim: s.claimToProto(c)}, nil
}

func (s *contributorServer) CheckClaim(ctx context.Context, req *v1.CheckClaimRequest) (*v1.CheckClaimResponse, error) {
	c, err := s.claims.Check(ctx, caller(ctx).ID, req.GetClaimId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &v1.CheckClaimResponse{Claim: s.claimToProto(c)}, nil
}

// claimToProto translates a claim with the instructions for proving it.
func (s *contributorServer) claimToProto(c claims.Claim) *v1.Claim {
	pb := claimToProto(c)
	pb.Instructions = s.claims.Instructions(c)
	return pb
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
	return &v1.GetClaimResponse{Claim: s.claimToProto(c)}, nil
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
		out.Claims = append(out.Claims, s.claimToProto(c))
	}
	return out, nil
}

// contributorFor resolves and checks the contributor a read or payout is about: a contributor
// is always itself; an auditor or admin must name an existing contributor.
func (s *contributorServer) contributorFor(ctx context.Context, requested string) (string, error) {
	id, err := ownContributor(ctx, "contributor_id", requested)
	if err != nil {
		return "", err
	}
	if caller(ctx).ID == id {
		return id, nil
	}
	p, err := s.auth.GetPrincipal(ctx, id)
	if err != nil || p.Role != auth.RoleContributor {
		return "", royalty.FieldErrorf(royalty.ENOTFOUND, "contributor_id", "no contributor %q", requested)
	}
	return id, nil
}

func (s *contributorServer) GetBalance(ctx context.Context, req *v1.GetBalanceRequest) (*v1.GetBalanceResponse, error) {
	id, err := s.contributorFor(ctx, req.GetContributorId())
	if err != nil {
		return nil, toStatus(err)
	}
	var asOf time.Time
	if req.GetAsOf() != nil {
		asOf = req.GetAsOf().AsTime()
	}
	bs, err := s.ledger.Balances(ctx, ledger.ContributorAccount(id), asOf)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &v1.GetBalanceResponse{}
	for _, b := range bs {
		out.Balances = append(out.Balances, &v1.Balance{
			Balance:   money(b.Balance, b.Currency),
			Available: money(b.Available, b.Currency),
		})
	}
	return out, nil
}

func (s *contributorServer) ListStatement(ctx context.Context, req *v1.ListStatementRequest) (*v1.ListStatementResponse, error) {
	account, err := s.statementAccount(ctx, req)
	if err != nil {
		return nil, toStatus(err)
	}
	page, err := s.ledger.Statement(ctx, ledger.StatementQuery{
		Account: account, Currency: req.GetCurrency(),
		PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &v1.ListStatementResponse{NextPageToken: page.NextPageToken}
	for _, e := range page.Entries {
		out.Entries = append(out.Entries, &v1.StatementEntry{
			TransactionId: e.TransactionID, CreatedAt: timestamppb.New(e.CreatedAt), Kind: string(e.Kind),
			Amount: money(e.Amount, e.Currency), ModelId: e.ModelID, IdentityKey: e.IdentityKey,
			Evidence: evidenceToProto(e.Evidence), Reverses: e.Reverses, Reason: e.Reason,
		})
	}
	return out, nil
}

// statementAccount is the account a ListStatement request reads: the contributor's, or the
// escrow of an identity the caller may read (its own, for a contributor).
func (s *contributorServer) statementAccount(ctx context.Context, req *v1.ListStatementRequest) (string, error) {
	key := req.GetIdentityKey()
	if key == "" {
		id, err := s.contributorFor(ctx, req.GetContributorId())
		if err != nil {
			return "", err
		}
		return ledger.ContributorAccount(id), nil
	}
	if req.GetContributorId() != "" {
		return "", royalty.FieldErrorf(royalty.EINVALID, "identity_key", "give contributor_id or identity_key, not both")
	}
	if err := ledger.CheckIdentityKey("identity_key", key); err != nil {
		return "", err
	}
	if me := caller(ctx); me.Role == auth.RoleContributor {
		owners, err := s.ledger.IdentityOwners(ctx, []string{key})
		if err != nil {
			return "", err
		}
		if owners[key] != me.ID {
			// Unclaimed, or another contributor's: the same answer, so that nothing leaks.
			return "", royalty.FieldErrorf(royalty.ENOTFOUND, "identity_key", "no identity %q of yours", key)
		}
	}
	return ledger.EscrowAccount(key), nil
}

func (s *contributorServer) RequestPayout(ctx context.Context, req *v1.RequestPayoutRequest) (*v1.RequestPayoutResponse, error) {
	id, err := s.contributorFor(ctx, req.GetContributorId())
	if err != nil {
		return nil, toStatus(err)
	}
	pr := ledger.PayoutRequest{ContributorID: id, RequestID: req.GetRequestId(), Currency: req.GetCurrency()}
	if req.GetAmount() != "" {
		amount, err := ledger.ParseAmount("amount", req.GetAmount(), ledger.MaxScale)
		if err != nil {
			return nil, toStatus(err)
		}
		pr.Amount = &amount
	}
	res, err := s.ledger.Payout(ctx, pr)
	if err != nil {
		return nil, toStatus(err)
	}
	p := res.Payout
	return &v1.RequestPayoutResponse{Replayed: res.Replayed, Payout: &v1.Payout{
		TransactionId: p.TransactionID, Amount: money(p.Amount, p.Currency),
		Remaining: money(p.Remaining, p.Currency), CreatedAt: timestamppb.New(p.CreatedAt),
	}}, nil
}
