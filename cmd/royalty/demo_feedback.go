package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/openroyalty/royalty/ledger"
	ledgerpg "github.com/openroyalty/royalty/ledger/postgres"
	v1 "github.com/openroyalty/royalty/proto/gen/royalty/v1"
)

// feedbackStory shows a rater earning (issue 21, docs/design.md §9): the provider reports its
// users' feedback, declares that its next model was trained on it, books usage of that model,
// the pool is settled among the raters, and the demo contributor, who is one of them, claims
// the rater identity by the provider's attestation.
//
// A pool is settled only after its day, its epoch and the reversal window have passed, so the
// feedback and the usage are booked with a ledger whose clock reads two days before this month
// began (the demo says so); everything else goes through the server's API.
func (d *demo) feedbackStory(ctx context.Context) error {
	now := time.Now().UTC()
	past := time.Date(now.Year(), now.Month(), 1, 12, 0, 0, 0, time.UTC).AddDate(0, 0, -2)
	epoch := ledger.EpochOf(past)
	back, err := ledgerpg.New(d.pool, nil, ledgerpg.Config{Now: func() time.Time { return past }, GroupCommit: ledgerpg.GroupCommit{Disabled: true}})
	if err != nil {
		return err
	}
	defer back.Close()
	fb := v1.NewFeedbackServiceClient(d.conn)
	actx, cancel := d.as(ctx, d.admin)
	defer cancel()
	pctx, cancel := d.as(ctx, d.provider)
	defer cancel()

	d.head("raters are paid too: the provider's users rate answers, and the feedback trains its next model")
	d.say("    (this part books with a clock set to %s, so that the pool is due now: a pool is settled only after its day, its epoch and --feedback-window)", past.Format("2006-01-02"))
	if _, err := fb.SetFeedbackRate(actx, &v1.SetFeedbackRateRequest{ProviderId: d.providerID, FeedbackRate: "0.05"}); err != nil {
		return fmt.Errorf("SetFeedbackRate: %w", err)
	}
	d.say("    admin sets acme-ai's feedback rate: 0.05 of revenue, for model versions trained on feedback")
	events := []struct {
		rater string
		n     int
		kind  string
	}{{"u-1001", 3, ledger.FeedbackPreference}, {"u-1002", 1, ledger.FeedbackThumbsUp}, {"u-666", 40, ledger.FeedbackThumbsDown}}
	for _, e := range events {
		for i := range e.n {
			if _, err := back.ReportFeedback(ctx, ledger.FeedbackRequest{ProviderID: d.providerID, RequestID: fmt.Sprintf("fb-%s-%d", e.rater, i),
				RaterID: e.rater, Kind: e.kind, ModelVersion: "acme-chat"}); err != nil {
				return fmt.Errorf("ReportFeedback: %w", err)
			}
		}
		d.say("    ReportFeedback: rater %s, %d × %s, epoch %s (identity %s)", e.rater, e.n, e.kind, epoch, ledger.RaterIdentityKey(d.providerID, e.rater))
	}
	_, err = fb.ReportFeedback(pctx, &v1.ReportFeedbackRequest{RequestId: "fb-bad", RaterId: "jane@example.com", Kind: v1.FeedbackKind_FEEDBACK_KIND_THUMBS_UP, ModelVersion: "acme-chat"})
	d.say("    a rater named by e-mail is refused: %v", err)
	dt, err := fb.DeclareTraining(pctx, &v1.DeclareTrainingRequest{ModelVersion: "acme-chat-v2",
		Epochs: []*v1.EpochWeight{{Epoch: epoch, Weight: "1"}}, RejectedRaterIds: []string{"u-666"}})
	if err != nil {
		return fmt.Errorf("DeclareTraining: %w", err)
	}
	d.say("    DeclareTraining: acme-chat-v2 was trained on the feedback of epoch %s; u-666's is rejected as spam (%d rejection)", epoch, len(dt.GetLineage().GetRejections()))

	u, err := back.PostUsage(ctx, ledger.UsageRequest{ProviderID: d.providerID, RequestID: "acme-v2-0001", ModelID: "acme-chat-v2",
		Revenue: decimal.RequireFromString("10"), Currency: "USD"})
	if err != nil {
		return fmt.Errorf("usage of acme-chat-v2: %w", err)
	}
	for _, p := range u.Usage.Feedback {
		d.say("    a 10 USD response of acme-chat-v2 also books %s USD into %s, in the same transaction %s", p.Amount, p.Account, u.Usage.TransactionID)
	}

	st, err := fb.SettleFeedback(actx, &v1.SettleFeedbackRequest{ProviderId: d.providerID})
	if err != nil {
		return fmt.Errorf("SettleFeedback: %w", err)
	}
	for _, s := range st.GetSettlements() {
		d.say("    SettleFeedback: pool %s (%s) split by counted events, %d in all (cap %d per rater), transaction %s", s.GetPool(), moneys(s.GetSettled()), s.GetCountedTotal(), s.GetCap(), s.GetTransactionId())
		for _, r := range s.GetRaters() {
			note := ""
			if r.GetRejected() {
				note = " (rejected as spam)"
			}
			d.say("      %-7s %2d events, %d counted%s: %s", r.GetRaterId(), r.GetEvents(), r.GetCounted(), note, moneys(r.GetAmounts()))
		}
	}
	again, err := fb.SettleFeedback(actx, &v1.SettleFeedbackRequest{ProviderId: d.providerID})
	if err != nil {
		return err
	}
	d.say("    settling again settles %d pools: each pool is settled once", len(again.GetSettlements()))

	contrib := v1.NewContributorServiceClient(d.conn)
	cctx, cancel := d.as(ctx, d.contributor)
	defer cancel()
	rater := ledger.RaterIdentityKey(d.providerID, "u-1001")
	sc, err := contrib.StartClaim(cctx, &v1.StartClaimRequest{IdentityKey: rater})
	if err != nil {
		return fmt.Errorf("StartClaim %s: %w", rater, err)
	}
	d.say("    the demo contributor is u-1001 at acme-ai: it claims %s and hands the challenge %s to acme-ai, signed in there", rater, sc.GetClaim().GetChallenge())
	at, err := fb.AttestIdentity(pctx, &v1.AttestIdentityRequest{RaterId: "u-1001", Challenge: sc.GetClaim().GetChallenge()})
	if err != nil {
		return fmt.Errorf("AttestIdentity: %w", err)
	}
	cl := at.GetClaim()
	d.say("    AttestIdentity by acme-ai: claim %s (proof: %s); the rater's escrow moved to the contributor: %s in transaction %s", claimStatus(cl),
		strings.ToLower(strings.TrimPrefix(cl.GetProofKind().String(), "PROOF_KIND_")), moneys(cl.GetReleased()), cl.GetReleaseTransactionId())
	lc, err := fb.CreateLinkCode(pctx, &v1.CreateLinkCodeRequest{RaterId: "u-1002"})
	if err != nil {
		return fmt.Errorf("CreateLinkCode: %w", err)
	}
	d.say("    the other way: acme-ai gives its user u-1002 a one-time link code (CreateLinkCode, valid until %s)", lc.GetExpiresAt().AsTime().UTC().Format(time.RFC3339))
	rc, err := contrib.RedeemLinkCode(cctx, &v1.RedeemLinkCodeRequest{IdentityKey: lc.GetIdentityKey(), Code: lc.GetCode()})
	if err != nil {
		return fmt.Errorf("RedeemLinkCode: %w", err)
	}
	d.say("    RedeemLinkCode by the demo contributor: claim on %s %s (proof: link_code), %s released", lc.GetIdentityKey(), claimStatus(rc.GetClaim()), moneys(rc.GetClaim().GetReleased()))
	// The usage booked with the earlier clock is older than what the sealer has sealed; its
	// periodic full sweep would find it later, the audit below wants it now.
	if d.srv.sealer != nil {
		if _, err := d.srv.sealer.SealPending(ctx); err != nil {
			return fmt.Errorf("sealing: %w", err)
		}
	}
	return nil
}
