package services_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openroyalty/royalty/auth"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// TestFailurePaths checks the failure of every RPC that has one beyond authorization: the exact
// code, and a message that names the offending field.
func TestFailurePaths(t *testing.T) {
	e := newEnv(t)
	admin := e.principal("ops", auth.RoleAdmin)
	auditor := e.principal("audit", auth.RoleAuditor)
	acme := e.principal("acme", auth.RoleProvider)
	ana := e.principal("ana", auth.RoleContributor)
	const unknown = "6f1c1f5e-1111-4111-8111-111111111111"
	tests := []struct {
		name  string
		call  func() error
		code  codes.Code
		field string // the message starts with it, when set
	}{
		{"SearchPosts without words or filter", func() error {
			_, err := e.index.SearchPosts(ana.ctx(), &v1.SearchPostsRequest{})
			return err
		}, codes.InvalidArgument, "query"},
		{"GetPost unknown", func() error {
			_, err := e.index.GetPost(ana.ctx(), &v1.GetPostRequest{PostId: "forum:s/404"})
			return err
		}, codes.NotFound, ""},
		{"Attribute empty", func() error {
			_, err := e.attribution.Attribute(acme.ctx(), &v1.AttributeRequest{})
			return err
		}, codes.InvalidArgument, "response_text"},
		{"GetUsage without a target", func() error {
			_, err := e.provider.GetUsage(acme.ctx(), &v1.GetUsageRequest{})
			return err
		}, codes.InvalidArgument, "transaction_id"},
		{"GetUsage by request id as auditor without provider", func() error {
			_, err := e.provider.GetUsage(auditor.ctx(), &v1.GetUsageRequest{Target: &v1.GetUsageRequest_RequestId{RequestId: "r"}})
			return err
		}, codes.InvalidArgument, "provider_id"},
		{"GetUsage naming another provider", func() error {
			_, err := e.provider.GetUsage(acme.ctx(), &v1.GetUsageRequest{Target: &v1.GetUsageRequest_RequestId{RequestId: "r"}, ProviderId: unknown})
			return err
		}, codes.PermissionDenied, "provider_id"},
		{"GetUsage malformed transaction id", func() error {
			_, err := e.provider.GetUsage(acme.ctx(), &v1.GetUsageRequest{Target: &v1.GetUsageRequest_TransactionId{TransactionId: "x"}})
			return err
		}, codes.InvalidArgument, "transaction_id"},
		{"GetClaim unknown", func() error {
			_, err := e.contributor.GetClaim(ana.ctx(), &v1.GetClaimRequest{ClaimId: unknown})
			return err
		}, codes.NotFound, "claim_id"},
		{"ListClaims bad page token", func() error {
			_, err := e.contributor.ListClaims(ana.ctx(), &v1.ListClaimsRequest{PageToken: "%%"})
			return err
		}, codes.InvalidArgument, "page_token"},
		{"ListStatement bad page token", func() error {
			_, err := e.contributor.ListStatement(ana.ctx(), &v1.ListStatementRequest{PageToken: "%%"})
			return err
		}, codes.InvalidArgument, "page_token"},
		{"RequestPayout bad currency", func() error {
			_, err := e.contributor.RequestPayout(ana.ctx(), &v1.RequestPayoutRequest{RequestId: "p", Currency: "usd"})
			return err
		}, codes.InvalidArgument, "currency"},
		{"RequestPayout with nothing available", func() error {
			_, err := e.contributor.RequestPayout(ana.ctx(), &v1.RequestPayoutRequest{RequestId: "p", Currency: "USD"})
			return err
		}, codes.FailedPrecondition, ""},
		{"CreatePrincipal without role", func() error {
			_, err := e.admin.CreatePrincipal(admin.ctx(), &v1.CreatePrincipalRequest{Name: "x"})
			return err
		}, codes.InvalidArgument, "role"},
		{"CreatePrincipal without name", func() error {
			_, err := e.admin.CreatePrincipal(admin.ctx(), &v1.CreatePrincipalRequest{Role: v1.Role_ROLE_ADMIN})
			return err
		}, codes.InvalidArgument, "name"},
		{"ListPrincipals bad page token", func() error {
			_, err := e.admin.ListPrincipals(admin.ctx(), &v1.ListPrincipalsRequest{PageToken: "%%"})
			return err
		}, codes.InvalidArgument, "page_token"},
		{"CreateApiKey unknown principal", func() error {
			_, err := e.admin.CreateApiKey(admin.ctx(), &v1.CreateApiKeyRequest{PrincipalId: unknown})
			return err
		}, codes.NotFound, "principal_id"},
		{"SetProviderAgreement unknown provider", func() error {
			_, err := e.admin.SetProviderAgreement(admin.ctx(), &v1.SetProviderAgreementRequest{ProviderId: "nope", RoyaltyRate: "0.1"})
			return err
		}, codes.NotFound, "provider_id"},
		{"RevokeApiKey unknown key", func() error {
			_, err := e.admin.RevokeApiKey(admin.ctx(), &v1.RevokeApiKeyRequest{KeyId: unknown})
			return err
		}, codes.NotFound, "key_id"},
		{"SetProviderAgreement rate above 1", func() error {
			_, err := e.admin.SetProviderAgreement(admin.ctx(), &v1.SetProviderAgreementRequest{ProviderId: acme.ID, RoyaltyRate: "1.5"})
			return err
		}, codes.InvalidArgument, "royalty_rate"},
		{"SetProviderAgreement for a contributor", func() error {
			_, err := e.admin.SetProviderAgreement(admin.ctx(), &v1.SetProviderAgreementRequest{ProviderId: ana.ID, RoyaltyRate: "0.1"})
			return err
		}, codes.NotFound, "provider_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			wantCode(t, err, tt.code)
			if msg := status.Convert(err).Message(); tt.field != "" && !strings.HasPrefix(msg, tt.field) {
				t.Fatalf("message %q does not name %s", msg, tt.field)
			}
		})
	}

	t.Run("ListPrincipals pages", func(t *testing.T) {
		var names []string
		token := ""
		for range 10 {
			r, err := e.admin.ListPrincipals(admin.ctx(), &v1.ListPrincipalsRequest{PageSize: 2, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range r.GetPrincipals() {
				names = append(names, p.GetName())
			}
			if token = r.GetNextPageToken(); token == "" {
				break
			}
		}
		if strings.Join(names, ",") != "ops,audit,acme,ana" {
			t.Fatalf("principals = %v", names)
		}
		r, err := e.admin.ListPrincipals(admin.ctx(), &v1.ListPrincipalsRequest{Role: v1.Role_ROLE_PROVIDER})
		if err != nil || len(r.GetPrincipals()) != 1 || r.GetPrincipals()[0].GetId() != acme.ID {
			t.Fatalf("providers = %v, %v", r, err)
		}
	})
	t.Run("CreatePrincipal returns a working key", func(t *testing.T) {
		r, err := e.admin.CreatePrincipal(admin.ctx(), &v1.CreatePrincipalRequest{Name: "beta", Role: v1.Role_ROLE_PROVIDER})
		if err != nil || !strings.HasPrefix(r.GetApiKey(), "rty_") || r.GetKey().GetPrefix() != r.GetApiKey()[:12] {
			t.Fatalf("CreatePrincipal = %v, %v", r, err)
		}
		beta := principal{Principal: auth.Principal{ID: r.GetPrincipal().GetId()}, key: r.GetApiKey()}
		_, err = e.provider.GetUsage(beta.ctx(), &v1.GetUsageRequest{Target: &v1.GetUsageRequest_RequestId{RequestId: "none"}})
		wantCode(t, err, codes.NotFound) // authenticated as the new provider; it has booked nothing
	})
}
