package services_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/ledger"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
	"github.com/openroyalty/royalty/services"
)

// subject is the data a call is about: one provider's usage and one contributor's claim.
type subject struct {
	provider    principal
	usageTx     string
	usageReq    string
	contributor principal
	claimID     string
	// raterID is a rater of the provider that the contributor claims, with the claim's
	// challenge (AttestIdentity).
	raterID, raterChallenge string
	// linkRater is another rater of the provider, with a link code the provider made for it
	// (RedeemLinkCode).
	linkRater, linkCode string
}

// callers of the matrix: who calls, and whose data the call names.
const (
	anon             = "anonymous"
	providerOwn      = "provider/own"
	providerOther    = "provider/other"
	contributorOwn   = "contributor/own"
	contributorOther = "contributor/other"
	auditorAny       = "auditor"
	adminAny         = "admin"
)

var matrixCallers = []string{anon, providerOwn, providerOther, contributorOwn, contributorOther, auditorAny, adminAny}

// expect builds the expected codes of one RPC: def for every caller, then the overrides.
func expect(def codes.Code, overrides ...any) map[string]codes.Code {
	m := map[string]codes.Code{anon: codes.Unauthenticated}
	for _, c := range matrixCallers[1:] {
		m[c] = def
	}
	for i := 0; i < len(overrides); i += 2 {
		m[overrides[i].(string)] = overrides[i+1].(codes.Code)
	}
	return m
}

