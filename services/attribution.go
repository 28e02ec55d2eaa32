package services

import (
	"context"
	"math/big"
	"strings"

	"github.com/openroyalty/royalty/attribution"
	"github.com/openroyalty/royalty/indexer"
	royaltyv1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// Attributor is what the attribution handlers need; *attribution.Attributor implements it.
// ReportUsage calls the same method before it books, so that a dry run and a booking agree.
type Attributor interface {
	Attribute(ctx context.Context, response string) (*attribution.Result, error)
}

// AttributionService implements royalty.v1.AttributionService.
type AttributionService struct {
	royaltyv1.UnimplementedAttributionServiceServer
	attributor Attributor
}

// NewAttributionService returns the handler of royalty.v1.AttributionService.
func NewAttributionService(a Attributor) *AttributionService {
	return &AttributionService{attributor: a}
}

// Attribute implements royalty.v1.AttributionService: a dry run that books nothing.
func (s *AttributionService) Attribute(ctx context.Context, req *royaltyv1.AttributeRequest) (*royaltyv1.AttributeResponse, error) {
	res, err := s.attributor.Attribute(ctx, req.GetResponseText())
	if err != nil {
		return nil, toStatus(err)
	}
	return attributeResponse(res), nil
}

func attributeResponse(res *attribution.Result) *royaltyv1.AttributeResponse {
	out := &royaltyv1.AttributeResponse{
		ResponseWords:     uint32(res.ResponseWords),
		UnattributedShare: displayDecimal(res.Unattributed),
		Evidence:          evidenceProto(res.Evidence),
		Algorithm:         res.Algorithm,
	}
	for _, sh := range res.Shares {
		out.Shares = append(out.Shares, &royaltyv1.AuthorShare{
			Identity:      identityProto(sh.AuthorKey),
			Share:         displayDecimal(sh.Share),
			CreditedWords: displayDecimal(sh.Words),
		})
	}
	return out
}

// evidenceProto converts evidence spans; ReportUsage returns them with the booked usage.
func evidenceProto(spans []attribution.Span) []*royaltyv1.EvidenceSpan {
	out := make([]*royaltyv1.EvidenceSpan, len(spans))
	for i, e := range spans {
		out[i] = &royaltyv1.EvidenceSpan{
			IdentityKey:       e.AuthorKey,
			PostId:            e.PostID,
			PostUrl:           e.PostURL,
			ResponseStart:     uint32(e.ResponseStart),
			ResponseEnd:       uint32(e.ResponseEnd),
			ResponseWordStart: uint32(e.ResponseWordStart),
			ResponseWordEnd:   uint32(e.ResponseWordEnd),
			SourceStart:       uint32(e.SourceStart),
			SourceEnd:         uint32(e.SourceEnd),
			Text:              e.Text,
		}
	}
	return out
}

// identityProto fills an Identity from its key alone; display name, profile and contributor
// live in the identities table, which attribution does not read.
func identityProto(key string) *royaltyv1.Identity {
	id := &royaltyv1.Identity{Key: key}
	if platform, site, authorID, err := indexer.ParseKey(key); err == nil {
		id.Platform, id.Site, id.AuthorId = platform, site, authorID
	}
	return id
}

// displayDecimal renders an exact fraction as a decimal string rounded to 12 places (halves
// away from zero), without trailing zeros: "0.25", "1", "0.333333333333". It is for display;
// the ledger splits money with the exact value.
func displayDecimal(r *big.Rat) string {
	s := r.FloatString(12)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}
