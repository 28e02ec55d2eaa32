package usage

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/attribution"
	"github.com/openroyalty/royalty/ledger"
)

// Attributor says who wrote the words of a response; *attribution.Attributor implements it.
type Attributor interface {
	Attribute(ctx context.Context, response string) (*attribution.Result, error)
}

// MaxBatch is the most reports one ReportBatch call may carry.
const MaxBatch = ledger.MaxBatch

// Service books usage reports. It is safe for concurrent use by multiple goroutines.
type Service struct {
	ledger ledger.Ledger
	attr   Attributor
	lim    Limits
}

// NewService returns a Service booking into l what attr attributes.
func NewService(l ledger.Ledger, attr Attributor, lim Limits) *Service {
	return &Service{ledger: l, attr: attr, lim: lim}
}

// Report validates a report, returns the original result if the provider booked the same
// request id with the same payload before, and otherwise attributes the response and books it
// in one ledger transaction that keeps the evidence. Retries and concurrent duplicates book once:
// the ledger's unique key decides, and every caller gets the booked usage.
// Errors: EINVALID (naming the field), ENOTFOUND (not a provider), ECONFLICT (the request id was
// booked with a different payload), and the context's error when it ends first.
func (s *Service) Report(ctx context.Context, r Report) (ledger.UsageResult, error) {
	v, err := r.Validate("", s.lim)
	if err != nil {
		return ledger.UsageResult{}, err
	}
	if u, ok, err := s.replay(ctx, v); err != nil || ok {
		return ledger.UsageResult{Usage: u, Replayed: ok}, err
	}
	req, err := s.prepare(ctx, "", v)
	if err != nil {
		return ledger.UsageResult{}, err
	}
	return s.ledger.PostUsage(ctx, req)
}

// ReportBatch books many reports in one database transaction, all or nothing, and returns one
// result per report in order. Errors name the report's index ("reports[3].revenue: …").
func (s *Service) ReportBatch(ctx context.Context, rs []Report) ([]ledger.UsageResult, error) {
	switch {
	case len(rs) == 0:
		return nil, royalty.FieldErrorf(royalty.EINVALID, "reports", "must not be empty")
	case len(rs) > MaxBatch:
		return nil, royalty.FieldErrorf(royalty.EINVALID, "reports", "%d reports, at most %d per batch", len(rs), MaxBatch)
	}
	vs := make([]Validated, len(rs))
	for i, r := range rs {
		v, err := r.Validate(fmt.Sprintf("reports[%d].", i), s.lim)
		if err != nil {
			return nil, err
		}
		vs[i] = v
	}
	reqs := make([]ledger.UsageRequest, len(vs))
	for i, v := range vs {
		req, err := s.prepare(ctx, fmt.Sprintf("reports[%d].", i), v)
		if err != nil {
			return nil, err
		}
		reqs[i] = req
	}
	return s.ledger.PostUsageBatch(ctx, reqs)
}

// replay returns the usage booked under the report's key when its payload is the same.
func (s *Service) replay(ctx context.Context, v Validated) (ledger.Usage, bool, error) {
	u, err := s.ledger.ReplayUsage(ctx, v.ProviderID, v.RequestID, v.Hash)
	switch royalty.ErrorCode(err) {
	case "":
		return u, true, nil
	case royalty.ENOTFOUND:
		return ledger.Usage{}, false, nil
	case royalty.ECONFLICT:
		return ledger.Usage{}, false, royalty.FieldErrorf(royalty.ECONFLICT, "request_id",
			"%q was reported before with a different payload", v.RequestID)
	}
	return ledger.Usage{}, false, err
}

// prepare attributes the response and builds the ledger request.
func (s *Service) prepare(ctx context.Context, prefix string, v Validated) (ledger.UsageRequest, error) {
	res, err := s.attr.Attribute(ctx, v.ResponseText)
	if err != nil {
		var e *royalty.Error
		if prefix != "" && errors.As(err, &e) && e.Field != "" {
			return ledger.UsageRequest{}, royalty.FieldErrorf(e.Code, prefix+e.Field, "%s", strings.TrimPrefix(e.Message, e.Field+": "))
		}
		return ledger.UsageRequest{}, err
	}
	req := ledger.UsageRequest{
		ProviderID: v.ProviderID, RequestID: v.RequestID, ModelID: v.ModelID, ModelVersionHash: v.ModelVersionHash,
		InputTokens: v.InputTokens, OutputTokens: v.OutputTokens, Revenue: v.Amount, Currency: v.Currency,
		Algorithm: res.Algorithm, RequestHash: v.Hash,
	}
	for _, sh := range res.Shares {
		req.Shares = append(req.Shares, ledger.Share{IdentityKey: sh.AuthorKey, Share: sh.Share, Words: sh.Words})
	}
	for _, e := range res.Evidence {
		req.Evidence = append(req.Evidence, ledger.Evidence{
			IdentityKey: e.AuthorKey, PostID: e.PostID, PostURL: e.PostURL,
			ResponseStart: e.ResponseStart, ResponseEnd: e.ResponseEnd,
			ResponseWordStart: e.ResponseWordStart, ResponseWordEnd: e.ResponseWordEnd,
			SourceStart: e.SourceStart, SourceEnd: e.SourceEnd, Text: e.Text,
		})
	}
	return req, nil
}