func drainExport(stream v1.AuditService_ExportJournalClient, err error) error {
	if err != nil {
		return err
	}
	for {
		if _, err := stream.Recv(); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// TestAuthorizationMatrix calls every RPC as every role, on the caller's own data and on another
// principal's, and asserts the exact status code.
func TestAuthorizationMatrix(t *testing.T) {
	e := newEnv(t)
	admin := e.principal("ops", auth.RoleAdmin)
	auditor := e.principal("audit", auth.RoleAuditor)
	p1, p2 := e.principal("p1", auth.RoleProvider), e.principal("p2", auth.RoleProvider)
	c1, c2 := e.principal("c1", auth.RoleContributor), e.principal("c2", auth.RoleContributor)
	e.ingest(admin, post("1", "ana", anaText), post("2", "bo", boText))

	mk := func(p principal, c principal, rid, identity string, approve bool) subject {
		u, err := e.provider.ReportUsage(p.ctx(), usageReq(rid, "1.00", anaText))
		if err != nil {
			t.Fatal(err)
		}
		cl, err := e.contributor.StartClaim(c.ctx(), &v1.StartClaimRequest{IdentityKey: identity})
		if err != nil {
			t.Fatal(err)
		}
		if approve {
			if _, err := e.admin.ApproveClaim(admin.ctx(), &v1.ApproveClaimRequest{ClaimId: cl.GetClaim().GetId()}); err != nil {
				t.Fatal(err)
			}
		}
		raterID := "rater-" + rid
		rc, err := e.contributor.StartClaim(c.ctx(), &v1.StartClaimRequest{IdentityKey: ledger.RaterIdentityKey(p.ID, raterID)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.feedback.DeclareTraining(p.ctx(), &v1.DeclareTrainingRequest{ModelVersion: "m", Epochs: []*v1.EpochWeight{{Epoch: "2026-11", Weight: "1"}}}); err != nil {
			t.Fatal(err)
		}
		lc, err := e.feedback.CreateLinkCode(p.ctx(), &v1.CreateLinkCodeRequest{RaterId: "link-" + rid})
		if err != nil {
			t.Fatal(err)
		}
		return subject{provider: p, usageTx: u.GetUsage().GetTransactionId(), usageReq: rid, contributor: c, claimID: cl.GetClaim().GetId(),
			raterID: raterID, raterChallenge: rc.GetClaim().GetChallenge(), linkRater: "link-" + rid, linkCode: lc.GetCode()}
	}
	own := mk(p1, c1, "m-1", "forum:s/ana", true) // c1 owns ana, who earned from m-1: c1 can be paid out
	other := mk(p2, c2, "m-2", "forum:s/nobody", false)
	// Money for c1's payout that the reversal of m-1 below does not take back.
	if _, err := e.provider.ReportUsage(p1.ctx(), usageReq("m-fund", "10", anaText)); err != nil {
		t.Fatal(err)
	}
	spareKey, err := e.admin.CreateApiKey(admin.ctx(), &v1.CreateApiKeyRequest{PrincipalId: p2.ID})
	if err != nil {
		t.Fatal(err)
	}
	toReject, err := e.contributor.StartClaim(c2.ctx(), &v1.StartClaimRequest{IdentityKey: "forum:s/reject-me"})
	if err != nil {
		t.Fatal(err)
	}
	// Inclusion proofs: a report that credits c1 (ana is c1's by now) and one that credits only
	// bo's escrow.
	credited, err := e.provider.ReportUsage(p1.ctx(), usageReq("m-c1", "1", anaText))
	if err != nil {
		t.Fatal(err)
	}
	notCredited, err := e.provider.ReportUsage(p2.ctx(), usageReq("m-bo", "1", boText))
	if err != nil {
		t.Fatal(err)
	}
	proofOf := func(s subject) string {
		if s.contributor.ID == c1.ID {
			return credited.GetUsage().GetTransactionId()
		}
		return notCredited.GetUsage().GetTransactionId()
	}
	e.seal()

	ok, denied, notFound := codes.OK, codes.PermissionDenied, codes.NotFound
	tests := []struct {
		method string
		call   func(ctx context.Context, s subject) error
		want   map[string]codes.Code
	}{
		{v1.IndexService_IngestPosts_FullMethodName, func(ctx context.Context, s subject) error {
			stream, err := e.index.IngestPosts(ctx)
			if err != nil {
				return err
			}
			if err := stream.Send(&v1.IngestPostsRequest{Posts: []*v1.Post{post("9", "zed", "A short post by zed about tyre pressure and rims.")}}); err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			_, err = stream.CloseAndRecv()
			return err
		}, expect(denied, adminAny, ok)},
		{v1.IndexService_SearchPosts_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.index.SearchPosts(ctx, &v1.SearchPostsRequest{Query: "chain"})
			return err
		}, expect(ok)},
		{v1.IndexService_GetPost_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.index.GetPost(ctx, &v1.GetPostRequest{PostId: "forum:s/1"})
			return err
		}, expect(ok)},
		{v1.AttributionService_Attribute_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.attribution.Attribute(ctx, &v1.AttributeRequest{ResponseText: anaText})
			return err
		}, expect(ok)},

		{v1.ProviderService_ReportUsage_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.provider.ReportUsage(ctx, usageReq("matrix-1", "0.50", boText))
			return err
		}, expect(denied, providerOwn, ok, providerOther, ok)},
		{v1.ProviderService_ReportUsageBatch_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.provider.ReportUsageBatch(ctx, &v1.ReportUsageBatchRequest{Reports: []*v1.ReportUsageRequest{usageReq("matrix-2", "0.50", boText)}})
			return err
		}, expect(denied, providerOwn, ok, providerOther, ok)},
		{v1.ProviderService_ReverseUsage_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.provider.ReverseUsage(ctx, &v1.ReverseUsageRequest{Target: &v1.ReverseUsageRequest_TransactionId{TransactionId: s.usageTx}, Reason: "matrix"})
			return err
		}, expect(denied, providerOwn, ok, providerOther, notFound)},
		{v1.ProviderService_GetUsage_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.provider.GetUsage(ctx, &v1.GetUsageRequest{Target: &v1.GetUsageRequest_TransactionId{TransactionId: s.usageTx}})
			return err
		}, expect(denied, providerOwn, ok, providerOther, notFound, auditorAny, ok, adminAny, ok)},

		{v1.ContributorService_RegisterContributor_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.contributor.RegisterContributor(ctx, &v1.RegisterContributorRequest{DisplayName: "new"})
			return err
		}, expect(denied, anon, ok, adminAny, ok)},
		{v1.ContributorService_StartClaim_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.contributor.StartClaim(ctx, &v1.StartClaimRequest{IdentityKey: "hn:/matrix"})
			return err
		}, expect(denied, contributorOwn, ok, contributorOther, ok)},
		// A link code is a bearer proof for the one identity it was made for: p1's code for its
		// rater links p1's identity (own) and nothing in p2's namespace (other).
		{v1.ContributorService_RedeemLinkCode_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.contributor.RedeemLinkCode(ctx, &v1.RedeemLinkCodeRequest{
				IdentityKey: ledger.RaterIdentityKey(s.provider.ID, s.linkRater), Code: own.linkCode})
			return err
		}, expect(denied, contributorOwn, ok, contributorOther, notFound)},
		{v1.ContributorService_CheckClaim_FullMethodName, func(ctx context.Context, s subject) error {
			// The matrix's server reads no profiles: the caller's own claim is verified already
			// (OK); another's reads as absent.
			_, err := e.contributor.CheckClaim(ctx, &v1.CheckClaimRequest{ClaimId: s.claimID})
			return err
		}, expect(denied, contributorOwn, ok, contributorOther, notFound)},
		{v1.ContributorService_GetClaim_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.contributor.GetClaim(ctx, &v1.GetClaimRequest{ClaimId: s.claimID})
			return err
		}, expect(denied, contributorOwn, ok, contributorOther, notFound, auditorAny, ok, adminAny, ok)},
		{v1.ContributorService_ListClaims_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.contributor.ListClaims(ctx, &v1.ListClaimsRequest{ContributorId: s.contributor.ID})
			return err
		}, expect(denied, contributorOwn, ok, auditorAny, ok, adminAny, ok)},
		{v1.ContributorService_GetBalance_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.contributor.GetBalance(ctx, &v1.GetBalanceRequest{ContributorId: s.contributor.ID})
			return err
		}, expect(denied, contributorOwn, ok, auditorAny, ok, adminAny, ok)},
		{v1.ContributorService_ListStatement_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.contributor.ListStatement(ctx, &v1.ListStatementRequest{ContributorId: s.contributor.ID})
			return err
		}, expect(denied, contributorOwn, ok, auditorAny, ok, adminAny, ok)},
		{v1.ContributorService_RequestPayout_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.contributor.RequestPayout(ctx, &v1.RequestPayoutRequest{RequestId: "matrix", Currency: "USD", ContributorId: s.contributor.ID})
			return err
		}, expect(denied, contributorOwn, ok)},

		{v1.AuditService_ExportJournal_FullMethodName, func(ctx context.Context, s subject) error {
			return drainExport(e.audit.ExportJournal(ctx, &v1.ExportJournalRequest{}))
		}, expect(denied, auditorAny, ok, adminAny, ok)},
		{v1.AuditService_GetTrialBalance_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.audit.GetTrialBalance(ctx, &v1.GetTrialBalanceRequest{})
			return err
		}, expect(denied, auditorAny, ok, adminAny, ok)},
		{v1.AuditService_VerifyJournal_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.audit.VerifyJournal(ctx, &v1.VerifyJournalRequest{})
			return err
		}, expect(denied, auditorAny, ok, adminAny, ok)},
		{v1.AuditService_GetPublicKey_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.audit.GetPublicKey(ctx, &v1.GetPublicKeyRequest{})
			return err
		}, expect(ok)},
		{v1.AuditService_ListCheckpoints_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.audit.ListCheckpoints(ctx, &v1.ListCheckpointsRequest{})
			return err
		}, expect(ok)},
		{v1.AuditService_GetLatestCheckpoint_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.audit.GetLatestCheckpoint(ctx, &v1.GetLatestCheckpointRequest{})
			return err
		}, expect(ok)},
		{v1.AuditService_GetInclusionProof_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.audit.GetInclusionProof(ctx, &v1.GetInclusionProofRequest{TransactionId: proofOf(s)})
			return err
		}, expect(denied, providerOwn, ok, providerOther, notFound, contributorOwn, ok, contributorOther, notFound, auditorAny, ok, adminAny, ok)},

		{v1.FeedbackService_ReportFeedback_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.feedback.ReportFeedback(ctx, &v1.ReportFeedbackRequest{RequestId: "matrix-f1", RaterId: "r1", Kind: v1.FeedbackKind_FEEDBACK_KIND_THUMBS_UP, ModelVersion: "m"})
			return err
		}, expect(denied, providerOwn, ok, providerOther, ok)},
		{v1.FeedbackService_ReportFeedbackBatch_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.feedback.ReportFeedbackBatch(ctx, &v1.ReportFeedbackBatchRequest{Events: []*v1.ReportFeedbackRequest{
				{RequestId: "matrix-f2", RaterId: "r1", Kind: v1.FeedbackKind_FEEDBACK_KIND_PREFERENCE, ModelVersion: "m"}}})
			return err
		}, expect(denied, providerOwn, ok, providerOther, ok)},
		{v1.FeedbackService_DeclareTraining_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.feedback.DeclareTraining(ctx, &v1.DeclareTrainingRequest{ModelVersion: "m", Epochs: []*v1.EpochWeight{{Epoch: "2026-11", Weight: "1"}}})
			return err
		}, expect(denied, providerOwn, ok, providerOther, ok)},
		{v1.FeedbackService_GetLineage_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.feedback.GetLineage(ctx, &v1.GetLineageRequest{ModelVersion: "m", ProviderId: s.provider.ID})
			return err
		}, expect(denied, providerOwn, ok, providerOther, notFound, auditorAny, ok, adminAny, ok)},
		{v1.FeedbackService_SetFeedbackRate_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.feedback.SetFeedbackRate(ctx, &v1.SetFeedbackRateRequest{ProviderId: s.provider.ID, FeedbackRate: "0.01"})
			return err
		}, expect(denied, adminAny, ok)},
		{v1.FeedbackService_SettleFeedback_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.feedback.SettleFeedback(ctx, &v1.SettleFeedbackRequest{})
			return err
		}, expect(denied, adminAny, ok)},
		// A provider attests only in its own namespace: p1 naming p2's rater reaches p1's
		// identity of that name, on which nobody has a claim.
		{v1.FeedbackService_AttestIdentity_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.feedback.AttestIdentity(ctx, &v1.AttestIdentityRequest{RaterId: s.raterID, Challenge: s.raterChallenge})
			return err
		}, expect(denied, providerOwn, ok, providerOther, notFound)},
		// A provider makes link codes only in its own namespace: the identity is built from its id.
		{v1.FeedbackService_CreateLinkCode_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.feedback.CreateLinkCode(ctx, &v1.CreateLinkCodeRequest{RaterId: s.raterID})
			return err
		}, expect(denied, providerOwn, ok, providerOther, ok)},

		{v1.AdminService_CreatePrincipal_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.admin.CreatePrincipal(ctx, &v1.CreatePrincipalRequest{Name: "x", Role: v1.Role_ROLE_AUDITOR})
			return err
		}, expect(denied, adminAny, ok)},
		{v1.AdminService_ListPrincipals_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.admin.ListPrincipals(ctx, &v1.ListPrincipalsRequest{})
			return err
		}, expect(denied, adminAny, ok)},
		{v1.AdminService_CreateApiKey_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.admin.CreateApiKey(ctx, &v1.CreateApiKeyRequest{PrincipalId: s.provider.ID})
			return err
		}, expect(denied, adminAny, ok)},
		{v1.AdminService_RevokeApiKey_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.admin.RevokeApiKey(ctx, &v1.RevokeApiKeyRequest{KeyId: spareKey.GetKey().GetId()})
			return err
		}, expect(denied, adminAny, ok)},
		{v1.AdminService_SetProviderAgreement_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.admin.SetProviderAgreement(ctx, &v1.SetProviderAgreementRequest{ProviderId: s.provider.ID, RoyaltyRate: "0.1"})
			return err
		}, expect(denied, adminAny, ok)},
		{v1.AdminService_ApproveClaim_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.admin.ApproveClaim(ctx, &v1.ApproveClaimRequest{ClaimId: s.claimID})
			return err
		}, expect(denied, adminAny, ok)},
		{v1.AdminService_RejectClaim_FullMethodName, func(ctx context.Context, s subject) error {
			_, err := e.admin.RejectClaim(ctx, &v1.RejectClaimRequest{ClaimId: toReject.GetClaim().GetId()})
			return err
		}, expect(denied, adminAny, ok)},
	}

	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.method] = true
	}
	for _, m := range services.PolicyMethods() {
		if !covered[m] {
			t.Errorf("the matrix does not cover %s", m)
		}
	}

	callerCtx := func(c string) (context.Context, subject) {
		switch c {
		case providerOwn:
			return p1.ctx(), own
		case providerOther:
			return p1.ctx(), other
		case contributorOwn:
			return c1.ctx(), own
		case contributorOther:
			return c1.ctx(), other
		case auditorAny:
			return auditor.ctx(), own
		case adminAny:
			return admin.ctx(), own
		}
		return metadata.NewOutgoingContext(context.Background(), metadata.MD{}), own
	}
	for _, tt := range tests {
		for _, c := range matrixCallers {
			t.Run(tt.method+"/"+c, func(t *testing.T) {
				ctx, s := callerCtx(c)
				err := tt.call(ctx, s)
				if got := status.Code(err); got != tt.want[c] {
					t.Fatalf("%s as %s: code %v (%v), want %v", tt.method, c, got, err, tt.want[c])
				}
			})
		}
	}
}
