package services_test

import (
	"regexp"
	"testing"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/openroyalty/royalty/auth"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// fieldMessage is how an INVALID_ARGUMENT message starts: the offending field's path.
var fieldMessage = regexp.MustCompile(`^[a-z_]+(\[\d+\])?(\.[a-z_]+(\[\d+\])?)*: `)

// FuzzRequestValidation sends fuzzed fields through the real server to the RPCs whose requests
// carry free text and amounts beyond usage reports (FuzzValidate in package usage covers
// those): RequestPayout, ReverseUsage, SetProviderAgreement and SearchPosts. Whatever the
// input, the answer is a result or a client error (never INTERNAL or UNKNOWN), an
// INVALID_ARGUMENT names its field, and an error leaves the books as they were. Strings that
// are not UTF-8 are left out: a conforming client cannot send them in a proto string field
// (TestHostile sends such bytes raw).
func FuzzRequestValidation(f *testing.F) {
	e := newEnv(f)
	admin := e.principal("ops", auth.RoleAdmin)
	acme := e.principal("acme", auth.RoleProvider)
	ana := e.principal("ana", auth.RoleContributor)
	for _, seed := range []struct {
		op      uint8
		a, b, c string
	}{
		{0, "USD", "10.00", "payout-1"}, {0, "usd", "1e3", "p"}, {0, "XXX", "-1", ""}, {0, "USD", "0.001", "=cmd|' /C calc'!A0"},
		{0, "EUR", "NaN", "'; DROP TABLE ledger_postings; --"}, {0, "JPY", "1.5", "p"}, {0, "USD", "99999999999999999999999999999", "p"},
		{1, "6f1c1f5e-1111-4111-8111-111111111111", "refund", ""}, {1, "", "", "r"}, {1, "not-a-uuid", "x", ""},
		{2, "", "0.2", ""}, {2, "1.5", "-0.1", ""}, {2, "0.1234567890123", "Infinity", ""},
		{3, "chain lube", "forum:s/ana", "s"}, {3, "", "", ""}, {3, "\"unterminated", "@SUM(A1)", "+1"},
	} {
		f.Add(seed.op, seed.a, seed.b, seed.c)
	}
	f.Fuzz(func(t *testing.T, op uint8, a, b, c string) {
		if !utf8.ValidString(a) || !utf8.ValidString(b) || !utf8.ValidString(c) {
			return
		}
		before, err := e.audit.GetTrialBalance(admin.ctx(), &v1.GetTrialBalanceRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var name string
		switch op % 4 {
		case 0:
			name = "RequestPayout"
			_, err = e.contributor.RequestPayout(ana.ctx(), &v1.RequestPayoutRequest{Currency: a, Amount: b, RequestId: c})
		case 1:
			name = "ReverseUsage"
			req := &v1.ReverseUsageRequest{Reason: b}
			if c == "" {
				req.Target = &v1.ReverseUsageRequest_TransactionId{TransactionId: a}
			} else {
				req.Target = &v1.ReverseUsageRequest_RequestId{RequestId: a + c}
			}
			_, err = e.provider.ReverseUsage(acme.ctx(), req)
		case 2:
			name = "SetProviderAgreement"
			provider := acme.ID
			if a != "" {
				provider = a
			}
			_, err = e.admin.SetProviderAgreement(admin.ctx(), &v1.SetProviderAgreementRequest{ProviderId: provider, RoyaltyRate: b})
		default:
			name = "SearchPosts"
			_, err = e.index.SearchPosts(ana.ctx(), &v1.SearchPostsRequest{Query: a, Author: b, Site: c, PageToken: c})
		}
		if err == nil {
			return
		}
		st := status.Convert(err)
		switch st.Code() {
		case codes.InvalidArgument:
			if !fieldMessage.MatchString(st.Message()) {
				t.Fatalf("%s(%q, %q, %q): INVALID_ARGUMENT %q names no field", name, a, b, c, st.Message())
			}
		case codes.NotFound, codes.FailedPrecondition, codes.PermissionDenied, codes.AlreadyExists, codes.ResourceExhausted:
		default:
			t.Fatalf("%s(%q, %q, %q): %v %q", name, a, b, c, st.Code(), st.Message())
		}
		after, err := e.audit.GetTrialBalance(admin.ctx(), &v1.GetTrialBalanceRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if after.GetPostings() != before.GetPostings() {
			t.Fatalf("%s(%q, %q, %q) failed with %v but the books went from %d to %d postings", name, a, b, c, st.Code(), before.GetPostings(), after.GetPostings())
		}
	})
}
