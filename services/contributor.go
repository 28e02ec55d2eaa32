package services

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/openroyalty/royalty/access"
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
	access access.Rules
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

func (s *contributorServer) RedeemLinkCode(ctx context.Context, req *v1.RedeemLinkCodeRequest) (*v1.RedeemLinkCodeResponse, error) {
	c, err := s.claims.RedeemLinkCode(ctx, caller(ctx).ID, req.GetIdentityKey(), req.GetCode())
	if err != nil {
		return nil, toStatus(err)
	}
	return &v1.RedeemLinkCodeResponse{Claim: s.claimToProto(c)}, nil
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
	if err == nil {
		err = access.CheckClaim(caller(ctx), req.GetClaimId(), c.ContributorID)
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return &v1.GetClaimResponse{Claim: s.claimToProto(c)}, nil
}

func (s *contributorServer) ListClaims(ctx context.Context, req *v1.ListClaimsRequest) (*v1.ListClaimsResponse, error) {
	contributor, err := access.ClaimsOf(caller(ctx), req.GetContributorId())
	if err != nil {
		return nil, toStatus(err)
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

func (s *contributorServer) GetBalance(ctx context.Context, req *v1.GetBalanceRequest) (*v1.GetBalanceResponse, error) {
	id, err := s.access.Contributor(ctx, caller(ctx), req.GetContributorId())
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
	account, err := s.access.StatementAccount(ctx, caller(ctx), req.GetContributorId(), req.GetIdentityKey())
	if err != nil {
		return nil, toStatus(err)
	}
	// The escrow releases on a contributor's statement come with the credits they moved: the
	// identity is the contributor's (the release put it on this account), so whoever may read
	// the account may read them.
	page, err := s.ledger.Statement(ctx, ledger.StatementQuery{
		Account: account, Currency: req.GetCurrency(),
		PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(),
		ExpandReleases: true,
	})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &v1.ListStatementResponse{NextPageToken: page.NextPageToken}
	for _, e := range page.Entries {
		out.Entries = append(out.Entries, statementEntryToProto(e))
	}
	return out, nil
}

// statementEntryToProto translates a statement entry with the entries an escrow release moved.
func statementEntryToProto(e ledger.StatementEntry) *v1.StatementEntry {
	pb := &v1.StatementEntry{
		TransactionId: e.TransactionID, CreatedAt: timestamppb.New(e.CreatedAt), Kind: string(e.Kind),
		Amount: money(e.Amount, e.Currency), ModelId: e.ModelID, IdentityKey: e.IdentityKey,
		Evidence: evidenceToProto(e.Evidence), Reverses: e.Reverses, Reason: e.Reason,
		IndexVersion: indexVersionToProto(e.Index),
	}
	for _, r := range e.Released {
		pb.Released = append(pb.Released, statementEntryToProto(r))
	}
	if f := e.Feedback; f != nil {
		pb.Feedback = &v1.FeedbackCredit{Pool: f.Pool, Epoch: f.Epoch, ModelVersions: f.ModelVersions, RaterId: f.RaterID,
			Events: f.Events, Counted: f.Counted, CountedTotal: f.CountedTotal, Cap: f.Cap}
		for _, m := range f.Settled {
			pb.Feedback.Settled = append(pb.Feedback.Settled, money(m.Amount, m.Currency))
		}
	}
	return pb
}

func (s *contributorServer) RequestPayout(ctx context.Context, req *v1.RequestPayoutRequest) (*v1.RequestPayoutResponse, error) {
	id, err := s.access.Contributor(ctx, caller(ctx), req.GetContributorId())
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
