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

// IndexGate says whether the index the attributor reads is fit to book usage against, and
// which version of it that is; indexer.Readiness implements it (through cmd/wire).
type IndexGate interface {
	// Ready returns the index's version, or why no report may be attributed now:
	// EPRECONDITION (empty or stale; the message names the fix) or EUNAVAILABLE (catching up).
	Ready(ctx context.Context) (ledger.IndexVersion, error)
}

// MaxBatch is the most reports one ReportBatch call may carry.
const MaxBatch = ledger.MaxBatch

// Service books usage reports. It is safe for concurrent use by multiple goroutines.
type Service struct {
	ledger ledger.Ledger
	attr   Attributor
	lim    Limits
	gate   IndexGate
}

// NewService returns a Service booking into l what attr attributes.
func NewService(l ledger.Ledger, attr Attributor, lim Limits) *Service {
	return &Service{ledger: l, attr: attr, lim: lim}
}

// WithIndexGate makes s ask g before it attributes a report, refusing every report while the
// index is not ready, and record the index's version with each booking; it returns s. Call it
// before s is used. Without a gate every report is attributed against the index as it is.
func (s *Service) WithIndexGate(g IndexGate) *Service {
	s.gate = g
	return s
}

// indexVersion asks the gate, if there is one, whether reports may be attributed now.
func (s *Service) indexVersion(ctx context.Context) (*ledger.IndexVersion, error) {
	if s.gate == nil {
		return nil, nil
	}
	v, err := s.gate.Ready(ctx)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// Report validates a report, attributes the response and books it in one ledger transaction
// that keeps the evidence; if the provider booked the same request id with the same payload
// before, the ledger returns the original result instead (Replayed). Retries and concurrent
// duplicates book once: the ledger's unique key decides, and every caller gets the booked
// usage. The key is not read before booking (the booking's insert finds it taken), which
// saves a round trip on every new report; a replay costs an attribution instead.
// A report that was not booked before is refused, and nothing is written, while the index
// gate says the index is not ready; the original result of one that was is still returned.
// Errors: EINVALID (naming the field), ENOTFOUND (not a provider), ECONFLICT (the request id was
// booked with a different payload), EPRECONDITION and EUNAVAILABLE from the index gate, and
// the context's error when it ends first.
func (s *Service) Report(ctx context.Context, r Report) (ledger.UsageResult, error) {
	v, err := r.Validate("", s.lim)
	if err != nil {
		return ledger.UsageResult{}, err
	}
	index, err := s.indexVersion(ctx)
	if err != nil {
		return s.replayOr(ctx, v, err)
	}
	req, err := s.prepare(ctx, "", v)
	if err != nil {
		return s.replayOr(ctx, v, err)
	}
	req.Index = index
	return s.ledger.PostUsage(ctx, req)
}

// replayOr returns the usage booked under the report's key (or ECONFLICT when it was booked
// with another payload), and err when the key was not booked.
func (s *Service) replayOr(ctx context.Context, v Validated, err error) (ledger.UsageResult, error) {
	u, ok, rerr := s.replay(ctx, v)
	switch {
	case ok:
		return ledger.UsageResult{Usage: u, Replayed: true}, nil
	case royalty.ErrorCode(rerr) == royalty.ECONFLICT:
		return ledger.UsageResult{}, rerr
	}
	return ledger.UsageResult{}, err
}

// ReportBatch books many reports in one database transaction, all or nothing, and returns one
// result per report in order; the whole batch is refused while the index gate says the index
// is not ready. Errors name the report's index ("reports[3].revenue: …").
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
	index, err := s.indexVersion(ctx)
	if err != nil {
		return nil, err
	}
	reqs := make([]ledger.UsageRequest, len(vs))
	for i, v := range vs {
		req, err := s.prepare(ctx, fmt.Sprintf("reports[%d].", i), v)
		if err != nil {
			return nil, err
		}
		req.Index = index
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
		Algorithm: res.Algorithm, RequestHash: v.Hash, Response: v.ResponseText,
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
