package services

import (
	"context"
	"strconv"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/access"
	"github.com/openroyalty/royalty/claims"
	"github.com/openroyalty/royalty/ledger"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// feedbackServer implements FeedbackService. A provider reports, declares and attests as
// itself: the rater identities it names are built from its own id, so it never reaches another
// provider's namespace.
type feedbackServer struct {
	v1.UnimplementedFeedbackServiceServer
	ledger ledger.FeedbackLedger
	claims *claims.Service
}

var feedbackKindFromProto = map[v1.FeedbackKind]string{
	v1.FeedbackKind_FEEDBACK_KIND_THUMBS_UP:   ledger.FeedbackThumbsUp,
	v1.FeedbackKind_FEEDBACK_KIND_THUMBS_DOWN: ledger.FeedbackThumbsDown,
	v1.FeedbackKind_FEEDBACK_KIND_PREFERENCE:  ledger.FeedbackPreference,
	v1.FeedbackKind_FEEDBACK_KIND_CORRECTION:  ledger.FeedbackCorrection,
}

func feedbackFromProto(providerID string, r *v1.ReportFeedbackRequest) ledger.FeedbackRequest {
	return ledger.FeedbackRequest{
		ProviderID: providerID, RequestID: r.GetRequestId(), RaterID: r.GetRaterId(),
		Kind: feedbackKindFromProto[r.GetKind()], ModelVersion: r.GetModelVersion(), UsageRequestID: r.GetUsageRequestId(),
	}
}

func feedbackToProto(res ledger.FeedbackResult) *v1.ReportFeedbackResponse {
	f := res.Feedback
	kind := v1.FeedbackKind_FEEDBACK_KIND_UNSPECIFIED
	for k, v := range feedbackKindFromProto {
		if v == f.Kind {
			kind = k
		}
	}
	return &v1.ReportFeedbackResponse{Replayed: res.Replayed, Feedback: &v1.Feedback{
		RequestId: f.RequestID, RaterId: f.RaterID, Kind: kind, ModelVersion: f.ModelVersion,
		UsageRequestId: f.UsageRequestID, IdentityKey: f.IdentityKey, Epoch: f.Epoch, CreatedAt: timestamppb.New(f.CreatedAt),
	}}
}

func (s *feedbackServer) ReportFeedback(ctx context.Context, req *v1.ReportFeedbackRequest) (*v1.ReportFeedbackResponse, error) {
	res, err := s.ledger.ReportFeedback(ctx, feedbackFromProto(caller(ctx).ID, req))
	if err != nil {
		return nil, toStatus(err)
	}
	return feedbackToProto(res), nil
}

func (s *feedbackServer) ReportFeedbackBatch(ctx context.Context, req *v1.ReportFeedbackBatchRequest) (*v1.ReportFeedbackBatchResponse, error) {
	if n := len(req.GetEvents()); n > ledger.MaxBatch {
		return nil, toStatus(royalty.FieldErrorf(royalty.EINVALID, "events", "%d events, at most %d per batch", n, ledger.MaxBatch))
	}
	reqs := make([]ledger.FeedbackRequest, len(req.GetEvents()))
	for i, r := range req.GetEvents() {
		reqs[i] = feedbackFromProto(caller(ctx).ID, r)
	}
	res, err := s.ledger.ReportFeedbackBatch(ctx, reqs)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &v1.ReportFeedbackBatchResponse{}
	for _, r := range res {
		out.Results = append(out.Results, feedbackToProto(r))
	}
	return out, nil
}

func (s *feedbackServer) DeclareTraining(ctx context.Context, req *v1.DeclareTrainingRequest) (*v1.DeclareTrainingResponse, error) {
	d := ledger.TrainingDeclaration{ProviderID: caller(ctx).ID, ModelVersion: req.GetModelVersion(), Rejected: req.GetRejectedRaterIds()}
	for i, e := range req.GetEpochs() {
		w, err := ledger.ParseAmount("epochs["+strconv.Itoa(i)+"].weight", e.GetWeight(), ledger.MaxScale)
		if err != nil {
			return nil, toStatus(err)
		}
		d.Epochs = append(d.Epochs, ledger.EpochWeight{Epoch: e.GetEpoch(), Weight: w})
	}
	l, err := s.ledger.DeclareTraining(ctx, d)
	if err != nil {
		return nil, toStatus(err)
	}
	return &v1.DeclareTrainingResponse{Lineage: lineageToProto(l)}, nil
}

func (s *feedbackServer) GetLineage(ctx context.Context, req *v1.GetLineageRequest) (*v1.GetLineageResponse, error) {
	provider, err := access.LineageOf(caller(ctx), "provider_id", req.GetProviderId())
	if err != nil {
		return nil, toStatus(err)
	}
	l, err := s.ledger.GetLineage(ctx, provider, req.GetModelVersion())
	if err != nil {
		return nil, toStatus(err)
	}
	return &v1.GetLineageResponse{Lineage: lineageToProto(l)}, nil
}

func (s *feedbackServer) SetFeedbackRate(ctx context.Context, req *v1.SetFeedbackRateRequest) (*v1.SetFeedbackRateResponse, error) {
	rate, err := ledger.ParseRate("feedback_rate", req.GetFeedbackRate())
	if err != nil {
		return nil, toStatus(err)
	}
	a, err := s.ledger.SetFeedbackRate(ctx, req.GetProviderId(), rate)
	if err != nil {
		return nil, toStatus(err)
	}
	return &v1.SetFeedbackRateResponse{ProviderId: a.ProviderID, FeedbackRate: a.FeedbackRate.String(), RoyaltyRate: a.RoyaltyRate.String()}, nil
}

func (s *feedbackServer) SettleFeedback(ctx context.Context, req *v1.SettleFeedbackRequest) (*v1.SettleFeedbackResponse, error) {
	sts, err := s.ledger.SettleFeedback(ctx, req.GetProviderId())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &v1.SettleFeedbackResponse{}
	for _, st := range sts {
		out.Settlements = append(out.Settlements, settlementToProto(st))
	}
	return out, nil
}

func (s *feedbackServer) AttestIdentity(ctx context.Context, req *v1.AttestIdentityRequest) (*v1.AttestIdentityResponse, error) {
	c, err := s.claims.Attest(ctx, caller(ctx).ID, req.GetRaterId(), req.GetChallenge())
	if err != nil {
		return nil, toStatus(err)
	}
	return &v1.AttestIdentityResponse{Claim: claimToProto(c)}, nil
}

// CreateLinkCode makes a link code for one of the caller's own raters: the identity is built
// from the caller's id.
func (s *feedbackServer) CreateLinkCode(ctx context.Context, req *v1.CreateLinkCodeRequest) (*v1.CreateLinkCodeResponse, error) {
	code, key, expires, err := s.claims.NewLinkCode(ctx, caller(ctx).ID, req.GetRaterId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &v1.CreateLinkCodeResponse{Code: code, IdentityKey: key, ExpiresAt: timestamppb.New(expires)}, nil
}

func lineageToProto(l ledger.Lineage) *v1.Lineage {
	out := &v1.Lineage{ProviderId: l.ProviderID, ModelVersion: l.ModelVersion}
	for _, e := range l.Epochs {
		out.Epochs = append(out.Epochs, &v1.EpochWeight{Epoch: e.Epoch, Weight: e.Weight.String(), DeclaredAt: timestamppb.New(e.DeclaredAt)})
	}
	for _, r := range l.Rejected {
		out.Rejections = append(out.Rejections, &v1.Rejection{Epoch: r.Epoch, RaterId: r.RaterID, DeclaredAt: timestamppb.New(r.DeclaredAt)})
	}
	return out
}

func settlementToProto(st ledger.FeedbackSettlement) *v1.FeedbackSettlement {
	out := &v1.FeedbackSettlement{
		TransactionId: st.TransactionID, Pool: st.Account, Epoch: st.Pool.Epoch, Cap: st.Cap,
		CountedTotal: st.CountedTotal, CreatedAt: timestamppb.New(st.CreatedAt),
	}
	for _, m := range st.Settled {
		out.Settled = append(out.Settled, money(m.Amount, m.Currency))
	}
	for _, r := range st.Raters {
		rs := &v1.RaterShare{RaterId: r.RaterID, IdentityKey: r.IdentityKey, Events: r.Events, Counted: r.Counted,
			Rejected: r.Rejected, ContributorId: r.ContributorID}
		for _, m := range r.Amounts {
			rs.Amounts = append(rs.Amounts, money(m.Amount, m.Currency))
		}
		out.Raters = append(out.Raters, rs)
	}
	return out
}
