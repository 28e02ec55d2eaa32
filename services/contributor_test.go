package services_test

import (
	"context"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/ledger"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// ingest sends posts through IndexService.IngestPosts as admin and checks none was rejected.
func (e *env) ingest(admin principal, posts ...*v1.Post) {
	e.t.Helper()
	stream, err := e.index.IngestPosts(admin.ctx())
	if err != nil {
		e.t.Fatal(err)
	}
	if err := stream.Send(&v1.IngestPostsRequest{Posts: posts}); err != nil {
		e.t.Fatal(err)
	}
	sum, err := stream.CloseAndRecv()
	if err != nil || sum.GetRejected() != 0 {
		e.t.Fatalf("ingest = %v, %v", sum, err)
	}
}

func post(id, author, text string) *v1.Post {
	return &v1.Post{
		Id: "forum:s/" + id, Platform: "forum", Site: "s", Kind: v1.PostKind_POST_KIND_ARTICLE,
		Author:    &v1.Identity{Platform: "forum", Site: "s", AuthorId: author, DisplayName: author},
		CreatedAt: timestamppb.New(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)), Url: "https://s.example/" + id, Text: text,
	}
}

// bookEscrow books a usage report straight into the ledger that credits identity, so that an
// identity has money waiting before anyone claims it.
func (e *env) bookEscrow(provider principal, requestID, identity, revenue string) ledger.Usage {
	e.t.Helper()
	res, err := e.ledger.PostUsage(context.Background(), ledger.UsageRequest{
		ProviderID: provider.ID, RequestID: requestID, ModelID: "m", Revenue: decimal.RequireFromString(revenue), Currency: "USD",
		Shares: []ledger.Share{{IdentityKey: identity, Share: big.NewRat(1, 2)}},
		Evidence: []ledger.Evidence{{IdentityKey: identity, PostID: "forum:s/" + requestID, PostURL: "https://forum.example/" + requestID,
			ResponseStart: 0, ResponseEnd: 23, ResponseWordEnd: 4, SourceEnd: 23, Text: "wipe the chain with rag"}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return res.Usage
}

func TestClaimVerifiedByIngestedPostReleasesEscrow(t *testing.T) {
	e := newEnv(t)
	admin := e.principal("ops", auth.RoleAdmin)
	acme := e.principal("acme", auth.RoleProvider)
	auditor := e.principal("audit", auth.RoleAuditor)
	const identity = "forum:s/ana"
	e.bookEscrow(acme, "r1", identity, "2") // royalty 0.2 at the default rate, half to ana's escrow

	reg, err := e.contributor.RegisterContributor(context.Background(), &v1.RegisterContributorRequest{DisplayName: "Ana Ruiz"})
	if err != nil {
		t.Fatal(err)
	}
	ana := principal{Principal: auth.Principal{ID: reg.GetContributor().GetId(), Role: auth.RoleContributor}, key: reg.GetApiKey()}
	sc, err := e.contributor.StartClaim(ana.ctx(), &v1.StartClaimRequest{IdentityKey: identity})
	if err != nil {
		t.Fatal(err)
	}
	c := sc.GetClaim()
	if c.GetStatus() != v1.ClaimStatus_CLAIM_STATUS_PENDING || !strings.HasPrefix(c.GetChallenge(), "royalty-claim-") {
		t.Fatalf("claim = %v", c)
	}
	// The token in a post by someone else, or quoted by ana, proves nothing.
	e.ingest(admin, post("1", "bo", "My friend's token is "+c.GetChallenge()))
	quoted := post("2", "ana", "<blockquote>"+c.GetChallenge()+"</blockquote><p>quoting only</p>")
	quoted.TextFormat = "html"
	e.ingest(admin, quoted)
	if g, err := e.contributor.GetClaim(ana.ctx(), &v1.GetClaimRequest{ClaimId: c.GetId()}); err != nil || g.GetClaim().GetStatus() != v1.ClaimStatus_CLAIM_STATUS_PENDING {
		t.Fatalf("claim after unrelated posts = %v, %v", g, err)
	}
	// A version someone else edited proves nothing; one ana wrote herself does.
	edited := post("3", "ana", "Verifying my royalty account: "+c.GetChallenge())
	edited.LastEditorId = "bo"
	e.ingest(admin, edited)
	if g, err := e.contributor.GetClaim(ana.ctx(), &v1.GetClaimRequest{ClaimId: c.GetId()}); err != nil || g.GetClaim().GetStatus() != v1.ClaimStatus_CLAIM_STATUS_PENDING {
		t.Fatalf("claim after bo's edit of ana's post = %v, %v; want pending", g, err)
	}
	edited.LastEditorId = "ana"
	e.ingest(admin, edited)
	g, err := e.contributor.GetClaim(ana.ctx(), &v1.GetClaimRequest{ClaimId: c.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	got := g.GetClaim()
	if got.GetStatus() != v1.ClaimStatus_CLAIM_STATUS_VERIFIED || got.GetDecidedBy() != "post:forum:s/3" ||
		len(got.GetReleased()) != 1 || got.GetReleased()[0].GetAmount() != "0.1" || got.GetReleaseTransactionId() == "" {
		t.Fatalf("verified claim = %v", got)
	}

	bal, err := e.contributor.GetBalance(ana.ctx(), &v1.GetBalanceRequest{})
	if err != nil || len(bal.GetBalances()) != 1 || bal.GetBalances()[0].GetBalance().GetAmount() != "0.1" || bal.GetBalances()[0].GetAvailable().GetAmount() != "0.1" {
		t.Fatalf("balance = %v, %v", bal, err)
	}
	// Royalties booked after the claim go to ana directly.
	e.bookEscrow(acme, "r2", identity, "0.5")
	st, err := e.contributor.ListStatement(ana.ctx(), &v1.ListStatementRequest{})
	if err != nil || len(st.GetEntries()) != 2 || st.GetEntries()[0].GetKind() != "usage" || st.GetEntries()[0].GetAmount().GetAmount() != "0.025" ||
		st.GetEntries()[1].GetKind() != "escrow_release" {
		t.Fatalf("statement = %v, %v", st, err)
	}

	// The escrow's own statement shows what the release moved, with its evidence: to its owner
	// and to auditors, to nobody else.
	esc, err := e.contributor.ListStatement(ana.ctx(), &v1.ListStatementRequest{IdentityKey: identity})
	if err != nil || len(esc.GetEntries()) != 2 || esc.GetEntries()[0].GetKind() != "escrow_release" || esc.GetEntries()[0].GetAmount().GetAmount() != "-0.1" ||
		esc.GetEntries()[1].GetKind() != "usage" || esc.GetEntries()[1].GetAmount().GetAmount() != "0.1" ||
		len(esc.GetEntries()[1].GetEvidence()) != 1 || esc.GetEntries()[1].GetEvidence()[0].GetPostUrl() != "https://forum.example/r1" {
		t.Fatalf("escrow statement = %v, %v", esc, err)
	}
	if a, err := e.contributor.ListStatement(auditor.ctx(), &v1.ListStatementRequest{IdentityKey: identity}); err != nil || len(a.GetEntries()) != 2 {
		t.Fatalf("auditor's escrow statement = %v, %v", a, err)
	}
	_, err = e.contributor.ListStatement(ana.ctx(), &v1.ListStatementRequest{IdentityKey: identity, ContributorId: ana.ID})
	wantCode(t, err, codes.InvalidArgument)
	_, err = e.contributor.ListStatement(ana.ctx(), &v1.ListStatementRequest{IdentityKey: "not a key"})
	wantCode(t, err, codes.InvalidArgument)

	po, err := e.contributor.RequestPayout(ana.ctx(), &v1.RequestPayoutRequest{RequestId: "p1", Currency: "USD"})
	if err != nil || po.GetPayout().GetAmount().GetAmount() != "0.12" || po.GetPayout().GetRemaining().GetAmount() != "0.005" || po.GetReplayed() {
		t.Fatalf("payout = %v, %v", po, err)
	}
	again, err := e.contributor.RequestPayout(ana.ctx(), &v1.RequestPayoutRequest{RequestId: "p1", Currency: "USD"})
	if err != nil || !again.GetReplayed() || again.GetPayout().GetTransactionId() != po.GetPayout().GetTransactionId() {
		t.Fatalf("payout retry = %v, %v", again, err)
	}
	_, err = e.contributor.RequestPayout(ana.ctx(), &v1.RequestPayoutRequest{RequestId: "p2", Currency: "USD"})
	wantCode(t, err, codes.FailedPrecondition) // 0.005 left: nothing available
	_, err = e.contributor.RequestPayout(ana.ctx(), &v1.RequestPayoutRequest{RequestId: "p3", Currency: "USD", Amount: "0.001"})
	wantCode(t, err, codes.InvalidArgument)

	// Auditors read any contributor; they must name one.
	if b, err := e.contributor.GetBalance(auditor.ctx(), &v1.GetBalanceRequest{ContributorId: ana.ID}); err != nil || b.GetBalances()[0].GetBalance().GetAmount() != "0.005" {
		t.Fatalf("auditor's view = %v, %v", b, err)
	}
	_, err = e.contributor.GetBalance(auditor.ctx(), &v1.GetBalanceRequest{})
	wantCode(t, err, codes.InvalidArgument)
	_, err = e.contributor.GetBalance(auditor.ctx(), &v1.GetBalanceRequest{ContributorId: acme.ID})
	wantCode(t, err, codes.NotFound)

	// A second contributor cannot take the identity.
	bo := e.principal("bo", auth.RoleContributor)
	_, err = e.contributor.StartClaim(bo.ctx(), &v1.StartClaimRequest{IdentityKey: identity})
	wantCode(t, err, codes.FailedPrecondition)
	// Nor read its escrow: another's identity and an unclaimed one give the same answer.
	_, err = e.contributor.ListStatement(bo.ctx(), &v1.ListStatementRequest{IdentityKey: identity})
	wantCode(t, err, codes.NotFound)
	msg := status.Convert(err).Message()
	_, err = e.contributor.ListStatement(bo.ctx(), &v1.ListStatementRequest{IdentityKey: "forum:s/nobody"})
	wantCode(t, err, codes.NotFound)
	if other := status.Convert(err).Message(); strings.ReplaceAll(other, "forum:s/nobody", identity) != msg {
		t.Fatalf("another's identity says %q, an unclaimed one %q", msg, other)
	}
	_ = admin
}

func TestAdminApprovesAndRejectsClaims(t *testing.T) {
	e := newEnv(t)
	admin := e.principal("ops", auth.RoleAdmin)
	acme := e.principal("acme", auth.RoleProvider)
	ana := e.principal("ana", auth.RoleContributor)
	bo := e.principal("bo", auth.RoleContributor)
	e.bookEscrow(acme, "r1", "hn:/ana", "1")
	ca, err := e.contributor.StartClaim(ana.ctx(), &v1.StartClaimRequest{IdentityKey: "hn:/ana"})
	if err != nil {
		t.Fatal(err)
	}
	cb, err := e.contributor.StartClaim(bo.ctx(), &v1.StartClaimRequest{IdentityKey: "hn:/ana"})
	if err != nil {
		t.Fatal(err)
	}
	pending, err := e.contributor.ListClaims(admin.ctx(), &v1.ListClaimsRequest{Status: v1.ClaimStatus_CLAIM_STATUS_PENDING})
	if err != nil || len(pending.GetClaims()) != 2 {
		t.Fatalf("pending claims = %v, %v", pending, err)
	}
	ap, err := e.admin.ApproveClaim(admin.ctx(), &v1.ApproveClaimRequest{ClaimId: ca.GetClaim().GetId(), Note: "known in person"})
	if err != nil {
		t.Fatal(err)
	}
	if c := ap.GetClaim(); c.GetStatus() != v1.ClaimStatus_CLAIM_STATUS_VERIFIED || c.GetDecidedBy() != "admin:"+admin.ID || c.GetReleased()[0].GetAmount() != "0.05" {
		t.Fatalf("approved = %v", c)
	}
	// The rival claim was superseded; approving it now fails.
	_, err = e.admin.ApproveClaim(admin.ctx(), &v1.ApproveClaimRequest{ClaimId: cb.GetClaim().GetId()})
	wantCode(t, err, codes.FailedPrecondition)
	// Approving the verified claim again is harmless.
	if again, err := e.admin.ApproveClaim(admin.ctx(), &v1.ApproveClaimRequest{ClaimId: ca.GetClaim().GetId()}); err != nil || again.GetClaim().GetReleaseTransactionId() != ap.GetClaim().GetReleaseTransactionId() {
		t.Fatalf("second approval = %v, %v", again, err)
	}
	cc, err := e.contributor.StartClaim(bo.ctx(), &v1.StartClaimRequest{IdentityKey: "hn:/bo"})
	if err != nil {
		t.Fatal(err)
	}
	rj, err := e.admin.RejectClaim(admin.ctx(), &v1.RejectClaimRequest{ClaimId: cc.GetClaim().GetId(), Note: "no proof"})
	if err != nil || rj.GetClaim().GetStatus() != v1.ClaimStatus_CLAIM_STATUS_REJECTED || rj.GetClaim().GetNote() != "no proof" {
		t.Fatalf("reject = %v, %v", rj, err)
	}
	_, err = e.admin.RejectClaim(admin.ctx(), &v1.RejectClaimRequest{ClaimId: cc.GetClaim().GetId()})
	wantCode(t, err, codes.FailedPrecondition)
	_, err = e.admin.ApproveClaim(admin.ctx(), &v1.ApproveClaimRequest{ClaimId: "nope"})
	wantCode(t, err, codes.NotFound)
	_, err = e.admin.RejectClaim(admin.ctx(), &v1.RejectClaimRequest{ClaimId: cc.GetClaim().GetId(), Note: strings.Repeat("x", 501)})
	wantCode(t, err, codes.InvalidArgument)
	_, err = e.contributor.StartClaim(ana.ctx(), &v1.StartClaimRequest{IdentityKey: "no-colon"})
	wantCode(t, err, codes.InvalidArgument)
}
