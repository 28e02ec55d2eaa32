package services_test

import (
	"context"
	"math/big"
	"testing"
	"time"

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

// TestLinkCode: a provider makes a one-time link code for its rater; the contributor enters it
// and the identity is theirs with the escrow released, once. The code does not work for
// another provider's namespace, nor for a second contributor, and the rater's escrow moves
// once however often it is entered.
func TestLinkCode(t *testing.T) {
	e := newEnv(t)
	p1, p2 := e.principal("p1", auth.RoleProvider), e.principal("p2", auth.RoleProvider)
	c, other := e.principal("c", auth.RoleContributor), e.principal("other", auth.RoleContributor)
	rater := ledger.RaterIdentityKey(p1.ID, "u-88")
	if _, err := e.ledger.PostUsage(context.Background(), ledger.UsageRequest{ProviderID: p1.ID, RequestID: "fund", ModelID: "m",
		Revenue: decimal.RequireFromString("5"), Currency: "EUR", Shares: []ledger.Share{{IdentityKey: rater, Share: big.NewRat(1, 1)}}}); err != nil {
		t.Fatal(err)
	}
	_, err := e.feedback.CreateLinkCode(p1.ctx(), &v1.CreateLinkCodeRequest{RaterId: "jane@example.com"})
	wantCode(t, err, codes.InvalidArgument)
	lc, err := e.feedback.CreateLinkCode(p1.ctx(), &v1.CreateLinkCodeRequest{RaterId: "u-88"})
	if err != nil {
		t.Fatal(err)
	}
	if lc.GetIdentityKey() != rater || len(lc.GetCode()) < len("royalty-link-")+32 || !lc.GetExpiresAt().AsTime().After(time.Now()) {
		t.Fatalf("link code = %v", lc)
	}
	// The same rater id in p2's namespace is another identity: p1's code does not link it.
	_, err = e.contributor.RedeemLinkCode(c.ctx(), &v1.RedeemLinkCodeRequest{IdentityKey: ledger.RaterIdentityKey(p2.ID, "u-88"), Code: lc.GetCode()})
	wantCode(t, err, codes.NotFound)
	_, err = e.contributor.RedeemLinkCode(c.ctx(), &v1.RedeemLinkCodeRequest{IdentityKey: rater, Code: "royalty-link-guess"})
	wantCode(t, err, codes.NotFound)
	_, err = e.contributor.RedeemLinkCode(c.ctx(), &v1.RedeemLinkCodeRequest{IdentityKey: "forum:s/ana", Code: lc.GetCode()})
	wantCode(t, err, codes.InvalidArgument)

	res, err := e.contributor.RedeemLinkCode(c.ctx(), &v1.RedeemLinkCodeRequest{IdentityKey: rater, Code: lc.GetCode()})
	if err != nil {
		t.Fatal(err)
	}
	cl := res.GetClaim()
	if cl.GetStatus() != v1.ClaimStatus_CLAIM_STATUS_VERIFIED || cl.GetProofKind() != v1.ProofKind_PROOF_KIND_LINK_CODE ||
		cl.GetIdentityKey() != rater || len(cl.GetReleased()) != 1 || cl.GetReleased()[0].GetAmount() != "0.5" || cl.GetReleaseTransactionId() == "" {
		t.Fatalf("linked claim = %v", cl)
	}
	// Used: another contributor is refused; the same one gets the same claim, nothing moves.
	_, err = e.contributor.RedeemLinkCode(other.ctx(), &v1.RedeemLinkCodeRequest{IdentityKey: rater, Code: lc.GetCode()})
	wantCode(t, err, codes.FailedPrecondition)
	again, err := e.contributor.RedeemLinkCode(c.ctx(), &v1.RedeemLinkCodeRequest{IdentityKey: rater, Code: lc.GetCode()})
	if err != nil || again.GetClaim().GetId() != cl.GetId() || again.GetClaim().GetReleaseTransactionId() != cl.GetReleaseTransactionId() {
		t.Fatalf("entering the code again = %v, %v", again, err)
	}
	// A fresh code for an identity with an owner links nobody else.
	lc2, err := e.feedback.CreateLinkCode(p1.ctx(), &v1.CreateLinkCodeRequest{RaterId: "u-88"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.contributor.RedeemLinkCode(other.ctx(), &v1.RedeemLinkCodeRequest{IdentityKey: rater, Code: lc2.GetCode()})
	wantCode(t, err, codes.FailedPrecondition)
	for who, want := range map[principal]string{c: "0.5", other: ""} {
		bal, err := e.contributor.GetBalance(who.ctx(), &v1.GetBalanceRequest{})
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, b := range bal.GetBalances() {
			got += b.GetBalance().GetAmount()
		}
		if got != want {
			t.Errorf("balance of %s = %q, want %q (the escrow is released once, to the code's first user)", who.ID, got, want)
		}
	}
}
