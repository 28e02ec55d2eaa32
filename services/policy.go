package services

import (
	"context"
	"slices"
	"strings"

	grpcauth "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openroyalty/royalty/auth"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// rule says who may call one method.
type rule struct {
	roles []auth.Role
	// anonymous methods may also be called without a key (a key, when sent, must be valid and
	// its role listed).
	anonymous bool
}

var (
	anyRole     = []auth.Role{auth.RoleProvider, auth.RoleContributor, auth.RoleAuditor, auth.RoleAdmin}
	readers     = []auth.Role{auth.RoleAuditor, auth.RoleAdmin}
	adminOnly   = []auth.Role{auth.RoleAdmin}
	provider    = []auth.Role{auth.RoleProvider}
	contributor = []auth.Role{auth.RoleContributor}
)

// policy is the one table of who may call what, checked before any handler runs. A method that
// is missing from it is denied to everyone (TestEveryMethodHasAPolicy keeps it complete).
// Whose data a caller may touch (own versus other principals') is decided by package access,
// which the handlers call.
var policy = map[string]rule{
	v1.IndexService_IngestPosts_FullMethodName: {roles: adminOnly},
	v1.IndexService_SearchPosts_FullMethodName: {roles: anyRole},
	v1.IndexService_GetPost_FullMethodName:     {roles: anyRole},

	v1.AttributionService_Attribute_FullMethodName: {roles: anyRole},

	v1.ProviderService_ReportUsage_FullMethodName:      {roles: provider},
	v1.ProviderService_ReportUsageBatch_FullMethodName: {roles: provider},
	v1.ProviderService_ReverseUsage_FullMethodName:     {roles: provider},
	v1.ProviderService_GetUsage_FullMethodName:         {roles: append(slices.Clone(provider), readers...)},

	v1.ContributorService_RegisterContributor_FullMethodName: {roles: adminOnly, anonymous: true},
	v1.ContributorService_StartClaim_FullMethodName:          {roles: contributor},
	v1.ContributorService_CheckClaim_FullMethodName:          {roles: contributor},
	v1.ContributorService_RedeemLinkCode_FullMethodName:      {roles: contributor},
	v1.ContributorService_GetClaim_FullMethodName:            {roles: append(slices.Clone(contributor), readers...)},
	v1.ContributorService_ListClaims_FullMethodName:          {roles: append(slices.Clone(contributor), readers...)},
	v1.ContributorService_GetBalance_FullMethodName:          {roles: append(slices.Clone(contributor), readers...)},
	v1.ContributorService_ListStatement_FullMethodName:       {roles: append(slices.Clone(contributor), readers...)},
	v1.ContributorService_RequestPayout_FullMethodName:       {roles: contributor},

	v1.AuditService_ExportJournal_FullMethodName:   {roles: readers},
	v1.AuditService_GetTrialBalance_FullMethodName: {roles: readers},
	v1.AuditService_VerifyJournal_FullMethodName:   {roles: readers},
	// The public key and the checkpoints are what anyone holding an export or a proof checks it
	// against; a contributor proves its own credits (the handler hides other transactions).
	v1.AuditService_GetPublicKey_FullMethodName:        {roles: anyRole},
	v1.AuditService_ListCheckpoints_FullMethodName:     {roles: anyRole},
	v1.AuditService_GetLatestCheckpoint_FullMethodName: {roles: anyRole},
	v1.AuditService_GetInclusionProof_FullMethodName:   {roles: append(append(slices.Clone(contributor), provider...), readers...)},

	v1.FeedbackService_ReportFeedback_FullMethodName:      {roles: provider},
	v1.FeedbackService_ReportFeedbackBatch_FullMethodName: {roles: provider},
	v1.FeedbackService_DeclareTraining_FullMethodName:     {roles: provider},
	v1.FeedbackService_GetLineage_FullMethodName:          {roles: append(slices.Clone(provider), readers...)},
	v1.FeedbackService_SetFeedbackRate_FullMethodName:     {roles: adminOnly},
	v1.FeedbackService_SettleFeedback_FullMethodName:      {roles: adminOnly},
	// A provider attests only its own raters: the handler builds the identity from its id.
	v1.FeedbackService_AttestIdentity_FullMethodName: {roles: provider},
	v1.FeedbackService_CreateLinkCode_FullMethodName: {roles: provider},

	v1.AdminService_CreatePrincipal_FullMethodName:      {roles: adminOnly},
	v1.AdminService_ListPrincipals_FullMethodName:       {roles: adminOnly},
	v1.AdminService_CreateApiKey_FullMethodName:         {roles: adminOnly},
	v1.AdminService_RevokeApiKey_FullMethodName:         {roles: adminOnly},
	v1.AdminService_SetProviderAgreement_FullMethodName: {roles: adminOnly},
	v1.AdminService_ApproveClaim_FullMethodName:         {roles: adminOnly},
	v1.AdminService_RejectClaim_FullMethodName:          {roles: adminOnly},
}

// openServices need no key at all: load balancers and tools such as grpcurl use them.
var openServices = []string{
	"/grpc.health.v1.Health/",
	"/grpc.reflection.v1.ServerReflection/",
	"/grpc.reflection.v1alpha.ServerReflection/",
}

func isOpen(fullMethod string) bool {
	for _, prefix := range openServices {
		if strings.HasPrefix(fullMethod, prefix) {
			return true
		}
	}
	return false
}

// authenticator checks the caller's key and the policy, and puts the principal in the context.
type authenticator struct {
	store auth.Store
}

// authenticate runs in the gate (limits.go) before the call's message is read. A call that came
// through the HTTP front (http.go) was judged there, before its body was read: its verdict is
// taken as it is.
func (a authenticator) authenticate(ctx context.Context) (context.Context, error) {
	if v, ok := ctx.Value(preGated{}).(*preVerdict); ok {
		if v.err != nil {
			return nil, v.err
		}
		return ctx, nil
	}
	method, _ := grpc.Method(ctx)
	token, err := grpcauth.AuthFromMD(ctx, "bearer")
	if err != nil {
		token = ""
	}
	return a.check(ctx, method, token)
}

// check authenticates token ("" when the call carries no bearer key) for method and checks the
// caller's role against the policy; the returned context carries the principal, none for an
// anonymous call.
func (a authenticator) check(ctx context.Context, method, token string) (context.Context, error) {
	r, known := policy[method]
	if token == "" {
		if known && r.anonymous {
			return ctx, nil
		}
		return nil, errMissingKey
	}
	p, err := a.store.Authenticate(ctx, token)
	if err != nil {
		return nil, toStatus(err)
	}
	if !known {
		return nil, status.Errorf(codes.PermissionDenied, "%s is not open to any role", method)
	}
	if !slices.Contains(r.roles, p.Role) {
		return nil, status.Errorf(codes.PermissionDenied, "role %s may not call %s", p.Role, method)
	}
	return auth.WithPrincipal(ctx, p), nil
}

// caller returns the authenticated principal; the zero Principal for anonymous calls.
func caller(ctx context.Context) auth.Principal {
	p, _ := auth.FromContext(ctx)
	return p
}
