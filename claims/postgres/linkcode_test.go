package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/openroyalty/royalty"
	"github.com/openroyalty/royalty/claims"
	"github.com/openroyalty/royalty/ledger"
)

// TestLinkCodeExpiresAndWorksOnce: a link code works until it expires and then never; a used
// one works for nobody else; the escrow is released once; a code is only for the identity
// (and so the provider namespace) it was made for.
func TestLinkCodeExpiresAndWorksOnce(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	f.svc.WithLinkCodes(time.Hour, func() time.Time { return now })
	const provider, otherProvider = "7c0a3f6e-3b8e-4c7e-9a55-0f0e6c8f1a01", "7c0a3f6e-3b8e-4c7e-9a55-0f0e6c8f1a02"
	rater := ledger.RaterIdentityKey(provider, "u-1")

	expiring, key, expires, err := f.svc.NewLinkCode(ctx, provider, "u-1")
	if err != nil || key != rater || !expires.Equal(now.Add(time.Hour)) {
		t.Fatalf("NewLinkCode = %q %q %v, %v", expiring, key, expires, err)
	}
	now = now.Add(time.Hour) // expires_at is exclusive
	_, err = f.svc.RedeemLinkCode(ctx, f.alice, rater, expiring)
	if royalty.ErrorCode(err) != royalty.EPRECONDITION || !strings.Contains(royalty.ErrorMessage(err), "expired") {
		t.Fatalf("expired code: %v, want EPRECONDITION on code", err)
	}

	code, _, _, err := f.svc.NewLinkCode(ctx, provider, "u-1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.RedeemLinkCode(ctx, f.alice, ledger.RaterIdentityKey(otherProvider, "u-1"), code)
	if royalty.ErrorCode(err) != royalty.ENOTFOUND {
		t.Fatalf("code for another namespace: %v, want ENOTFOUND", err)
	}
	c, err := f.svc.RedeemLinkCode(ctx, f.alice, rater, "  "+code+" ")
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != claims.StatusVerified || c.ProofKind != claims.ProofLinkCode || c.ContributorID != f.alice || c.Released == nil {
		t.Fatalf("redeemed claim = %+v", c)
	}
	_, err = f.svc.RedeemLinkCode(ctx, f.bob, rater, code)
	if royalty.ErrorCode(err) != royalty.EPRECONDITION {
		t.Fatalf("used code by another contributor: %v, want EPRECONDITION", err)
	}
	again, err := f.svc.RedeemLinkCode(ctx, f.alice, rater, code)
	if err != nil || again.ID != c.ID {
		t.Fatalf("same contributor again = %+v, %v", again, err)
	}
	if n := f.rel.calls[rater+"→"+f.alice]; n != 1 {
		t.Fatalf("escrow released %d times, want once", n)
	}
	if len(f.rel.calls) != 1 {
		t.Fatalf("releases: %v", f.rel.calls)
	}
}
