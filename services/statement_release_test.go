package services_test

import (
	"context"
	"math/big"
	"slices"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/auth"
	"github.com/openroyalty/royalty/ledger"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// TestStatementExplainsEscrowRelease: credits booked to an unclaimed identity in two currencies
// (one reversed before the claim) are released when an admin approves the claim; the
// contributor's ListStatement shows each escrow_release entry with the escrow entries it moved,
// with their evidence, summing to the release, and so does an auditor's read of it. A credit
// booked after the claim is an entry of its own, released by nothing.
func TestStatementExplainsEscrowRelease(t *testing.T) {
	e := newEnv(t)
	admin := e.principal("ops", auth.RoleAdmin)
	auditor := e.principal("audit", auth.RoleAuditor)
	acme := e.principal("acme", auth.RoleProvider)
	ana := e.principal("ana", auth.RoleContributor)
	const identity = "forum:s/ana"
	book := func(requestID, revenue, currency string) ledger.Usage {
		t.Helper()
		res, err := e.ledger.PostUsage(context.Background(), ledger.UsageRequest{
			ProviderID: acme.ID, RequestID: requestID, ModelID: "m", Revenue: decimal.RequireFromString(revenue), Currency: currency,
			Shares: []ledger.Share{{IdentityKey: identity, Share: big.NewRat(1, 2)}},
			Evidence: []ledger.Evidence{{IdentityKey: identity, PostID: "forum:s/" + requestID, PostURL: "https://forum.example/" + requestID,
				ResponseStart: 0, ResponseEnd: 23, ResponseWordEnd: 4, SourceEnd: 23, Text: "wipe the chain with rag"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return res.Usage
	}
	u1 := book("r1", "2", "USD")
	book("r2", "4", "EUR")
	book("r3", "6", "USD")
	if _, err := e.ledger.ReverseUsage(context.Background(), ledger.ReversalRequest{ProviderID: acme.ID, TransactionID: u1.TransactionID, Reason: "refund"}); err != nil {
		t.Fatal(err)
	}
	claim, err := e.contributor.StartClaim(ana.ctx(), &v1.StartClaimRequest{IdentityKey: identity})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.ApproveClaim(admin.ctx(), &v1.ApproveClaimRequest{ClaimId: claim.GetClaim().GetId()}); err != nil {
		t.Fatal(err)
	}
	book("r4", "8", "USD") // to ana directly

	for _, reader := range []principal{ana, auditor} {
		req := &v1.ListStatementRequest{}
		if reader.Role == auth.RoleAuditor {
			req.ContributorId = ana.ID
		}
		st, err := e.contributor.ListStatement(reader.ctx(), req)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]string{"USD": {"reversal", "usage", "usage"}, "EUR": {"usage"}}
		releases := 0
		for _, en := range st.GetEntries() {
			if en.GetKind() != "escrow_release" {
				if len(en.GetReleased()) != 0 {
					t.Errorf("%s entry with released entries: %v", en.GetKind(), en)
				}
				continue
			}
			releases++
			cur := en.GetAmount().GetCurrency()
			var kinds []string
			sum := decimal.Zero
			for _, r := range en.GetReleased() {
				kinds = append(kinds, r.GetKind())
				sum = sum.Add(decimal.RequireFromString(r.GetAmount().GetAmount()))
				if r.GetAmount().GetCurrency() != cur || r.GetIdentityKey() != identity {
					t.Errorf("%s release lists %v", cur, r)
				}
				if r.GetKind() == "usage" && (len(r.GetEvidence()) != 1 || r.GetEvidence()[0].GetText() != "wipe the chain with rag" || r.GetModelId() != "m") {
					t.Errorf("released credit without its evidence: %v", r)
				}
				if r.GetKind() == "reversal" && (r.GetReverses() != u1.TransactionID || r.GetReason() != "refund") {
					t.Errorf("released reversal %v", r)
				}
			}
			if got, w := kinds, want[cur]; !slices.Equal(got, w) {
				t.Errorf("%s release lists %v, want %v", cur, got, w)
			}
			if !sum.Equal(decimal.RequireFromString(en.GetAmount().GetAmount())) {
				t.Errorf("%s release of %s explained by %s", cur, en.GetAmount().GetAmount(), sum)
			}
		}
		if releases != 2 {
			t.Fatalf("%s reads %d release entries, want 2: %v", reader.Name, releases, st)
		}
	}
	// The escrow's own statement already lists the credits: its release is not expanded.
	esc, err := e.contributor.ListStatement(ana.ctx(), &v1.ListStatementRequest{IdentityKey: identity})
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range esc.GetEntries() {
		if len(en.GetReleased()) != 0 {
			t.Errorf("escrow statement entry with released entries: %v", en)
		}
	}
}
