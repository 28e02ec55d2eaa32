package services

import (
	"context"
	"math/big"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/access"
	"github.com/openroyalty/royalty/ledger"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
	"github.com/openroyalty/royalty/usage"
)

// providerServer implements ProviderService. A provider reports as itself and sees only its own
// reports (access.Rules.Usage); another provider's report reads as NOT_FOUND.
type providerServer struct {
	v1.UnimplementedProviderServiceServer
	usage  *usage.Service
	ledger ledger.Ledger
	access access.Rules
}

func reportFromProto(providerID string, r *v1.ReportUsageRequest) usage.Report {
	return usage.Report{
		ProviderID: providerID, RequestID: r.GetRequestId(), ModelID: r.GetModelId(), ModelVersionHash: r.GetModelVersionHash(),
		InputTokens: r.GetInputTokens(), OutputTokens: r.GetOutputTokens(), Revenue: r.GetRevenue(),
		PricePerOutputToken: r.GetPricePerOutputToken(), Currency: r.GetCurrency(), ResponseText: r.GetResponseText(),
	}
}

func (s *providerServer) ReportUsage(ctx context.Context, req *v1.ReportUsageRequest) (*v1.ReportUsageResponse, error) {
	res, err := s.usage.Report(ctx, reportFromProto(caller(ctx).ID, req))
	if err != nil {
		return nil, toStatus(err)
	}
	return &v1.ReportUsageResponse{Usage: usageToProto(res.Usage), Replayed: res.Replayed}, nil
}

func (s *providerServer) ReportUsageBatch(ctx context.Context, req *v1.ReportUsageBatchRequest) (*v1.ReportUsageBatchResponse, error) {
	if n := len(req.GetReports()); n > usage.MaxBatch {
		return nil, toStatus(royalty.FieldErrorf(royalty.EINVALID, "reports", "%d reports, at most %d per batch", n, usage.MaxBatch))
	}
	rs := make([]usage.Report, len(req.GetReports()))
	for i, r := range req.GetReports() {
		rs[i] = reportFromProto(caller(ctx).ID, r)
	}
	results, err := s.usage.ReportBatch(ctx, rs)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &v1.ReportUsageBatchResponse{}
	for _, r := range results {
		out.Results = append(out.Results, &v1.ReportUsageResponse{Usage: usageToProto(r.Usage), Replayed: r.Replayed})
	}
	return out, nil
}

func (s *providerServer) ReverseUsage(ctx context.Context, req *v1.ReverseUsageRequest) (*v1.ReverseUsageResponse, error) {
	res, err := s.ledger.ReverseUsage(ctx, ledger.ReversalRequest{
		ProviderID: caller(ctx).ID, TransactionID: req.GetTransactionId(), RequestID: req.GetRequestId(), Reason: req.GetReason(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &v1.ReverseUsageResponse{Usage: usageToProto(res.Usage), Replayed: res.Replayed}, nil
}

func (s *providerServer) GetUsage(ctx context.Context, req *v1.GetUsageRequest) (*v1.GetUsageResponse, error) {
	u, err := s.access.Usage(ctx, caller(ctx), access.UsageQuery{
		TransactionID: req.GetTransactionId(), RequestID: req.GetRequestId(), ProviderID: req.GetProviderId(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &v1.GetUsageResponse{Usage: usageToProto(u)}, nil
}

func usageToProto(u ledger.Usage) *v1.Usage {
	out := &v1.Usage{
		TransactionId: u.TransactionID, RequestId: u.RequestID, ProviderId: u.ProviderID, ModelId: u.ModelID,
		ModelVersionHash: u.ModelVersionHash, InputTokens: u.InputTokens, OutputTokens: u.OutputTokens,
		Revenue: money(u.Revenue, u.Currency), RoyaltyRate: u.RoyaltyRate.String(), Royalty: money(u.Royalty, u.Currency),
		Retained: money(u.Retained, u.Currency), Unattributed: money(u.Unattributed, u.Currency),
		Evidence: evidenceToProto(u.Evidence), CreatedAt: timestamppb.New(u.CreatedAt), Postings: postingsToProto(u.Postings),
		IndexVersion: indexVersionToProto(u.Index),
	}
	for _, c := range u.Credits {
		out.Credits = append(out.Credits, &v1.Credit{
			Account: c.Account, AccountType: accountTypeToProto[c.Type], Amount: c.Amount.String(),
			IdentityKey: c.IdentityKey, ContributorId: c.ContributorID, Share: shareString(c.Share),
		})
	}
	if u.Reversal != nil {
		out.ReversalTransactionId, out.ReversalReason = u.Reversal.TransactionID, u.Reversal.Reason
	}
	return out
}

// indexVersionToProto is nil for nil: a report booked before versions were recorded.
func indexVersionToProto(v *ledger.IndexVersion) *v1.IndexVersion {
	if v == nil {
		return nil
	}
	return &v1.IndexVersion{Posts: v.Posts, Mark: v.Mark}
}

// shareString renders an exact share for display, rounded to 12 places; the ledger split with
// the exact value.
func shareString(r *big.Rat) string {
	if r == nil {
		return ""
	}
	return displayDecimal(r)
}
