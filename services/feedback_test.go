package services_test

import (
	"context"
	"math/big"
	"testing"

	"github.com/shopspring/decimal"
	"google.golang.org/grpc/codes"

	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/ledger"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// TestAttestIdentity: a contributor claims a provider's rater identity; only that provider,
// with the claim's challenge, verifies it, and the rater's escrow moves to the contributor.
func TestAttestIdentity(t *testing.T) {
	e := newEnv(t)
	p1, p2 := e.principal("p1", auth.RoleProvider), e.principal("p2", auth.RoleProvider)
	c := e.principal("c", auth.RoleContributor)
	rater := ledger.RaterIdentityKey(p1.ID, "u-77")
	// Money waiting in the rater's escrow.
	if _, err := e.ledger.PostUsage(context.Background(), ledger.UsageRequest{ProviderID: p1.ID, RequestID: "fund", ModelID: "m",
		Revenue: decimal.RequireFromString("4"), Currency: "EUR", Shares: []ledger.Share{{IdentityKey: rater, Share: big.NewRat(1, 1)}}}); err != nil {
		t.Fatal(err)
	}
	sc, err := e.contributor.StartClaim(c.ctx(), &v1.StartClaimRequest{IdentityKey: rater})
	if err != nil {
		t.Fatal(err)
	}
	challenge := sc.GetClaim().GetChallenge()
	_, err = e.feedback.AttestIdentity(p2.ctx(), &v1.AttestIdentityRequest{RaterId: "u-77", Challenge: challenge})
	wantCode(t, err, codes.NotFound) // p2's namespace: provider:<p2>/u-77 has no claim
	_, err = e.feedback.AttestIdentity(p1.ctx(), &v1.AttestIdentityRequest{RaterId: "u-77", Challenge: "royalty-wrong"})
	wantCode(t, err, codes.NotFound)
	_, err = e.feedback.AttestIdentity(p1.ctx(), &v1.AttestIdentityRequest{RaterId: "a/b", Challenge: challenge})
	wantCode(t, err, codes.InvalidArgument)
	res, err := e.feedback.AttestIdentity(p1.ctx(), &v1.AttestIdentityRequest{RaterId: "u-77", Challenge: challenge})
	if err != nil {
		t.Fatal(err)
	}
	cl := res.GetClaim()
	if cl.GetStatus() != v1.ClaimStatus_CLAIM_STATUS_VERIFIED || cl.GetProofKind() != v1.ProofKind_PROOF_KIND_PROVIDER_ATTESTATION ||
		cl.GetDecidedBy() != "provider:"+p1.ID || len(cl.GetReleased()) != 1 || cl.GetReleased()[0].GetAmount() != "0.4" {
		t.Fatalf("attested claim = %v", cl)
	}
	bal, err := e.contributor.GetBalance(c.ctx(), &v1.GetBalanceRequest{})
	if err != nil || len(bal.GetBalances()) != 1 || bal.GetBalances()[0].GetBalance().GetAmount() != "0.4" {
		t.Fatalf("balance after attestation = %v, %v", bal, err)
	}
	// Attesting again returns the verified claim and moves nothing.
	again, err := e.feedback.AttestIdentity(p1.ctx(), &v1.AttestIdentityRequest{RaterId: "u-77", Challenge: challenge})
	if err != nil || again.GetClaim().GetReleaseTransactionId() != cl.GetReleaseTransactionId() {
		t.Fatalf("attesting again = %v, %v", again, err)
	}
}
